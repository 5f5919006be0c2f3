"""DestinationKustomer: spec, check, discover and write over Kustomer's customers, companies and custom objects."""

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from airbyte_cdk.destinations import Destination
from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Status,
)
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from airbyte_protocol_dataclasses.models import DestinationCatalog
from kustomer_http import redaction
from kustomer_http.connection import KustomerConnection, open_connection
from kustomer_http.errors import check_failure
from kustomer_http.rate_policy import ASSUMED_ORG_LIMIT, RateStats

from destination_kustomer import access
from destination_kustomer.bulk import BulkJobs
from destination_kustomer.config import RETIRED_MAX_FAILED, DestinationConfig, parse_config
from destination_kustomer.creates import Creates, Waits
from destination_kustomer.deferred import Deferred
from destination_kustomer.discover import discover
from destination_kustomer.finding import Finder
from destination_kustomer.input_lines import Input, read_messages
from destination_kustomer.jobs_in_flight import JobsInFlight, settle_pending
from destination_kustomer.lookups import Lookups
from destination_kustomer.mapping import MappedRecord, RecordMapper, shorten, unwritable_note
from destination_kustomer.objects import COMPANY, CUSTOMER, KustomerObject, kobject, object_named
from destination_kustomer.org_context import custom_attributes, require_klasses
from destination_kustomer.progress import StreamReport
from destination_kustomer.search_lookups import SearchLookups, SearchShare
from destination_kustomer.single import SingleWrites
from destination_kustomer.stream_writer import StreamWriter, create_runs
from destination_kustomer.targets import UPSERT, StreamTarget, objects_of, resolve_targets
from destination_kustomer.updates import Updates
from destination_kustomer.verify import FirstUpdateCheck
from destination_kustomer.version import USER_AGENT
from destination_kustomer.writer import KustomerWriter

LOOKUPS_IN_FLIGHT = 8  # lookups are independent reads: several hide each one's latency (the budget still rules)
WRITE_REFUSALS = (409, 413, 422)  # a record's refusals the writes take back as answers (not retried)
CHECK_RETRIES = 2
ASSUMED = (CUSTOMER, COMPANY, kobject("*"))  # what check asks about when no stream mapping names the objects
ASSUMED_NOTE = (
    "No 'stream_mappings' entry names the objects the streams write, so the check assumed customers, companies and "
    "custom objects; add an entry per stream (its object) to check only the objects it writes."
)
logger = logging.getLogger("airbyte")


def connect(raw: Mapping[str, Any], logger: Optional[logging.Logger] = None) -> KustomerConnection:
    """Validate a raw config (a config_error names the bad field), mask its key everywhere, open the session."""
    return open_connection(raw, parse_config, USER_AGENT, logger)


def _target_label(target: StreamTarget) -> str:
    return f"{target.object.name} by {target.matching_key} ({target.operation})"


class DestinationKustomer(Destination):
    """The Kustomer destination: upserts, updates and soft deletes, matched by externalId (customers: or email)."""

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        """Is the key valid, may it do what the configured objects need (settled by asking), and can it read the
        org's custom attribute definitions and klasses?"""
        try:
            connection = connect(config, logger)
        except AirbyteTracedException as error:
            return _failed(error.message)
        client = connection.client("check", max_retries=CHECK_RETRIES)
        settings: DestinationConfig = connection.config  # type: ignore[assignment]
        _retired(config)
        work, note = self._checked_objects(settings)
        try:
            allowed = access.settle(client, work, settings.batch_size > 1, settings.lookup_by_search, settings.dry_run)
            access.cheap_reads(client, any(target.kind == "kobject" for target, _ in work))
        except AirbyteTracedException as error:
            message = check_failure(error, connection.origin.url)
            return _failed(f"{message} {note}" if note and error.failure_type == FailureType.config_error else message)
        finally:
            connection.close()
        return AirbyteConnectionStatus(status=Status.SUCCEEDED, message=allowed.note())

    @staticmethod
    def _checked_objects(settings: DestinationConfig) -> Tuple[List[Tuple[KustomerObject, str]], Optional[str]]:
        """The objects ``stream_mappings`` names (upserted); without mappings, customers, companies and custom
        objects (the objects streams write by their names), and a note saying so."""
        if settings.stream_mappings:
            names = sorted({m.object for m in settings.stream_mappings.values()})
            return [(object_named(name), UPSERT) for name in names], None
        return [(target, UPSERT) for target in ASSUMED], ASSUMED_NOTE

    def _parse_input_stream(self, input_stream: Any) -> Iterator[Input]:  # type: ignore[override]
        """The Airbyte messages on stdin, each line bounded; a line that is no message comes as ``Unreadable``
        (the writer counts it, never quoting it)."""
        return read_messages(input_stream)

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
        input_messages: Iterable[Input],
    ) -> Iterator[AirbyteMessage]:
        """Write the records of the configured streams; yield each state once the records before it are written."""
        connection = connect(config)
        settings: DestinationConfig = connection.config  # type: ignore[assignment]
        _retired(config)
        targets = resolve_targets(configured_catalog, settings.stream_mappings)
        client = connection.client("setup")
        objects = objects_of(targets)
        require_klasses(client, objects)
        work = [(t.object, t.operation) for t in targets.values()]
        allowed = access.settle(client, work, settings.batch_size > 1, settings.lookup_by_search, settings.dry_run)
        custom = custom_attributes(client, objects)
        jobs = JobsInFlight(settings.pending_bulk_jobs)
        if jobs.open() and not settings.dry_run:  # jobs earlier syncs left running end before anything is written
            yield from settle_pending(client, jobs, config, _first_poll(settings))
        with (
            ThreadPoolExecutor(LOOKUPS_IN_FLIGHT, thread_name_prefix="lookup") as pool,
            ThreadPoolExecutor(len(targets), thread_name_prefix="creates") as paths,
        ):
            writers = {
                name: _writer(connection, settings, allowed, target, custom, pool, paths, jobs)
                for name, target in targets.items()
            }
            reports = {name: writer.report for name, writer in writers.items()}
            writer = KustomerWriter(writers, reports, settings.max_failed_percent, settings.dry_run)
            try:
                yield from writer.write(input_messages)
            except Exception:
                control = jobs.control(config)  # a job that may still run is handed to the next sync
                if control is not None:
                    logger.warning(
                        f"Bulk jobs that may still run, for the next sync to wait for: {', '.join(jobs.open())}"
                    )
                    yield control
                raise
            finally:
                connection.close()


