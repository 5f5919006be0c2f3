"""SourceKustomer: check, discover and read over Kustomer's lists and search."""

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Mapping, Optional, Tuple

from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    Level,
    Status,
    TraceType,
    Type,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.message import MessageRepository
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.streams.concurrent.abstract_stream_facade import AbstractStreamFacade
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import redaction, timestamps
from kustomer_http.connection import KustomerClient, KustomerConnection, is_stop, open_connection
from kustomer_http.errors import check_failure, config_error
from kustomer_http.responses import AUTH_MESSAGE, error_detail
from kustomer_http.timestamps import kustomer_time

from source_kustomer.concurrency import ConcurrentRead
from source_kustomer.config import parse_config
from source_kustomer.deletions import ABSENCE_RECHECK_SECONDS, AUDIT_OBJECT_TYPES, DeletionsLog
from source_kustomer.discovery import CustomFieldTypes, Klass, list_klasses
from source_kustomer.state import validate_state
from source_kustomer.streams import (
    LIST_STREAMS,
    METADATA_RESOURCES,
    SEARCH_STREAMS,
    KustomerListStream,
    KustomerSearchStream,
    KustomerStream,
    kobject_spec,
    kobject_stream_names,
)
from source_kustomer.streams.audit_logs import AuditLogsStream
from source_kustomer.streams.metadata import CustomAttributeMetadataStream
from source_kustomer.streams.routing import WorkItemsStream, WorkSessionsStream
from source_kustomer.version import USER_AGENT

SEARCH_ROLES = "org.user.search.read, org.admin.search.read or org.permission.search.create"
CHECK_RETRIES = 2


def connect(raw: Mapping[str, Any], logger: Optional[logging.Logger] = None) -> KustomerConnection:
    """Validate a raw config (a config_error names the bad field), mask its key everywhere, open the session."""
    return open_connection(raw, parse_config, USER_AGENT, logger)


def require_valid_key(client: KustomerClient) -> None:
    """``GET /v1/auth/tokens/current`` (any valid key may call it); it also tells the budget the org's limit."""
    if client.get(client.api_url("auth/tokens/current")).status_code == 401:
        raise config_error(AUTH_MESSAGE)


