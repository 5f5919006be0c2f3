"""Kustomer's per-minute budgets: one org-wide, one for searches made with API keys."""

import math
import threading
import time
from dataclasses import dataclass
from typing import Dict, Optional, Tuple


@dataclass
class Verdict:
    """Whether a request may proceed, and the x-ratelimit-* headers to send with it."""

    allowed: bool
    limit: int
    remaining: int
    reset_epoch: float

    def headers(self, reset_mode: str, retry_after: bool) -> Dict[str, str]:
        """Headers describing the budget; ``reset_mode`` is 'epoch', 'seconds' (time left) or 'absent'."""
        if self.limit <= 0:
            return {}
        seconds_left = max(0, math.ceil(self.reset_epoch - time.time()))
        out = {"x-ratelimit-limit": str(self.limit), "x-ratelimit-remaining": str(max(0, self.remaining))}
        if reset_mode != "absent":
            out["x-ratelimit-reset"] = str(math.ceil(self.reset_epoch)) if reset_mode == "epoch" else str(seconds_left)
        if not self.allowed and retry_after:
            out["Retry-After"] = str(max(1, seconds_left))
        return out


class Budgets:
    """Fixed windows of ``minute_seconds``; a search request counts against both budgets."""

    def __init__(self, org_per_minute: int, search_per_minute: int, minute_seconds: float) -> None:
        self.org_per_minute = org_per_minute
        self.search_per_minute = search_per_minute
        self.minute_seconds = minute_seconds
        self._lock = threading.Lock()
        self._window: Optional[int] = None
        self._used: Dict[str, int] = {"org": 0, "search": 0}

    def _roll(self, now: float) -> Tuple[int, float]:
        window = int(now // self.minute_seconds)
        if window != self._window:
            self._window = window
            self._used = {"org": 0, "search": 0}
        return window, (window + 1) * self.minute_seconds

    def spend(self, is_search: bool, now: Optional[float] = None) -> Verdict:
        """Count one request; a refused request spends nothing."""
        now = time.time() if now is None else now
        with self._lock:
            _, reset = self._roll(now)
            org_ok = self.org_per_minute <= 0 or self._used["org"] < self.org_per_minute
            search_ok = not is_search or self.search_per_minute <= 0 or self._used["search"] < self.search_per_minute
            allowed = org_ok and search_ok
            if allowed:
                self._used["org"] += 1
                if is_search:
                    self._used["search"] += 1
            if is_search and self.search_per_minute > 0:
                limit, used = self.search_per_minute, self._used["search"]
            else:
                limit, used = self.org_per_minute, self._used["org"]
            if not org_ok:
                limit, used = self.org_per_minute, self._used["org"]
            return Verdict(allowed=allowed, limit=limit, remaining=limit - used, reset_epoch=reset)
