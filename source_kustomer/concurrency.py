"""Streams read at the same time, on airbyte-cdk's concurrent framework -- the one module where our streams meet
its machinery (the adapter named by ``unit_tests/test_cdk_boundary.py``; it needs no private CDK member).

Each selected stream becomes the CDK's ``DefaultStream`` over the CDK's own ``StreamPartitionGenerator``: one
partition per stream, as the stream's parts (search phases, audit weeks, list variants) depend on one another
and run in order inside it. The CDK's ``ConcurrentSource`` reads up to ``max_concurrent_streams`` of them at once
on its thread pool. They share the connection's rate budget, so together they never spend more than the
configured share of either Kustomer budget.

Checkpoints stay exact: a stream yields its own STATE messages right after the records they cover; the CDK's
``StreamPartition`` hands them to a ``ConcurrentMessageRepository`` that puts them on the very queue the records
travel on, so a state never overtakes a record it covers. ``StreamStateCursor`` is the framework's cursor for
such a stream: it emits the stream's state once more when the stream is done.

The queue is bounded in bytes (``RecordQueue``), not in items: a stream that fills it waits until the main thread
has written enough out, so however slowly the platform reads stdout, what waits in memory stays the same size.
"""

import json
import logging
from collections import deque
from queue import Queue
from typing import Any, Deque, Iterable, Iterator, List, MutableMapping, Optional, Tuple

import orjson
from airbyte_cdk.models import AirbyteMessage
from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.message import InMemoryMessageRepository, MessageRepository
from airbyte_cdk.sources.message.concurrent_repository import ConcurrentMessageRepository
from airbyte_cdk.sources.streams.concurrent.adapters import StreamPartitionGenerator
from airbyte_cdk.sources.streams.concurrent.cursor import Cursor, CursorField
from airbyte_cdk.sources.streams.concurrent.default_stream import DefaultStream
from airbyte_cdk.sources.streams.concurrent.helpers import get_cursor_field_from_stream, get_primary_key_from_stream
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger

from source_kustomer import page_share
from source_kustomer.streams.base import KustomerStream

# What may wait for the main thread, across streams: records counted as their JSON size, every item at least
# MIN_ITEM_BYTES. A record takes about 5.4 times its JSON size as Python objects (a typical 1 KB record 5 KB; a
# record of one long text about 1x), so this is at most ~45 MB, about 9,000 typical records (the CDK's default
# held 10,000 records of any size).
QUEUE_BYTES = 8 << 20
MIN_ITEM_BYTES = 512  # a small record takes ~500 bytes as Python objects; states and the framework's markers less


def item_bytes(item: Any) -> int:
    """What ``item`` is charged in the queue: a record its share of the page it came from (``page_share``) or else
    its JSON size, anything else (a state, a log line, the framework's markers) the minimum."""
    if not isinstance(item, Record):
        return MIN_ITEM_BYTES
    share = page_share.take()
    if share is not None:
        return max(share, MIN_ITEM_BYTES)
    try:
        size = len(orjson.dumps(item.data, default=str))
    except TypeError:  # nested deeper than orjson writes: the CDK prints such a record with json, sized so here
        size = len(json.dumps(item.data, default=str))
    return max(size, MIN_ITEM_BYTES)


class RecordQueue(Queue):
    """The queue between the streams and the main thread, bounded in bytes (``item_bytes``): ``put`` waits while
    ``max_bytes`` or more are queued. An item is let in whenever less is queued, however large, so one record
    larger than the bound still passes (the bound is exceeded by at most one item) and no stream waits forever."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(maxsize=max_bytes)

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        """Queue ``item``, sized here, in the putting thread, before the queue's lock is taken."""
        super().put((item, item_bytes(item)), block, timeout)

    # The storage ``Queue`` calls under its lock; its size is in bytes, never 0 while an item is queued.
    def _init(self, maxsize: int) -> None:
        self.queue: Deque[Tuple[Any, int]] = deque()
        self.queued_bytes = 0

    def _qsize(self) -> int:
        return self.queued_bytes

    def _put(self, sized: Tuple[Any, int]) -> None:
        self.queue.append(sized)
        self.queued_bytes += sized[1]

    def _get(self) -> Any:
        item, size = self.queue.popleft()
        self.queued_bytes -= size
        return item


class StreamStateCursor(Cursor):
    """The cursor of a stream that checkpoints itself: its state is the stream's, emitted once more at its end."""

    def __init__(self, stream: KustomerStream, message_repository: MessageRepository) -> None:
        self.stream = stream
        self.message_repository = message_repository

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self.stream.state

    def observe(self, record: Record) -> None:
        """Nothing to do: the stream moves its own position."""

    def close_partition(self, partition: Partition) -> None:
        """Nothing to do: the stream's last STATE follows its last record; the final one comes when it is done."""

    def ensure_at_least_one_state_emitted(self) -> None:
        """The stream's state as it ended (after a failure too: it only ever covers records already emitted)."""
        self.message_repository.emit_message(self.stream.checkpoint())

    def should_be_synced(self, record: Record) -> bool:
        return True

    def stream_slices(self) -> Iterable[StreamSlice]:
        """One partition per stream (the partition generator asks the stream itself for it)."""
        yield StreamSlice(partition={}, cursor_slice={})


class ConcurrentRead:
    """The queue, message repository and thread pool of one read."""

    def __init__(self, max_concurrent_streams: int, logger: logging.Logger) -> None:
        self.logger = logger
        self.queue = RecordQueue(QUEUE_BYTES)
        self.message_repository = ConcurrentMessageRepository(self.queue, InMemoryMessageRepository())
        # One worker generates the (single) partition of each stream in turn; the others read streams.
        self.source = ConcurrentSource.create(
            num_workers=max_concurrent_streams + 1,
            initial_number_of_partitions_to_generate=1,
            logger=logger,
            slice_logger=DebugSliceLogger(),
            message_repository=self.message_repository,
            queue=self.queue,
        )

    def read(self, streams: List[KustomerStream]) -> Iterator[AirbyteMessage]:
        """Every message of ``streams``, read concurrently, in the order they reach the queue."""
        return self.source.read([self.concurrent_stream(stream) for stream in streams])

    def concurrent_stream(self, stream: KustomerStream) -> DefaultStream:
        """``stream`` as a stream of the concurrent framework: its records, its checkpoints and its final state."""
        cursor_field = get_cursor_field_from_stream(stream)
        return DefaultStream(
            partition_generator=StreamPartitionGenerator(
                stream,
                self.message_repository,
                stream.sync_mode,
                [cursor_field] if cursor_field else None,
                dict(stream.state),
            ),
            name=stream.name,
            json_schema=stream.get_json_schema(),
            primary_key=get_primary_key_from_stream(stream.primary_key),
            cursor_field=CursorField(cursor_field_key=cursor_field) if cursor_field else None,
            logger=self.logger,
            cursor=StreamStateCursor(stream, self.message_repository),
        )
