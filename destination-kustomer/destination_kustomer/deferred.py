"""Writes waiting on a per-object limit: a 429 that concerns one object (a customer's custom objects created past
Kustomer's 120 a minute, an object updated too often) puts that record's write aside until the object's wait is
over, while the batch's other records are written; the batch ends by sending each again once its wait is over.
A record refused this way ``MAX_WAITS`` times is reported failed (the next sync writes it again)."""

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, List

MAX_WAITS = 5

Retry = Callable[[int], None]  # sends the write again; given how many waits it has had so far


@dataclass
class _Waiting:
    ready_at: float
    waits: int
    retry: Retry


@dataclass
class Deferred:
    """The writes of one stream put aside until their object may be written again."""

    _waiting: List[_Waiting] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def wait(self, seconds: float, waits: int, retry: Retry) -> bool:
        """Put a write aside for ``seconds`` (its ``waits``-th wait); False when it has waited ``MAX_WAITS`` times
        already (the caller reports it failed)."""
        if waits >= MAX_WAITS:
            return False
        with self._lock:
            self._waiting.append(_Waiting(time.monotonic() + seconds, waits + 1, retry))
        return True

    def drain(self) -> None:
        """Send every write put aside again, each once its wait is over (a write put aside anew waits again)."""
        while True:
            with self._lock:
                if not self._waiting:
                    return
                self._waiting.sort(key=lambda waiting: waiting.ready_at)
                first = self._waiting.pop(0)
            time.sleep(max(0.0, first.ready_at - time.monotonic()))
            first.retry(first.waits)
