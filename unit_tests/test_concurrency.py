"""The queue between the streams and the main thread holds bytes, not records: a stream that fills it waits."""

import json
import threading
import time
from queue import Full

import orjson
import pytest
from airbyte_cdk.models import AirbyteMessage, AirbyteStateMessage, Type
from airbyte_cdk.sources.types import Record

from source_kustomer.concurrency import MIN_ITEM_BYTES, RecordQueue, item_bytes


def _record(text_bytes: int, name: str = "r") -> Record:
    return Record(data={"id": name, "text": "x" * text_bytes}, stream_name="notes")


def test_a_record_is_charged_its_json_size_and_anything_else_the_minimum():
    big, nested = _record(4000), {"id": "deep"}
    cursor = nested
    for _ in range(300):  # deeper than orjson writes: the CDK prints it with json, and so it is sized
        cursor["a"] = {}
        cursor = cursor["a"]
    state = AirbyteMessage(type=Type.STATE, state=AirbyteStateMessage(data={}))
    assert item_bytes(big) == len(orjson.dumps(big.data)) == 4000 + len('{"id":"r","text":""}')
    assert item_bytes(Record(data=nested, stream_name="notes")) == len(json.dumps(nested)) == 2116
    assert item_bytes(_record(10)) == item_bytes(state) == item_bytes(object()) == MIN_ITEM_BYTES


def test_the_queue_counts_bytes_and_refuses_more_once_full():
    queue = RecordQueue(10_000)
    for n in range(3):
        queue.put(_record(3000, f"r{n}"), block=False)  # 9,063 bytes: still room
    assert queue.qsize() == 3 * item_bytes(_record(3000, "r0")) == 9063 and not queue.full()
    queue.put(_record(3000, "r3"), block=False)  # let in below the bound, however large: now past it
    assert queue.full()
    with pytest.raises(Full):
        queue.put(_record(0, "small"), block=False)  # how the CDK's main thread finds a full queue
    assert [queue.get().data["id"] for _ in range(4)] == ["r0", "r1", "r2", "r3"]
    assert queue.qsize() == 0 and queue.empty()


def test_a_record_larger_than_the_bound_passes_alone_and_is_never_stuck():
    queue = RecordQueue(1000)
    queue.put(_record(50_000), timeout=1)
    assert queue.full() and not queue.empty()
    assert queue.get().data["text"] == "x" * 50_000 and queue.empty()


def test_a_stream_that_fills_the_queue_waits_until_the_main_thread_takes_enough():
    queue = RecordQueue(10_000)
    done = []

    def stream() -> None:
        for n in range(6):
            queue.put(_record(4000, f"r{n}"))
            done.append(n)

    producer = threading.Thread(target=stream, daemon=True)
    producer.start()
    time.sleep(0.3)
    assert done == [0, 1, 2] and queue.full()  # three records of ~4 KB fill 10,000 bytes: the stream waits
    taken = [queue.get().data["id"] for _ in range(6)]
    producer.join(timeout=5)
    assert taken == [f"r{n}" for n in range(6)] and done == list(range(6)) and queue.empty()
