"""Per-stream progress counts only what happened while that stream ran."""

from kustomer_http.rate_policy import RateStats

from source_kustomer.progress import StreamProgress


def test_rate_waits_stop_counting_when_the_stream_finishes():
    shared = RateStats()
    shared.add_wait(1.0)  # before the stream: not its wait
    first = StreamProgress("first", shared, RateStats())
    first.start()
    shared.add_wait(2.0)
    first.finish()
    second = StreamProgress("second", shared, RateStats())
    second.start()
    shared.add_wait(4.0)
    assert (first.rate_waits, first.rate_wait_seconds) == (1, 2.0)
    assert (second.rate_waits, second.rate_wait_seconds) == (1, 4.0)
    assert first.as_dict()["rate_waits"] == 1 and first.describe().startswith("first: 0 records, 0 pages, 1 rate waits")