def _writer(
    connection: KustomerConnection,
    settings: DestinationConfig,
    allowed: access.Access,
    target: StreamTarget,
    custom: Dict[str, Any],
    pool: ThreadPoolExecutor,
    paths: ThreadPoolExecutor,
    jobs: JobsInFlight,
) -> StreamWriter:
    """The writer of one stream: its clients (lookups, searches, updates, creates), each path of its writes."""
    stats = RateStats()
    reads = connection.client(f"{target.stream}:lookups", stats)
    writes = connection.client(f"{target.stream}:writes", stats, refusals=WRITE_REFUSALS, object_limits=True)
    creates = connection.client(
        f"{target.stream}:creates", stats, refusals=WRITE_REFUSALS, resend=False, object_limits=True
    )
    first_poll = _first_poll(settings)
    note = unwritable_note(custom[target.object.name])
    if note:
        logger.info(f"stream '{target.stream}': {note}")
    obj: KustomerObject = target.object
    report = StreamReport(target.stream, _target_label(target), stats)
    lookups = Lookups(reads, obj)
    singles = SingleWrites(creates, writes, obj)
    bulk = BulkJobs(creates, writes, obj, first_poll, jobs) if allowed.bulk else None
    search = allowed.search and obj.kind == "customer"
    finder = Finder(
        target.matching_key,
        lookups,
        pool,
        report,
        SearchLookups(connection.client(f"{target.stream}:searches", stats), target.matching_key) if search else None,
        SearchShare(settings.search_requests_per_minute, lambda: _org_share(connection)) if search else None,
    )
    deferred = Deferred()

    def name(record: MappedRecord) -> str:
        return f"{target.matching_key}={shorten(record.key)}"

    updates = Updates(
        target, lookups, singles, bulk, report, deferred, settings.batch_size, FirstUpdateCheck(obj), name
    )
    waits = Waits(unanswered=settings.request_timeout_seconds, answered=first_poll)
    creating = Creates(
        target, finder, create_runs(settings.batch_size), singles, bulk, report, waits, deferred, updates.alone, name
    )
    return StreamWriter(
        target,
        RecordMapper(target, custom[obj.name]),
        finder,
        creating,
        updates,
        deferred,
        paths,
        report,
        settings.batch_size,
        settings.dry_run,
        settings.send_imported_at,
    )


def _first_poll(settings: DestinationConfig) -> float:
    """The first wait before a bulk job is polled: one second per minute of the rate-limit window."""
    return settings.rate_limit_window_seconds / 60


def _org_share(connection: KustomerConnection) -> int:
    """Requests a window of the org budget these writes may spend (the smallest plan's until Kustomer said)."""
    limit = connection.budget.org_limit or ASSUMED_ORG_LIMIT
    return max(1, limit * connection.config.api_utilization_percent // 100)


def _retired(config: Mapping[str, Any]) -> None:
    if "max_failed_records" in config:
        logger.warning(RETIRED_MAX_FAILED)


def _failed(message: Optional[str]) -> AirbyteConnectionStatus:
    return AirbyteConnectionStatus(status=Status.FAILED, message=redaction.redact(str(message)))
