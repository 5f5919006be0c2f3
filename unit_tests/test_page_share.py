"""A record read from a page weighs its share of the page's body in the record queue; anything else is sized on its
own (source_kustomer/page_share.py, concurrency.item_bytes)."""

import threading
from typing import Mapping

import orjson
import requests
from airbyte_cdk.models import SyncMode
from airbyte_cdk.sources.types import Record

from kustomer_simulator.testing import TEST_TOKEN, running_simulator
from source_kustomer import page_share
from source_kustomer.concurrency import MIN_ITEM_BYTES, item_bytes
from source_kustomer.source import connect
from source_kustomer.streams import catalog_streams
from source_kustomer.streams.base import KustomerStream


def _record(text_bytes: int) -> Record:
    return Record(data={"id": "r", "text": "x" * text_bytes}, stream_name="customers")


def test_a_page_s_records_weigh_its_body_shared_out_then_records_are_sized_on_their_own():
    page_share.note_page(9_000, 3)
    assert [item_bytes(_record(10)) for _ in range(3)] == [3_000, 3_000, 3_000]  # 9,000 bytes over three records
    assert item_bytes(_record(4_000)) == len(orjson.dumps(_record(4_000).data))  # a fourth: not of that page
    page_share.note_page(600, 3)
    assert item_bytes(_record(10)) == MIN_ITEM_BYTES  # a share is never below the minimum
    page_share.clear()
    assert item_bytes(_record(4_000)) == 4_000 + len('{"id":"r","text":""}')


def test_each_thread_charges_the_page_it_parsed():
    page_share.note_page(50_000, 10)
    seen = []
    other = threading.Thread(target=lambda: seen.append(item_bytes(_record(2_000))))
    other.start()
    other.join()
    assert seen == [2_000 + len('{"id":"r","text":""}')]  # the other thread parsed no page
    assert item_bytes(_record(10)) == 5_000
    page_share.clear()


def test_a_stream_charges_its_records_shares_of_its_own_pages_never_of_a_page_read_before_it(monkeypatch):
    """A thread's records are charged the share of the page it parsed last, as many as that page held (a reader
    may fetch a page ahead of the records it yields), then their own size; a stream starts with no share."""
    shares, page_records = set(), KustomerStream.page_records

    def noting_the_pages(stream: KustomerStream, response: requests.Response) -> list:
        records = page_records(stream, response)
        shares.add(max(len(response.content) // max(len(records), 1), MIN_ITEM_BYTES))
        return records

    monkeypatch.setattr(KustomerStream, "page_records", noting_the_pages)
    with running_simulator(seed=3, scale=3000) as sim:
        config = {"api_token": TEST_TOKEN, "api_url": sim.url, "page_size": 100, "start_date": "2020-01-01T00:00:00Z"}
        customers = next(s for s in catalog_streams(connect(config)) if s.name == "customers")
        page_share.note_page(10_000_000, 1_000)  # another stream's page, read last on this thread
        read, charged = [], []
        for record in customers.read_records(SyncMode.full_refresh):
            if isinstance(record, Mapping):  # charged as it comes, as the CDK's partition reader queues it
                read.append(record)
                charged.append(item_bytes(Record(data=record, stream_name="customers")))
    exact = [max(len(orjson.dumps(r)), MIN_ITEM_BYTES) for r in read]
    assert len(read) > 500 and 10_000 not in charged
    assert all(c == e or c in shares for c, e in zip(charged, exact, strict=True))
    assert sum(c in shares and c != e for c, e in zip(charged, exact, strict=True)) > len(read) / 2  # mostly shares
    assert sum(exact) <= sum(charged)  # flattened, the records weigh no more than the pages they came from
