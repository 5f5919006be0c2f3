"""Per-stream progress: its own waits, 429s and retries, as its clients counted them."""

from kustomer_http.rate_policy import RateStats

from source_kustomer.progress import StreamProgress


def test_a_stream_reports_the_waits_its_own_requests_made():
    own = RateStats()
    progress = StreamProgress("first", own)
    progress.start()
    own.add_wait(2.0)
    own.add_wait(0.5)
    progress.finish()
    assert (progress.rate_waits, progress.rate_wait_seconds) == (2, 2.5)
    assert progress.as_dict()["rate_waits"] == 2
    assert progress.describe().startswith("first: 0 records, 0 pages, 2 rate waits (2.5s)")
