"""Streams read at the same time, on airbyte-cdk's concurrent framework.

Each selected stream becomes a ``StreamFacade`` over one partition -- the stream's parts (search phases, audit
weeks, list variants) depend on one another and run in order inside it -- and the CDK's ``ConcurrentSource``
reads up to ``max_concurrent_streams`` of them at once on its thread pool. They share the connection's rate
budget, so together they never spend more than the configured share of either Kustomer budget.

Checkpoints stay exact: a stream yields its own STATE messages right after the records they cover, and the
facade hands them to a ``ConcurrentMessageRepository`` that puts them on the very queue the records travel on,
so a state never overtakes a record it covers. ``StreamStateCursor`` is the framework's cursor for such a
stream: it emits the stream's state once more when the stream is done.
"""

import logging
import warnings
from queue import Queue
from typing import Any, Iterable, MutableMapping

from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.concurrent_source.concurrent_source import ConcurrentSource
from airbyte_cdk.sources.message import InMemoryMessageRepository, MessageRepository
from airbyte_cdk.sources.message.concurrent_repository import ConcurrentMessageRepository
from airbyte_cdk.sources.source import ExperimentalClassWarning
from airbyte_cdk.sources.streams import Stream
from airbyte_cdk.sources.streams.concurrent.adapters import StreamFacade
from airbyte_cdk.sources.streams.concurrent.cursor import Cursor
from airbyte_cdk.sources.streams.concurrent.partitions.partition import Partition
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.sources.utils.slice_logger import DebugSliceLogger

from source_kustomer.streams.base import KustomerStream

QUEUE_SIZE = 10_000  # records waiting for the main thread, across streams (the CDK's default)


class StreamStateCursor(Cursor):
    """The cursor of a stream that checkpoints itself: its state is the stream's, emitted once more at its end."""

    def __init__(self, stream: KustomerStream, message_repository: MessageRepository) -> None:
        self._stream = stream
        self._message_repository = message_repository

    @property
    def state(self) -> MutableMapping[str, Any]:
        return self._stream.state

    def observe(self, record: Record) -> None:
        """Nothing to do: the stream moves its own position."""

    def close_partition(self, partition: Partition) -> None:
        """Nothing to do: the stream's last STATE follows its last record; the final one comes when it is done."""

    def ensure_at_least_one_state_emitted(self) -> None:
        """The stream's state as it ended (after a failure too: it only ever covers records already emitted)."""
        self._message_repository.emit_message(self._stream.checkpoint())

    def should_be_synced(self, record: Record) -> bool:
        return True

    def stream_slices(self) -> Iterable[StreamSlice]:
        """One partition per stream (the facade asks the stream itself for it)."""
        yield StreamSlice(partition={}, cursor_slice={})


class ConcurrentRead:
    """The queue, message repository and thread pool of one read."""

    def __init__(self, max_concurrent_streams: int, logger: logging.Logger) -> None:
        self.queue: Queue = Queue(maxsize=QUEUE_SIZE)
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

    def facade(self, stream: KustomerStream, source: AbstractSource, logger: logging.Logger) -> Stream:
        """``stream`` as a stream of the concurrent framework."""
        cursor = StreamStateCursor(stream, self.message_repository)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalClassWarning)  # StreamFacade is marked experimental
            return StreamFacade.create_from_stream(stream, source, logger, dict(stream.state), cursor)
