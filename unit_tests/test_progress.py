"""Per-stream progress: its own waits, 429s and retries, as its clients counted them, in words that read right."""

import threading
import time

from kustomer_http.rate_policy import RateStats

from source_kustomer.progress import StreamProgress, counted


def _pause(stats: RateStats, seconds: float) -> None:
    with stats.pausing():
        time.sleep(seconds)


def test_a_stream_reports_the_waits_its_own_requests_made():
    own = RateStats()
    progress = StreamProgress("first", own)
    progress.start()
    _pause(own, 0.2)
    _pause(own, 0.1)
    progress.finish()
    assert progress.rate_waits == 2 and 0.3 <= progress.rate_wait_seconds < 0.3 + 0.1
    assert progress.as_dict()["rate_waits"] == 2
    assert progress.describe().startswith("first: 0 records, 0 pages, 2 rate waits (0.3s)")


def test_requests_of_one_stream_waiting_side_by_side_count_their_wall_time_once():
    """Eight requests in flight pause 0.4 s each at the same time: 0.4 s of waiting, not 3.2 s, and never more than
    the stream's own duration."""
    own = RateStats()
    progress = StreamProgress("conversations", own)
    progress.start()
    waiters = [threading.Thread(target=_pause, args=(own, 0.4)) for _ in range(8)]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    _pause(own, 0.1)  # one more, alone, after the others
    progress.finish()
    row = progress.as_dict()
    assert row["rate_waits"] == 9
    assert 0.5 <= row["rate_wait_s"] < 0.5 + 0.15
    assert row["rate_wait_s"] <= row["duration_s"]


def test_a_pause_under_way_counts_up_to_now():
    own = RateStats()
    entered, release = threading.Event(), threading.Event()

    def pausing() -> None:
        with own.pausing():
            entered.set()
            release.wait()

    waiter = threading.Thread(target=pausing)
    waiter.start()
    entered.wait()
    time.sleep(0.2)
    assert own.wait_seconds >= 0.2
    release.set()
    waiter.join()
    ended = own.wait_seconds
    time.sleep(0.05)
    assert own.wait_seconds == ended  # nothing pauses now: the figure stops


def test_counts_read_as_counts():
    assert [counted(n, "page") for n in (0, 1, 2, 1500)] == ["0 pages", "1 page", "2 pages", "1,500 pages"]
    assert counted(1, "retry", "retries") == "1 retry" and counted(3, "retry", "retries") == "3 retries"
    progress = StreamProgress("tags", RateStats())
    progress.records, progress.pages, progress.possible_duplicates, progress.deletions = 1, 1, 1, 1
    progress.http_stats.retries = 1
    progress.start()
    progress.finish()
    line = progress.summary_line()
    assert line.startswith("summary tags: 1 record, 1 page, 0 rate waits (0.0s), 0 throttled (429), 1 retry, ")
    assert "1 possible duplicate, 1 deletion," in line
