"""Which search answers which part of a sync's window.

Kustomer's standard search holds records whose last change is less than two years old; older records live only
in the archive search (``POST /v1/customers/archive/search``), and records move there as they age. The exact
boundary is not published (two years; leap days; when the move runs), so the connector never relies on it: the
part of the window around the boundary -- a band of ``BOUNDARY_MARGIN`` either side -- is read from both
searches. A record is in one of the two at any moment and only ever moves from standard to archive, so the order
below misses none, even if records move while the sync runs:

1. archive: the window's start up to the band's end;
2. standard: the band;
3. archive: the band again (whatever moved out of standard search after step 1 is there now);
4. standard: from the band's end to the window's end.

While steps 1-3 run, the saved cursor may not pass the band's start (a resumed sync must read the band from both
searches again); after step 3 it moves to the band's end. A record found twice in the band is emitted once. Step 4
stays correct as long as the sync ends before records past the band's end age out of standard search, i.e. within
``BOUNDARY_MARGIN`` of its start; the stream stops with an error instead if it runs longer.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, List, Mapping, MutableMapping, Optional

from kustomer_http.timestamps import kustomer_time

HISTORY = timedelta(days=730)  # standard search covers records updated in the last two years
BOUNDARY_MARGIN = timedelta(days=7)
STANDARD, ARCHIVE = "search", "archive"


@dataclass(frozen=True)
class Phase:
    """One search over one part of the window."""

    source: str  # STANDARD or ARCHIVE
    low: str
    high: str
    cap: Optional[str] = None  # the saved cursor may not pass it while this phase runs
    completes: Optional[str] = None  # once this phase is done, every record up to it has been read

    def as_slice(self) -> MutableMapping[str, Any]:
        """The phase as a stream slice."""
        return {
            "phase": "records",
            "source": self.source,
            "low": self.low,
            "high": self.high,
            "cap": self.cap,
            "completes": self.completes,
        }

    @classmethod
    def from_slice(cls, stream_slice: Mapping[str, Any]) -> "Phase":
        """The phase a slice stands for."""
        return cls(
            stream_slice["source"],
            stream_slice["low"],
            stream_slice["high"],
            stream_slice.get("cap"),
            stream_slice.get("completes"),
        )


def plan(low: datetime, high: datetime, now: datetime, archived: bool) -> List[Phase]:
    """The phases that read every record dated from ``low`` to ``high`` (a sync starting at ``now``).

    ``archived``: whether Kustomer keeps this object's older records in the archive search.
    """
    horizon = now - HISTORY
    band_low, band_high = horizon - BOUNDARY_MARGIN, min(horizon + BOUNDARY_MARGIN, high)
    if not archived or low >= band_high:
        return [Phase(STANDARD, kustomer_time(low), kustomer_time(high))]
    start, band_start, band_end = kustomer_time(low), kustomer_time(max(low, band_low)), kustomer_time(band_high)
    cap = kustomer_time(max(low, band_low))
    return [
        Phase(ARCHIVE, start, band_end, cap=cap),
        Phase(STANDARD, band_start, band_end, cap=cap),
        Phase(ARCHIVE, band_start, band_end, cap=cap, completes=band_end),
        Phase(STANDARD, band_end, kustomer_time(high)),
    ]


def reaches_past_history(low: datetime, now: datetime) -> bool:
    """Whether a window starting at ``low`` asks for records older than standard search keeps."""
    return low < now - HISTORY
