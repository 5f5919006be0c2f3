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
"""

import logging
from collections import Counter
from typing import Iterable, Iterator, List, Mapping, Optional

from airbyte_cdk.models import AirbyteMessage, AirbyteStateStats, AirbyteStateType, Type
from kustomer_http.errors import config_error

from destination_kustomer.progress import StreamReport, log_summary
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

    def write(self, messages: Iterable[AirbyteMessage]) -> Iterator[AirbyteMessage]:
        """Write the records; yield each state once what came before it is written (in a dry run, none)."""
        try:
            for message in messages:
                if message.type == Type.RECORD and message.record is not None:
                    self._record(message.record.stream, message.record.data)
                elif message.type == Type.STATE and message.state is not None:
                    checkpoint = self._checkpoint(message)
                    if checkpoint is not None and not self.dry_run:
                        yield checkpoint
            self._flush(None)
            self._judge(final=True)
        finally:
            log_summary(self.reports)

    def _record(self, stream: str, data: Optional[Mapping]) -> None:
        writer = self.writers.get(stream)
        if writer is None or not isinstance(data, Mapping):
            if stream not in self._ignored:
                self._ignored.add(stream)
                logger.warning(f"Records of stream '{stream}', which the catalog does not configure, are ignored.")
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
