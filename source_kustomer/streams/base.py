"""What every Kustomer stream shares: its client on the sync's guarded session, JSON:API flattening, progress,
and the shape every stream reads in -- one partition made of parts read in order, checkpointed by the stream."""

import logging
import time
from abc import ABC
from typing import Any, Callable, Iterable, List, Mapping, MutableMapping, Optional

import requests
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    StreamDescriptor,
    SyncMode,
    Type,
)
from airbyte_cdk.sources.streams.http import HttpStream
from kustomer_http.connection import AccessRefused, KustomerConnection, SyncStopped
from kustomer_http.errors import with_clear_errors
from kustomer_http.rate_policy import RateStats
from kustomer_http.responses import response_json

from source_kustomer.progress import StreamProgress
from source_kustomer.schemas import stream_schema

MALFORMED_SHOWN = 10  # malformed records named one by one in the log; the rest are counted


def flatten(resource: Any) -> MutableMapping[str, Any]:
    """A JSON:API resource as one flat record: id, type, every attribute, relationships, links.

    Anything that is not an object becomes an empty record, which the caller reports as malformed.
    """
    if resource.__class__ is not dict:
        return {}
    attributes = resource.get("attributes")
    # The page was parsed for this record alone: its attributes object becomes the record (no copy).
    record: MutableMapping[str, Any] = attributes if attributes.__class__ is dict else {}
    record["id"] = resource.get("id")
    record["type"] = resource.get("type")
    record["relationships"] = resource.get("relationships") or {}
    record["links"] = resource.get("links") or {}
    return record


class KustomerStream(HttpStream, ABC):
    """Base of every stream: one Kustomer resource read through the sync's shared session and budget.

    A stream is one partition for the concurrent framework: ``parts()`` says what it reads this sync (search
    phases, audit-log weeks, list variants, metadata resources) and ``read_part`` reads one, in order -- they
    depend on one another. Each stream yields its own ``checkpoint()`` right after the records it covers.
    Requests go through ``self.client`` (the CDK's ``HttpClient`` on the guarded session: ``HttpStream``'s own
    client cannot be given that session without reaching into the CDK's private members).
    """

    primary_key = "id"
    max_page_size = 100
    delivers_deletions = False  # whether records may be delete markers (then the schema has _ab_cdc_deleted_at)
    schema_name = ""  # file under schemas/ (without .json); defaults to the stream name
    description = ""  # said in the catalog (e.g. a custom object klass's status)
    metadata_resource: Optional[str] = None  # the resource whose custom attribute definitions type its 'custom'

    def __init__(
        self,
        connection: KustomerConnection,
        custom_fields: Optional[Callable[[], Optional[Mapping[str, Any]]]] = None,
    ) -> None:
        self.connection = connection
        self.config = connection.config
        self.rate_stats = RateStats()
        self.client = connection.client(self.name, self.rate_stats)
        self.sync_mode = SyncMode.full_refresh  # as configured in the catalog (the source sets it)
        self._custom_fields = custom_fields
        self._schema: Optional[Mapping[str, Any]] = None
        self.progress = StreamProgress(self.name, self.rate_stats)
        super().__init__()

    @property
    def url_base(self) -> str:
        return f"{self.connection.origin.url}/v1/"

    @property
    def effective_page_size(self) -> int:
        """The configured page size, never above what this endpoint accepts."""
        return min(self.config.page_size or self.max_page_size, self.max_page_size)

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        """The flattened records of a page; a page is counted for progress."""
        self.progress.page(time.monotonic())
        data = response_json(response).get("data")
        return [flatten(resource) for resource in (data if isinstance(data, list) else [])]

    def stream_slices(self, **kwargs: Any) -> Iterable[Optional[Mapping[str, Any]]]:
        """One partition: the stream's parts depend on one another and are read in order (``read_records``)."""
        return [None]

    def parts(self) -> List[Mapping[str, Any]]:
        """What this sync reads, in order (each stream says); one empty part by default."""
        return [{}]

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """The records (and checkpoints) of one part."""
        raise NotImplementedError

    def read_records(
        self,
        sync_mode: SyncMode,
        cursor_field: Optional[List[str]] = None,
        stream_slice: Optional[Mapping[str, Any]] = None,
        stream_state: Optional[Mapping[str, Any]] = None,
    ) -> Iterable[Any]:
        """The whole stream, part after part. An access refusal skips the rest of the stream; any other failure
        stops the other streams of the sync too (they would fail alike), each resuming from its saved state."""
        self.progress.start()
        try:
            for part in self.parts():
                yield from with_clear_errors(self.name, self.read_part(part))
        except AccessRefused as refusal:
            self.skip(refusal)
            return
        except SyncStopped:
            raise
        except Exception as error:
            if self.connection.stop(f"stream '{self.name}' failed (see its error)"):
                raise  # the cause: reported as the sync's error
            raise self.connection.consequence(self.name, error) from error
        self.progress.finish()

    def checkpoint(self) -> AirbyteMessage:
        """A STATE message of this stream's state as it is now; yielded after the records it covers, so it reaches
        the destination after them, whatever else runs meanwhile."""
        stream_state = AirbyteStreamState(
            stream_descriptor=StreamDescriptor(name=self.name), stream_state=AirbyteStateBlob(dict(self.state))
        )
        return AirbyteMessage(
            type=Type.STATE, state=AirbyteStateMessage(type=AirbyteStateType.STREAM, stream=stream_state)
        )

    def report_malformed(self, record: Any, reason: str) -> None:
        """A record that cannot be emitted (no id, no usable cursor): skipped, named in the log, counted."""
        self.progress.malformed += 1
        if self.progress.malformed <= MALFORMED_SHOWN:
            rid = record.get("id") if isinstance(record, Mapping) else None
            self.logger.warning(
                f"Skipping a malformed record of stream '{self.name}' (id {rid!r}): {reason}. It is not emitted and "
                "the saved state does not depend on it."
            )

    def skip(self, refusal: AccessRefused) -> None:
        """Stop this stream only: Kustomer refused the key access to it."""
        self.progress.forbidden = f"HTTP {refusal.status}: {refusal.reason}"
        self.logger.warning(
            f"Skipping stream '{self.name}': Kustomer refused access ({self.progress.forbidden}). "
            "Add the missing read role to the API key to sync it."
        )

    def get_json_schema(self) -> Mapping[str, Any]:
        """The core schema, with ``custom`` typed from Kustomer's definitions (fetched once, lazily)."""
        if self._schema is None:
            custom = self._custom_fields() if self._custom_fields else None
            self._schema = stream_schema(self.schema_name or self.name, custom, self.delivers_deletions)
            if self.description:
                self._schema = {**self._schema, "description": self.description}
        return self._schema

    def log_summary(self, logger: Optional[logging.Logger] = None) -> None:
        """One line saying what this stream did."""
        (logger or self.logger).info(self.progress.summary_line())

    def next_page_token(self, response: requests.Response) -> Optional[Mapping[str, Any]]:
        """Kustomer's link to the next page, if any (streams resolve it on the origin before following it)."""
        links = response_json(response).get("links")
        link = links.get("next") if isinstance(links, Mapping) else None
        return {"next": link} if link else None
