"""The write command's loop: records to their stream's writer, and each STATE passed on only once every record
before it (of its stream, or of all streams for a global state) is written -- Airbyte's checkpoint contract, so a
sync that stops resumes from the last state with nothing lost. A record written again is looked up and updated,
never created twice.

Failed records are reported and counted; once more fail than ``max_failed_records`` allows, the sync stops with
one error (states after the last flush are not passed on, so those records are sent again next time). A dry run
passes on no state at all: nothing was written, so no source may take its records as delivered.
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


class KustomerWriter:
    """Runs the streams' writers over the input messages."""

    def __init__(
        self,
        writers: Mapping[str, StreamWriter],
        reports: Mapping[str, StreamReport],
        max_failed_records: int,
        dry_run: bool,
    ) -> None:
        self.writers = writers
        self.reports = reports
        self.max_failed = max_failed_records
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
                    if not self.dry_run:
                        yield checkpoint
            self._flush(None)
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
        self._stop_past_threshold()

    def _checkpoint(self, message: AirbyteMessage) -> AirbyteMessage:
        state = message.state
        stream: Optional[str] = None
        if state.type == AirbyteStateType.STREAM and state.stream is not None:
            stream = state.stream.stream_descriptor.name
        self._flush(stream)
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
        self._stop_past_threshold()

    def _stop_past_threshold(self) -> None:
        failed = sum(report.failed for report in self.reports.values())
        if failed <= self.max_failed:
            return
        quoted: List[str] = [line for report in self.reports.values() for line in report.failures][:FAILURES_QUOTED]
        raise config_error(
            f"{failed} records could not be written, more than 'max_failed_records' ({self.max_failed}) allows; the "
            f"sync stopped at its last checkpoint. First: {' | '.join(quoted)}. Fix those records (or raise "
            "'max_failed_records') and sync again."
        )
