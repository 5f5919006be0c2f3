"""The write command's loop: records to their stream's writer, and each STATE passed on only once every record
before it (of its stream, or of all streams for a global state) is written -- Airbyte's checkpoint contract, so a
sync that stops resumes from the last state with nothing lost. A record written again is looked up and updated,
never created twice.

Refused records are reported (each at WARN) and counted per stream. A stream whose refusals pass
``max_failed_percent`` of its records stops the sync with one error -- during the sync once it has
``MIN_RECORDS_JUDGED`` records (states after the last flush are not passed on, so those records are sent again
next time), else at its end -- and so does a stream of which no record could be written: a sync that wrote
nothing never ends as a success, and no state of such a stream is passed on (its records come again next time).
A dry run passes on no state at all: nothing was written, so no source may take its records as delivered.

A line of stdin that is no Airbyte message (``input_lines``: not UTF-8, not JSON, nested too deep, too long) is a
record that was not written: counted in its stream's refusals where the line names one, said at WARN by its number
and reason (never its content), and no later STATE that could vouch for it -- its stream's, or any when the line
names no stream -- is passed on; the sync then ends with one error, so the source sends those records again.
"""

import logging
from collections import Counter
from typing import Iterable, Iterator, List, Mapping, Optional

from airbyte_cdk.models import AirbyteMessage, AirbyteStateStats, AirbyteStateType, FailureType, Type
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.errors import config_error
from kustomer_http.redaction import redact

from destination_kustomer.input_lines import Input, Unreadable
from destination_kustomer.mapping import shorten
from destination_kustomer.progress import MAX_KEY_CHARS, MAX_REPORTED_FAILURES, StreamReport, log_summary
from destination_kustomer.stream_writer import StreamWriter

logger = logging.getLogger("airbyte")
FAILURES_QUOTED = 3
MIN_RECORDS_JUDGED = 100  # a share of fewer records says little before the stream ends


class KustomerWriter:
    """Runs the streams' writers over the input messages."""

    def __init__(
        self,
        writers: Mapping[str, StreamWriter],
        reports: Mapping[str, StreamReport],
        max_failed_percent: int,
        dry_run: bool,
    ) -> None:
        self.writers = writers
        self.reports = reports
        self.max_percent = max_failed_percent
        self.dry_run = dry_run
        self._since_state: Counter = Counter()
        self._ignored: set = set()
        self._unreadable: List[Unreadable] = []  # the first lines that could not be read (the rest are counted)
        self._unreadable_count = 0
        self._held: set = set()  # streams whose states are held back after a line that could not be read
        self._held_all = False

    def write(self, messages: Iterable[Input]) -> Iterator[AirbyteMessage]:
        """Write the records; yield each state once what came before it is written (in a dry run, none)."""
        try:
            for message in messages:
                if isinstance(message, Unreadable):
                    self._unread(message)
                elif message.type == Type.RECORD and message.record is not None:
                    self._record(message.record.stream, message.record.data)
                elif message.type == Type.STATE and message.state is not None:
                    checkpoint = self._checkpoint(message)
                    if checkpoint is not None and not self.dry_run:
                        yield checkpoint
            self._flush(None)
            self._judge(final=True)
            if self._unreadable_count:
                raise self._unread_error()
        finally:
            log_summary(self.reports)

    def _unread(self, line: Unreadable) -> None:
        """A line that is no message: a refusal of its stream (if it names a configured one), and no later state
        for it."""
        self._unreadable_count += 1
        if len(self._unreadable) < FAILURES_QUOTED:
            self._unreadable.append(line)
        writer = self.writers.get(line.stream) if line.stream is not None else None
        if writer is not None:
            self._held.add(line.stream)
            writer.unreadable(line.line, line.reason)
            self._judge(final=False)
        else:
            self._held_all = True
            if self._unreadable_count <= MAX_REPORTED_FAILURES:
                logger.warning(
                    f"Line {line.line} on stdin could not be read ({line.reason}); it is not quoted. It may hold a "
                    "record of any stream, so no later STATE is passed on."
                )

    def _unread_error(self) -> AirbyteTracedException:
        first = "; ".join(f"line {line.line}: {line.reason}" for line in self._unreadable)
        message = (
            f"{self._unreadable_count:,} line(s) on stdin could not be read as Airbyte messages ({first}). Each is "
            "counted as a record that was not written; no STATE after the first was passed on, so the source sends "
            "those records again. The sync failed; the other records were written."
        )
        return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)

    def _record(self, stream: str, data: Optional[Mapping]) -> None:
        writer = self.writers.get(stream)
        if writer is None or not isinstance(data, Mapping):
            if stream not in self._ignored and len(self._ignored) < MAX_REPORTED_FAILURES:
                self._ignored.add(stream)
                named = shorten(stream, MAX_KEY_CHARS)
                logger.warning(
                    redact(f"Records of stream '{named}', which the catalog does not configure, are ignored.")
                )
            return
        writer.add(data)
        self._since_state[stream] += 1
        self._judge(final=False)

    def _checkpoint(self, message: AirbyteMessage) -> Optional[AirbyteMessage]:
        """The state to pass on once what came before it is written; None while a stream it covers has had every
        record refused (the source then sends them again, once the sync failed for it)."""
        state = message.state
        stream: Optional[str] = None
        if state.type == AirbyteStateType.STREAM and state.stream is not None:
            stream = state.stream.stream_descriptor.name
        self._flush(stream)
        covered = [report for name, report in self.reports.items() if stream is None or name == stream]
        if any(report.failed and report.failed == report.records for report in covered):
            return None
        if self._held_all or (stream in self._held if stream is not None else bool(self._held)):
            return None  # a line that could not be read may be one of the records it would vouch for
        if stream is None:
            count = sum(self._since_state.values())
            self._since_state.clear()
        else:
            count = self._since_state.pop(stream, 0)
        state.destinationStats = AirbyteStateStats(recordCount=float(count))
        return message

    def _flush(self, stream: Optional[str]) -> None:
        for name, writer in self.writers.items():
            if stream is None or name == stream:
                writer.flush()
        self._judge(final=False)

    def _judge(self, final: bool) -> None:
        """Stop the sync when a stream refused too much: past the allowed share (once it has enough records, or
        at the end), or -- at the end -- every one of its records."""
        for report in self.reports.values():
            if not report.failed or (not final and report.records < MIN_RECORDS_JUDGED):
                continue
            nothing = final and report.failed == report.records
            if nothing or report.failed * 100 > self.max_percent * report.records:
                raise config_error(self._verdict(report, nothing))

    def _verdict(self, report: StreamReport, nothing: bool) -> str:
        quoted: List[str] = report.failures[:FAILURES_QUOTED]
        what = (
            f"all {report.records:,} of its records were refused, so nothing was written"
            if nothing
            else f"{report.failed:,} of its {report.records:,} records were refused, more than 'max_failed_percent' "
            f"({self.max_percent} %) allows"
        )
        return (
            f"Stream '{report.stream}': {what} (by Kustomer, or by its published request schema). First: "
            f"{' | '.join(quoted)}. Every refused record is reported at WARN; fix those records or their mapping "
            "(or raise 'max_failed_percent') and sync again. The sync failed; the states it passed on stand for "
            "records written or reported."
        )
