"""What every Kustomer stream shares: a CDK ``Stream`` with ``CheckpointMixin``, its own client on the sync's guarded
session, JSON:API flattening, progress, and one error policy.

The design: a stream is a CDK ``Stream`` + ``CheckpointMixin``, run by the CDK's concurrent ``DefaultStream``
through the CDK's own ``StreamPartitionGenerator`` (``concurrency.py``).

* Not an ``HttpStream``: its loop asks ``path``/``request_params``/``next_page_token`` for one request after
  another and builds its own ``HttpClient``. Kustomer's reads decide each request from what the last one proved
  (a keyset split, a time range, an audit week, a list's next link checked by its loop guard), and every request
  must go through the sync's one guarded session and two-budget rate policy, which HttpStream's client can only
  be given through its private members. So each stream implements the CDK's ``read_records`` itself -- the parts
  it reads this sync, in order (``parts``/``read_part``) -- and sends requests with ``self.client`` (the CDK's
  public ``HttpClient`` on the guarded session, see ``kustomer_http.connection``).
* Not a ``DefaultStream`` with partitions of our own: discover, check and the CDK's standard tests speak the
  ``Stream`` interface, and the CDK's ``StreamPartition`` already turns a Stream's records and STATE messages into
  queue items in order; our own partition classes would copy it.

A stream checkpoints itself: it yields ``checkpoint()`` right after the records it covers, and the concurrent
framework puts that STATE on the queue the records travel on, so a state never overtakes a record it covers.
"""

import logging
import time
from abc import ABC
from typing import Any, Iterable, List, Mapping, MutableMapping, Optional

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
from airbyte_cdk.sources.streams import CheckpointMixin, Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import AccessRefused, KustomerConnection, SyncStopped
from kustomer_http.errors import with_clear_errors
from kustomer_http.rate_policy import RateStats
from kustomer_http.responses import response_json

from source_kustomer import page_share
from source_kustomer.discovery import CustomFieldTypes
from source_kustomer.progress import StreamProgress
from source_kustomer.schemas import stream_schema

MALFORMED_SHOWN = 10  # malformed records named one by one in the log; the rest are counted


class BoundReached(AirbyteTracedException):
    """A stream spent the requests it may spend in one sync: it stopped after saving its position, and the next
    sync continues from there. It stops this stream only (the others are not affected by its bound)."""


MEMBERS = ("id", "type", "relationships", "links")  # the resource's own members, which a record keeps by name


def flatten(resource: Any) -> MutableMapping[str, Any]:
    """A JSON:API resource as one flat record: id, type, every attribute, relationships, links. An attribute named
    like one of those members (a snooze option's or an event's ``type``) is kept as ``<name>Attribute``.

    Anything that is not an object becomes an empty record, which the caller reports as malformed.
    """
    if resource.__class__ is not dict:
        return {}
    attributes = resource.get("attributes")
    # The page was parsed for this record alone: its attributes object becomes the record (no copy).
    record: MutableMapping[str, Any] = attributes if attributes.__class__ is dict else {}
    for member in MEMBERS:
        if member in record:
            record[f"{member}Attribute"] = record.pop(member)
    record["id"] = resource.get("id")
    record["type"] = resource.get("type")
    record["relationships"] = resource.get("relationships") or {}
    record["links"] = resource.get("links") or {}
    return record


class KustomerStream(Stream, CheckpointMixin, ABC):
    """Base of every stream: one Kustomer resource read through the sync's shared session and budget.

    ``parts()`` says what the stream reads this sync (search phases, audit-log weeks, metadata resources) and
    ``read_part`` reads one; they depend on one another and are read in order by ``read_records``.
    """

    primary_key = "id"
    max_page_size = 100
    delivers_deletions = False  # whether records may be delete markers (then the schema has _ab_cdc_deleted_at)
    schema_name = ""  # file under schemas/ (without .json); defaults to the stream name
    description = ""  # said in the catalog (e.g. a custom object klass's status)
    metadata_resource: Optional[str] = None  # the resource whose custom attribute definitions type its 'custom'

    def __init__(self, connection: KustomerConnection, custom_types: Optional[CustomFieldTypes] = None) -> None:
        self.connection = connection
        self.config = connection.config
        self.rate_stats = RateStats()
        self.client = connection.client(self.name, self.rate_stats)
        self.sync_mode = SyncMode.full_refresh  # as configured in the catalog (the source sets it)
        self.custom_types = custom_types
        self._schema: Optional[Mapping[str, Any]] = None
        self.progress = StreamProgress(self.name, self.rate_stats)

    @property
    def effective_page_size(self) -> int:
        """The configured page size, never above what this endpoint accepts."""
        return min(self.config.page_size or self.max_page_size, self.max_page_size)

    def page_records(self, response: requests.Response) -> List[MutableMapping[str, Any]]:
        """The flattened records of a page; the page is counted for progress."""
        self.progress.page(time.monotonic())
        data = response_json(response).get("data")
        records = [flatten(resource) for resource in (data if isinstance(data, list) else [])]
        page_share.note_page(len(response.content), len(records))
        return records

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
        """The whole stream, part after part, from the state and in the sync mode the source set (the concurrent
        framework's arguments are not the configured ones). An access refusal skips the rest of the stream; its
        bound of requests reached stops it alone; any other failure stops the other streams of the sync too (they
        would fail alike), each resuming from its saved state."""
        self.progress.start()
        page_share.clear()  # this thread may have read another stream's page last
        try:
            for part in self.parts():
                yield from with_clear_errors(self.name, self.read_part(part))
        except AccessRefused as refusal:
            self.skip(refusal)
            return
        except (SyncStopped, BoundReached):
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
            custom = None
            if self.custom_types is not None and self.metadata_resource:
                custom = self.custom_types.of(self.metadata_resource)
            self._schema = stream_schema(self.schema_name or self.name, custom, self.delivers_deletions)
            if self.description:
                self._schema = {**self._schema, "description": self.description}
        return self._schema

    def log_summary(self, logger: Optional[logging.Logger] = None) -> None:
        """One line saying what this stream did."""
        (logger or self.logger).info(self.progress.summary_line())


class StatelessStream(KustomerStream, ABC):
    """A stream read in full every sync: it keeps no position (its saved state holds at most the CDK's own markers,
    checked in state.py)."""

    @property
    def state(self) -> MutableMapping[str, Any]:
        """None kept."""
        return {}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        """Nothing to resume from."""
