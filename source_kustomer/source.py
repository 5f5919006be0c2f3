"""SourceKustomer: check, discover and read over Kustomer's lists and search.

``streams()`` (and discover) build every stream of the org from the declared tables (``streams/__init__.py``),
whatever was called before; ``read()`` picks the selected ones, sets their sync mode and saved state, and hands
them to the CDK's concurrent framework (``concurrency.py``).

The streams, their readers and the concurrent read are imported by the commands that use them: ``spec`` and
``check`` load none of them.
"""

import json
import logging
from typing import TYPE_CHECKING, Any, Iterator, List, Mapping, Optional, Tuple

from airbyte_cdk.models import (
    AirbyteCatalog,
    AirbyteConnectionStatus,
    AirbyteLogMessage,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    ConnectorSpecification,
    ConnectorSpecificationSerializer,
    Level,
    Status,
    TraceType,
    Type,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.connector_state_manager import ConnectorStateManager
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import redaction, timestamps
from kustomer_http.connection import KustomerConnection, is_stop, open_connection
from kustomer_http.errors import check_failure, config_error
from kustomer_http.responses import AUTH_MESSAGE, error_detail
from kustomer_http.timestamps import kustomer_time

from source_kustomer.config import parse_config, spec_document
from source_kustomer.version import USER_AGENT

if TYPE_CHECKING:
    from source_kustomer.streams import KustomerStream

SEARCH_ROLES = "org.user.search.read, org.admin.search.read or org.permission.search.create"
CHECK_RETRIES = 2


def connect(raw: Mapping[str, Any], logger: Optional[logging.Logger] = None) -> KustomerConnection:
    """Validate a raw config (a config_error names the bad field), mask its key everywhere, open the session."""
    return open_connection(raw, parse_config, USER_AGENT, logger)


class SourceKustomer(AbstractSource):
    """The Kustomer source: streams read concurrently (``max_concurrent_streams``), sharing one rate policy.

    Each read builds the concurrent framework's source, sized by the config; a stream that fails stops the
    others (see ``KustomerStream.read_records``), each resuming from its saved state.
    """

    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        """spec.yaml, as the CDK's default reads it, but parsed by libyaml (the entrypoint asks twice a check or a
        read, and the CDK's pure-Python parse takes ~10 ms each time)."""
        return ConnectorSpecificationSerializer.load(spec_document())

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
        """Every stream of the org (``catalog_streams``), the same for discover and read."""
        from source_kustomer.streams import catalog_streams

        return list(catalog_streams(connect(config)))

    def discover(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteCatalog:
        """The catalog, every stream's custom attributes typed (their definitions fetched several at once)."""
        from source_kustomer.streams import catalog_streams, prefetch_custom_types

        streams = catalog_streams(connect(config))
        prefetch_custom_types(streams)
        return AirbyteCatalog(streams=[stream.as_airbyte_stream() for stream in streams])

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Optional[List[AirbyteStateMessage]] = None,
    ) -> Iterator[AirbyteMessage]:
        """Validate the incoming state before any stream starts, read the selected streams concurrently, then log
        the per-stream summary."""
        from source_kustomer.concurrency import ConcurrentRead
        from source_kustomer.state import validate_state
        from source_kustomer.streams import catalog_streams

        parsed = parse_config(config)
        redaction.register(parsed.api_token)
        selected = {s.stream.name for s in catalog.streams}
        validate_state(selected, state or [], parsed.origin, logger)
        streams: List["KustomerStream"] = []
        try:
            connection = connect(config)
            streams = catalog_streams(connection)
            chosen = selected_streams(connection, streams, catalog, state or [])
            for message in ConcurrentRead(parsed.max_concurrent_streams, logger).read(chosen):
                yield consequence_as_warning(message)
            found = {stream.name for stream in chosen}
            missing = [s for s in catalog.streams if s.stream.name not in found]
            if missing:  # the CDK says which and what to do
                yield from super().read(logger, config, ConfiguredAirbyteCatalog(streams=missing), state)
        finally:
            summarised = [stream for stream in streams if stream.name in selected]  # in the catalog's order
            for stream in summarised:
                stream.log_summary(logger)
            logger.info("SYNC_SUMMARY " + json.dumps([s.progress.as_dict() for s in summarised]))
        if summarised and all(s.progress.forbidden for s in summarised):
            reasons = "; ".join(f"{s.name}: {s.progress.forbidden}" for s in summarised)
            raise config_error(
                f"Kustomer refused every selected stream — {reasons}. "
                "Give the API key the read roles named above, then sync again."
            )


def consequence_as_warning(message: AirbyteMessage) -> AirbyteMessage:
    """A stream stopped because another failed says so in a warning, not in a second error: the sync has one
    error, its cause (the stopped stream still ends INCOMPLETE and resumes from its state)."""
    trace = message.trace if message.type == Type.TRACE else None
    if trace is None or trace.type != TraceType.ERROR or not is_stop(trace.error.internal_message):  # type: ignore[union-attr]
        return message
    log = AirbyteLogMessage(level=Level.WARN, message=trace.error.message)  # type: ignore[union-attr]
    return AirbyteMessage(type=Type.LOG, log=log)


# Streams that take longest start first, so the sync's length is the longest stream's, not the sum.
LONG_FIRST = ("work_items", "messages", "conversations", "customers", "conversation_times", "audit_logs")


def read_order(stream: "KustomerStream") -> Tuple[int, str]:
    """Where a stream starts among the selected ones."""
    return (LONG_FIRST.index(stream.name) if stream.name in LONG_FIRST else len(LONG_FIRST)), stream.name


def selected_streams(
    connection: KustomerConnection,
    streams: List["KustomerStream"],
    catalog: ConfiguredAirbyteCatalog,
    state: List[AirbyteStateMessage],
) -> List["KustomerStream"]:
    """The streams ``catalog`` selects, in the order they start, each with its configured sync mode, its saved state
    and its custom attributes typed; those that sync hard deletes share one reading of the audit log."""
    from source_kustomer.streams import prefetch_custom_types

    state_manager = ConnectorStateManager(state=state)
    modes = {s.stream.name: s.sync_mode for s in catalog.streams}
    chosen = sorted((stream for stream in streams if stream.name in modes), key=read_order)
    prefetch_custom_types(chosen)
    for stream in chosen:
        stream.sync_mode = modes[stream.name]
        stream.state = dict(state_manager.get_stream_state(stream.name, None) or {})
    deletions_log(connection, chosen, connection.logger)
    return chosen


def deletions_log(connection: KustomerConnection, streams: List["KustomerStream"], logger: logging.Logger) -> None:
    """One audit-log pass for every selected stream that syncs hard deletes, shared by them."""
    from source_kustomer.deletions import ABSENCE_RECHECK_SECONDS, AUDIT_OBJECT_TYPES, DeletionsLog
    from source_kustomer.streams import KustomerSearchStream

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
