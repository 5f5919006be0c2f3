"""SourceKustomer: check, discover and read over Kustomer's lists and search."""

import json
import logging
from typing import Any, Iterator, List, Mapping, Optional, Tuple

from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import redaction
from kustomer_http.connection import KustomerClient, KustomerConnection
from kustomer_http.errors import config_error
from kustomer_http.responses import AUTH_MESSAGE, error_detail
from kustomer_http.timestamps import kustomer_time

from source_kustomer.config import parse_config
from source_kustomer.discovery import custom_field_types, list_klasses
from source_kustomer.state import validate_state
from source_kustomer.streams import (
    LIST_STREAMS,
    METADATA_RESOURCES,
    SEARCH_STREAMS,
    KustomerListStream,
    KustomerSearchStream,
    KustomerStream,
    klass_identity,
    kobject_spec,
    kobject_stream_names,
)
from source_kustomer.streams.audit_logs import AuditLogsStream
from source_kustomer.streams.metadata import CustomAttributeMetadataStream
from source_kustomer.streams.work_items import WorkItemsStream
from source_kustomer.version import USER_AGENT

SEARCH_ROLES = "org.user.search.read, org.admin.search.read or org.permission.search.create"
CHECK_RETRIES = 2


def connect(raw: Mapping[str, Any], logger: Optional[logging.Logger] = None) -> KustomerConnection:
    """Validate a raw config (a config_error names the bad field), mask its key everywhere, open the session."""
    config = parse_config(raw)
    redaction.register(config.api_token)
    return KustomerConnection(config, USER_AGENT, logger)


def require_valid_key(client: KustomerClient) -> None:
    """``GET /v1/auth/tokens/current`` (any valid key may call it); it also tells the budget the org's limit."""
    if client.get(client.api_url("auth/tokens/current")).status_code == 401:
        raise config_error(AUTH_MESSAGE)


class SourceKustomer(AbstractSource):
    """The Kustomer source."""

    def __init__(self) -> None:
        super().__init__()
        self._streams: List[KustomerStream] = []

    @property
    def stop_sync_on_stream_failure(self) -> bool:
        """A stream that fails after its retries (or with 401) stops the sync: the rest would fail the same way,
        and the next attempt resumes every stream from its saved state."""
        return True

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
            if error.failure_type == FailureType.config_error:
                return False, error.message
            return False, (
                f"Could not reach Kustomer at {connection.origin.url}. Check 'region', 'organization' or 'api_url', "
                "and that this machine can reach that host."
            )
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
        """Every list and search stream, one kobjects_* stream per klass, work items, the audit log and the
        custom attribute definitions."""
        connection = connect(config)
        client = connection.client("discover")
        require_valid_key(client)

        def custom_fields(resource: str):
            return lambda: custom_field_types(client, resource)

        streams: List[KustomerStream] = [KustomerListStream(spec, connection) for spec in LIST_STREAMS]
        for spec in SEARCH_STREAMS:
            resource = METADATA_RESOURCES.get(spec.name)
            streams.append(KustomerSearchStream(spec, connection, custom_fields(resource) if resource else None))
        identities = [klass_identity(klass) for klass in list_klasses(client)]
        identities = [(name, klass_id) for name, klass_id in identities if name]
        names = kobject_stream_names(identities)
        for name, _ in identities:
            spec = kobject_spec(names[name], name)
            streams.append(KustomerSearchStream(spec, connection, custom_fields(f"kobject.{name}")))
        streams.append(WorkItemsStream(connection))
        streams.append(AuditLogsStream(connection))
        streams.append(CustomAttributeMetadataStream(connection, [name for name, _ in identities]))
        self._streams = streams
        return list(streams)

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: Optional[List[AirbyteStateMessage]] = None,
    ) -> Iterator[AirbyteMessage]:
        """Validate the incoming state before any stream starts, read, then log the per-stream summary."""
        parsed = parse_config(config)
        redaction.register(parsed.api_token)
        selected = {s.stream.name for s in catalog.streams}
        validate_state(selected, state or [], parsed.origin, logger)
        try:
            yield from super().read(logger, config, catalog, state)
        finally:
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
