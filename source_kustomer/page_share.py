"""What a record read from a page weighs in the record queue (``concurrency.RecordQueue``): a share of the page's
body, noted by the thread that parsed the page -- the thread that then puts the page's records on the queue.

Serialising each record once more only to size it took about a twentieth of a sync's CPU per record, and the body's
length is known already. Records are flattened from their page's body, so together they weigh about what it does:
the records a thread puts after parsing a page, as many as the page held, are each charged the body's length over
its records (a reader that fetches the next page before it has put the last records of one charges those the new
page's share: pages of one stream weigh alike). A record put after that many (one read another way: an included
resource, an audit-log entry) is sized on its own. A stream clears its thread's share when it starts, so no share
outlives the stream whose page it came from."""

import threading
from typing import Optional

_noted = threading.local()


def note_page(body_bytes: int, records: int) -> None:
    """The page this thread parsed: ``body_bytes`` long, holding ``records`` records."""
    _noted.share = body_bytes // records if records else 0
    _noted.left = records


def clear() -> None:
    """Forget this thread's page: the records it puts next are sized on their own."""
    _noted.left = 0


def take() -> Optional[int]:
    """The share of the next record of this thread's page, or None once the page's records are all charged."""
    left = getattr(_noted, "left", 0)
    if not left:
        return None
    _noted.left = left - 1
    return _noted.share