class SourceKustomer(AbstractSource):
    """The Kustomer source: streams read concurrently (``max_concurrent_streams``), sharing one rate policy.

    Each read builds the concurrent framework's source, sized by the config; a stream that fails stops the
    others (see ``KustomerStream.read_records``), each resuming from its saved state.
    """

    def __init__(self) -> None:
        super().__init__()
        self._streams: List[KustomerStream] = []
        self._selection: Optional[Selection] = None
        self._concurrent: Optional[ConcurrentRead] = None

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """The connection status, with the failure message as written (the CDK default quotes it)."""
        succeeded, message = self.check_connection(logger, config)
        if succeeded:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        return AirbyteConnectionStatus(status=Status.FAILED, message=redaction.redact(str(message)))

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> Tuple[bool, Optional[Any]]:
        """Is the key valid (``auth/tokens/current``), and may it search (one ``pageSize=1`` search)?"""
        try:
            connection = connect(config, logger)
        except AirbyteTracedException as error:
            return False, error.message
        client = connection.client("check", max_retries=CHECK_RETRIES)
        try:
            token = client.get(client.api_url("auth/tokens/current"))
            if token.status_code == 401:
                return False, AUTH_MESSAGE
            if not token.ok:
                return False, f"Kustomer answered HTTP {token.status_code} at {connection.origin.url}; try again later."
            since = kustomer_time(connection.config.start_date)
            body = {
                "and": [{"customer_updated_at": {"gte": since}}],
                "sort": [{"customer_updated_at": "asc"}],
                "queryContext": "customer",
            }
            search = client.search(body, page=1, page_size=1)
        except AirbyteTracedException as error:
            return False, check_failure(error, connection.origin.url)
        finally:
            connection.close()
        if search.status_code in (401, 403):
            return False, (
                f"The API key is valid, but Kustomer refused it a search (HTTP {search.status_code}: "
                f"{error_detail(search)}). Searching needs one of the roles {SEARCH_ROLES}, plus the read role of "
                "each object to sync (e.g. org.permission.customer.read); see the connector docs."
            )
        if not search.ok:
            return False, f"Kustomer answered HTTP {search.status_code} to a search: {error_detail(search)}."
        return True, None

    def streams(self, config: Mapping[str, Any]) -> List[Stream]:
        """Every list and search stream, one kobjects_* stream per klass, work items and sessions, the audit log
        and the custom attribute definitions. In a read, the selected ones come ready to run concurrently."""
        connection = connect(config)
        client = connection.client("discover")
        require_valid_key(client)
        klasses = list_klasses(client)
        selected = {s.stream.name for s in self._selection.catalog.streams} if self._selection else None
        types = CustomFieldTypes(client)
        streams = self._build(connection, klasses, types)
        wanted = [stream for stream in streams if selected is None or stream.name in selected]
        types.prefetch(sorted({r for stream in wanted for r in [stream.metadata_resource] if r}))
        self._streams = streams
        if self._selection is None:
            return list(streams)
        return self._prepare(connection, streams, selected or set())

    @staticmethod
    def _build(connection: KustomerConnection, klasses: List[Klass], types: CustomFieldTypes) -> List[KustomerStream]:
        def custom_fields(resource: str) -> Callable[[], Optional[Mapping[str, Any]]]:
            return lambda: types.of(resource)

        streams: List[KustomerStream] = [KustomerListStream(spec, connection) for spec in LIST_STREAMS]
        for spec in SEARCH_STREAMS:
            resource = METADATA_RESOURCES.get(spec.name)
            streams.append(KustomerSearchStream(spec, connection, custom_fields(resource) if resource else None))
        names = kobject_stream_names([(klass.name, klass.id) for klass in klasses])
        for klass in klasses:
            spec = kobject_spec(names[klass.name], klass.name, klass.status)
            streams.append(KustomerSearchStream(spec, connection, custom_fields(f"kobject.{klass.name}")))
        streams += [WorkItemsStream(connection), WorkSessionsStream(connection), AuditLogsStream(connection)]
        streams.append(CustomAttributeMetadataStream(connection, [klass.name for klass in klasses]))
        for stream in streams:
            resource = METADATA_RESOURCES.get(stream.name)
            stream.metadata_resource = resource or (
                f"kobject.{stream.spec.query_context[len('kobject_') :]}"
                if isinstance(stream, KustomerSearchStream) and stream.spec.query_context.startswith("kobject_")
                else None
            )
        return streams

    def _prepare(self, connection: KustomerConnection, streams: List[KustomerStream], selected: set) -> List[Stream]:
        """The selected streams with their configured sync mode and saved state, the sync's deletions log, and
        each as a stream of the concurrent framework (the others as they are)."""
        assert self._selection is not None and self._concurrent is not None
        state_manager = ConnectorStateManager(state=self._selection.state)
        modes = {s.stream.name: s.sync_mode for s in self._selection.catalog.streams}
        chosen = sorted((stream for stream in streams if stream.name in selected), key=read_order)
        for stream in chosen:
            stream.sync_mode = modes[stream.name]
            stream.state = dict(state_manager.get_stream_state(stream.name, None) or {})
        deletions_log(connection, chosen, connection.logger)
        others = [stream for stream in streams if stream.name not in selected]
        return [self._concurrent.facade(stream, self, connection.logger) for stream in chosen] + others

    @property
    def message_repository(self) -> MessageRepository:
        """Where messages other than records go: in a read, onto the queue the records travel on."""
        return self._concurrent.message_repository if self._concurrent else super().message_repository  # type: ignore[return-value]

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Optional[List[AirbyteStateMessage]] = None,
    ) -> Iterator[AirbyteMessage]:
        """Validate the incoming state before any stream starts, read the selected streams concurrently, then log
        the per-stream summary."""
        parsed = parse_config(config)
        redaction.register(parsed.api_token)
        selected = {s.stream.name for s in catalog.streams}
        validate_state(selected, state or [], parsed.origin, logger)
        self._concurrent = ConcurrentRead(parsed.max_concurrent_streams, logger)
        self._selection = Selection(catalog, state or [])
        try:
            facades = [s for s in self.streams(config) if isinstance(s, AbstractStreamFacade)]
            for message in self._concurrent.source.read([facade.get_underlying_stream() for facade in facades]):
                yield consequence_as_warning(message)
            found = {facade.name for facade in facades}
            missing = [s for s in catalog.streams if s.stream.name not in found]
            if missing:  # the CDK says which and what to do
                yield from super().read(logger, config, ConfiguredAirbyteCatalog(streams=missing), state)
        finally:
            self._selection = None
            self._log_summary(logger, selected)
        chosen = [s for s in self._streams if s.name in selected]
        if chosen and all(s.progress.forbidden for s in chosen):
            reasons = "; ".join(f"{s.name}: {s.progress.forbidden}" for s in chosen)
            raise config_error(
                f"Kustomer refused every selected stream — {reasons}. "
                "Give the API key the read roles named above, then sync again."
            )

    def _log_summary(self, logger: logging.Logger, selected: set) -> None:
        chosen = [s for s in self._streams if s.name in selected]
        for stream in chosen:
            stream.log_summary(logger)
        logger.info("SYNC_SUMMARY " + json.dumps([s.progress.as_dict() for s in chosen]))


