"""DestinationKustomer: spec, check, discover and write over Kustomer's customers, companies and custom objects."""

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

import orjson
from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalog,
    Status,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from airbyte_protocol_dataclasses.models import DestinationCatalog
from kustomer_http import redaction
from kustomer_http.connection import KustomerConnection, open_connection
from kustomer_http.errors import check_failure, config_error
from kustomer_http.rate_policy import RateStats

from destination_kustomer import access
from destination_kustomer.bulk import BulkJobs
from destination_kustomer.config import DestinationConfig, parse_config
from destination_kustomer.creates import Waits
from destination_kustomer.discover import discover
from destination_kustomer.lookups import Lookups
from destination_kustomer.mapping import RecordMapper, unwritable_note
from destination_kustomer.objects import COMPANY, CUSTOMER, KustomerObject, kobject, object_named
from destination_kustomer.org_context import custom_attributes, require_klasses
from destination_kustomer.progress import StreamReport
from destination_kustomer.single import SingleWrites
from destination_kustomer.stream_writer import StreamWriter
from destination_kustomer.targets import UPSERT, StreamTarget, objects_of, resolve_targets
from destination_kustomer.version import USER_AGENT
from destination_kustomer.writer import KustomerWriter

LOOKUPS_IN_FLIGHT = 8  # lookups are independent reads: several hide each one's latency (the budget still rules)
WRITE_REFUSALS = (409, 413, 422)  # a record's refusals the writes take back as answers (not retried)
CHECK_RETRIES = 2
ASSUMED = (CUSTOMER, COMPANY, kobject("*"))  # what check asks roles for when no stream mapping names the objects
ASSUMED_NOTE = (
    "No 'stream_mappings' entry names the objects the streams write, so the check assumed customers, companies and "
    "custom objects; add an entry per stream (its object) to check only the objects it writes."
)


def connect(raw: Mapping[str, Any], logger: Optional[logging.Logger] = None) -> KustomerConnection:
    """Validate a raw config (a config_error names the bad field), mask its key everywhere, open the session."""
    return open_connection(raw, parse_config, USER_AGENT, logger)


def _target_label(target: StreamTarget) -> str:
    return f"{target.object.name} by {target.matching_key} ({target.operation})"


class DestinationKustomer(Destination):
    """The Kustomer destination: upserts, updates and soft deletes, matched by externalId (customers: or email)."""

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Is the key valid, does it hold every role the configured objects need, and can it read the org's custom
        attribute definitions and klasses?"""
        try:
            connection = connect(config, logger)
        except AirbyteTracedException as error:
            return _failed(error.message)
        client = connection.client("check", max_retries=CHECK_RETRIES)
        settings: DestinationConfig = connection.config  # type: ignore[assignment]
        try:
            work, note = self._checked_objects(settings)
            lacking = access.lacking_roles(client, work, settings.batch_size > 1, settings.dry_run)
            if lacking:
                return _failed(f"{lacking} {note}" if note else lacking)
            access.cheap_reads(client, any(target.kind == "kobject" for target, _ in work))
        except AirbyteTracedException as error:
            return _failed(check_failure(error, connection.origin.url))
        finally:
            connection.close()
        return AirbyteConnectionStatus(status=Status.SUCCEEDED)

    @staticmethod
    def _checked_objects(settings: DestinationConfig) -> Tuple[List[Tuple[KustomerObject, str]], Optional[str]]:
        """The objects ``stream_mappings`` names (upserted); without mappings, customers, companies and custom
        objects (the objects streams write by their names), and a note saying so."""
        if settings.stream_mappings:
            names = sorted({m.object for m in settings.stream_mappings.values()})
            return [(object_named(name), UPSERT) for name in names], None
        return [(target, UPSERT) for target in ASSUMED], ASSUMED_NOTE

    def _parse_input_stream(self, input_stream: Any) -> Iterator[AirbyteMessage]:
        """The Airbyte messages on stdin; a line that is not one is skipped and counted (never quoted: it may
        hold customer data)."""
        skipped = 0
        for line in input_stream:
            try:
                yield AirbyteMessageSerializer.load(orjson.loads(line))
            except Exception:  # noqa: BLE001 - invalid JSON and JSON that is no message are the same mistake
                skipped += 1
                if skipped == 1:
                    logging.getLogger("airbyte").warning("A line on stdin is not an Airbyte message; it is skipped.")
        if skipped > 1:
            logging.getLogger("airbyte").warning(f"{skipped} lines on stdin were not Airbyte messages.")

    def discover_catalog(self, config: Mapping[str, Any], logger: logging.Logger) -> DestinationCatalog:
        """The DESTINATION_CATALOG of the org."""
        connection = connect(config, logger)
        try:
            return discover(connection)
        finally:
            connection.close()

    def write(
        self,
        config: Mapping[str, Any],
        configured_catalog: ConfiguredAirbyteCatalog,
        input_messages: Iterable[AirbyteMessage],
    ) -> Iterator[AirbyteMessage]:
        """Write the records of the configured streams; yield each state once the records before it are written."""
        connection = connect(config)
        settings: DestinationConfig = connection.config  # type: ignore[assignment]
        targets = resolve_targets(configured_catalog, settings.stream_mappings)
        client = connection.client("setup")
        objects = objects_of(targets)
        work = [(t.object, t.operation) for t in targets.values()]
        lacking = access.lacking_roles(client, work, settings.batch_size > 1, settings.dry_run)
        if lacking:
            raise config_error(lacking)
        require_klasses(client, objects)
        custom = custom_attributes(client, objects)
        with ThreadPoolExecutor(LOOKUPS_IN_FLIGHT, thread_name_prefix="lookup") as pool:
            writers = {
                name: self._writer(connection, settings, target, custom, pool) for name, target in targets.items()
            }
            reports = {name: writer.report for name, writer in writers.items()}
            writer = KustomerWriter(writers, reports, settings.max_failed_records, settings.dry_run)
            try:
                yield from writer.write(input_messages)
            finally:
                connection.close()

    @staticmethod
    def _writer(
        connection: KustomerConnection,
        settings: DestinationConfig,
        target: StreamTarget,
        custom: Dict[str, Any],
        pool: ThreadPoolExecutor,
    ) -> StreamWriter:
        stats = RateStats()
        reads = connection.client(f"{target.stream}:lookups", stats)
        writes = connection.client(f"{target.stream}:writes", stats, refusals=WRITE_REFUSALS)
        creates = connection.client(f"{target.stream}:creates", stats, refusals=WRITE_REFUSALS, resend=False)
        first_poll = settings.rate_limit_window_seconds / 60
        note = unwritable_note(custom[target.object.name])
        if note:
            logging.getLogger("airbyte").info(f"stream '{target.stream}': {note}")
        obj: KustomerObject = target.object
        return StreamWriter(
            target,
            RecordMapper(target, custom[obj.name]),
            Lookups(reads, obj),
            SingleWrites(creates, writes, obj),
            BulkJobs(creates, writes, obj, first_poll_seconds=first_poll),
            pool,
            StreamReport(target.stream, _target_label(target), stats),
            settings.batch_size,
            settings.dry_run,
            Waits(unanswered=settings.request_timeout_seconds, answered=first_poll),
        )


def _failed(message: Optional[str]) -> AirbyteConnectionStatus:
    return AirbyteConnectionStatus(status=Status.FAILED, message=redaction.redact(str(message)))
