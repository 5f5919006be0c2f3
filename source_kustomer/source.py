"""SourceKustomer: check, discover and read over Kustomer's lists and search."""

import base64
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, List, Mapping, MutableMapping, Optional, Tuple
from urllib.parse import quote

from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStateType,
    ConfiguredAirbyteCatalog,
    Status,
)
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.utils.airbyte_secrets_utils import update_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_kustomer.api import KustomerApi, budget_for, org_limit
from source_kustomer.config import KustomerConfig, parse_config, parse_timestamp
from source_kustomer.errors import config_error
from source_kustomer.rate_policy import AUTH_MESSAGE
from source_kustomer.streams import (
    LIST_STREAMS,
    SEARCH_STREAMS,
    KustomerListStream,
    KustomerSearchStream,
    KustomerStream,
    kobject_spec,
)
from source_kustomer.streams.base import forbidden_detail
from source_kustomer.streams.search import CURSOR

CLOCK_SKEW = timedelta(minutes=5)
SEARCH_HISTORY = timedelta(days=730)  # Kustomer's search covers records updated in the last two years


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

    def _config(self, raw: Mapping[str, Any]) -> KustomerConfig:
        config = parse_config(raw)
        # The entrypoint masks the raw token; mask the forms it could appear in inside URLs and headers too.
        token = config.api_token
        update_secrets([token, quote(token, safe=""), base64.b64encode(token.encode()).decode()])
        return config

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """The connection status, with the failure message as written (the CDK default quotes it)."""
        succeeded, message = self.check_connection(logger, config)
        if succeeded:
            return AirbyteConnectionStatus(status=Status.SUCCEEDED)
        return AirbyteConnectionStatus(status=Status.FAILED, message=str(message))

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> Tuple[bool, Optional[Any]]:
        """One cheap request (the key's own user); says what is wrong without revealing the token."""
        try:
            parsed = self._config(config)
        except AirbyteTracedException as error:
            return False, error.message
        api = KustomerApi(parsed, logger, max_retries=2)
        try:
            response = api.get("users/current")
        except AirbyteTracedException as error:
            if error.message == AUTH_MESSAGE:
                return False, AUTH_MESSAGE
            return False, (
                f"Could not reach Kustomer at {parsed.base_url}. Check 'region', 'organization' or 'api_url', "
                "and that this machine can reach that host."
            )
        if response.status_code == 403:
            return False, (
                "The API key is valid but Kustomer refused to read the current user "
                f"(403: {forbidden_detail(response)}). "
                "Give the key the read roles listed in the connector docs."
            )
        if not response.ok:
            return False, f"Kustomer answered HTTP {response.status_code} at {parsed.base_url}; try again later."
        return True, None

    def streams(self, config: Mapping[str, Any]) -> List[Stream]:
        """Every list stream, every search stream, and one kobjects_* stream per klass."""
        parsed = self._config(config)
        logger = logging.getLogger("airbyte")
        probe = KustomerApi(parsed, logger).get("users/current")
        budget = budget_for(parsed, org_limit(probe, logger))
        api = KustomerApi(parsed, logger, budget)

        def fields_of(resource: str):
            return lambda: api.custom_fields(resource)

        streams: List[KustomerStream] = [KustomerListStream(spec, parsed, budget) for spec in LIST_STREAMS]
        streams += [
            KustomerSearchStream(spec, parsed, budget, fields_of(spec.query_context)) for spec in SEARCH_STREAMS
        ]
        for klass in api.klasses():
            attributes = klass.get("attributes") or {}
            name = attributes.get("name")
            if not name:
                continue
            definitions = attributes.get("attributes")
            custom = definitions if isinstance(definitions, Mapping) else None
            streams.append(KustomerSearchStream(kobject_spec(name), parsed, budget, lambda c=custom: c))
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
        parsed = self._config(config)
        validate_state(catalog, state or [], logger)
        if parsed.start_date < datetime.now(timezone.utc) - SEARCH_HISTORY:
            logger.warning(
                "'start_date' is more than two years ago, but Kustomer's search only covers the last two years: "
                "older customers, conversations, messages and notes are not returned by the search streams."
            )
        selected = {s.stream.name for s in catalog.streams}
        try:
            yield from super().read(logger, config, catalog, state)
        finally:
            self._log_summary(logger, selected)
        chosen = [s for s in self._streams if s.name in selected]
        if chosen and all(s.progress.forbidden for s in chosen):
            reasons = "; ".join(f"{s.name}: {s.progress.forbidden}" for s in chosen)
            raise config_error(
                f"Kustomer refused every selected stream (HTTP 403) — {reasons}. "
                "Give the API key the read roles named above, then sync again."
            )

    def _log_summary(self, logger: logging.Logger, selected: set) -> None:
        chosen = [s for s in self._streams if s.name in selected]
        for stream in chosen:
            stream.log_summary(logger)
        logger.info("SYNC_SUMMARY " + json.dumps([s.progress.as_dict() for s in chosen]))


def validate_state(catalog: ConfiguredAirbyteCatalog, state: List[AirbyteStateMessage], logger: logging.Logger) -> None:
    """Reject state this connector cannot resume from, naming the stream and the fix (no stack trace)."""
    search_streams = {
        s.stream.name for s in catalog.streams if s.stream.name not in {spec.name for spec in LIST_STREAMS}
    }
    selected = {s.stream.name for s in catalog.streams}
    now = datetime.now(timezone.utc)
    for message in state:
        if message.type != AirbyteStateType.STREAM or message.stream is None:
            raise config_error(
                f"The saved state is of type {message.type.name if message.type else 'unknown'}, not per-stream state: "
                "it was not written by this connector. Reset the connection's state (or run without --state)."
            )
        name = message.stream.stream_descriptor.name
        if name not in selected:
            logger.info(f"Ignoring saved state of stream '{name}', which is not selected in this sync.")
            continue
        stream_state: MutableMapping[str, Any] = dict(
            message.stream.stream_state.__dict__ if message.stream.stream_state else {}
        )
        if name not in search_streams or not stream_state:
            continue
        if CURSOR not in stream_state:
            raise config_error(
                f"The saved state of stream '{name}' has no '{CURSOR}' cursor (keys: {sorted(stream_state)}): "
                "it was not "
                f"written by this connector. Reset the state of '{name}' to sync it from start_date."
            )
        cursor = parse_timestamp(stream_state[CURSOR], f"state of stream '{name}' ({CURSOR})")
        if cursor > now + CLOCK_SKEW:
            raise config_error(
                f"The saved state of stream '{name}' is in the future ({stream_state[CURSOR]}); "
                f"resuming from it would skip records. Reset the state of '{name}'."
            )