def consequence_as_warning(message: AirbyteMessage) -> AirbyteMessage:
    """A stream stopped because another failed says so in a warning, not in a second error: the sync has one
    error, its cause (the stopped stream still ends INCOMPLETE and resumes from its state)."""
    trace = message.trace if message.type == Type.TRACE else None
    if trace is None or trace.type != TraceType.ERROR or not is_stop(trace.error.internal_message):  # type: ignore[union-attr]
        return message
    log = AirbyteLogMessage(level=Level.WARN, message=trace.error.message)  # type: ignore[union-attr]
    return AirbyteMessage(type=Type.LOG, log=log)


@dataclass(frozen=True)
class Selection:
    """What a read was asked for: the configured catalog and the saved state."""

    catalog: ConfiguredAirbyteCatalog
    state: List[AirbyteStateMessage]


# Streams that take longest start first, so the sync's length is the longest stream's, not the sum.
LONG_FIRST = ("work_items", "messages", "conversations", "customers", "conversation_times", "audit_logs")


def read_order(stream: KustomerStream) -> Tuple[int, str]:
    """Where a stream starts among the selected ones."""
    return (LONG_FIRST.index(stream.name) if stream.name in LONG_FIRST else len(LONG_FIRST)), stream.name


def deletions_log(connection: KustomerConnection, streams: List[KustomerStream], logger: logging.Logger) -> None:
    """One audit-log pass for every selected stream that syncs hard deletes, shared by them."""
    readers = [
        stream
        for stream in streams
        if isinstance(stream, KustomerSearchStream)
        and stream.config.sync_deletes
        and stream.spec.name in AUDIT_OBJECT_TYPES
    ]
    if not readers:
        return
    now = timestamps.utc_now()
    until = kustomer_time(now - max(connection.config.search_lag, connection.config.audit_publish_lag))
    since = {AUDIT_OBJECT_TYPES[stream.name]: stream.deletions_since for stream in readers}
    progress = readers[0].progress
    log = DeletionsLog(
        connection.client("deletions"),
        since,
        until,
        logger,
        progress.page,
        connection.config.audit_publish_lag,
        recheck_seconds=ABSENCE_RECHECK_SECONDS * connection.config.rate_limit_window_seconds / 60,
    )
    for stream in readers:
        stream.deletions_log = log
