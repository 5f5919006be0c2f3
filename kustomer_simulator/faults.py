"""Faults injected on demand: what the network and a struggling API do to a long sync."""

import threading
from dataclasses import dataclass
from typing import List, Optional

FAULT_KINDS = (
    "status",  # an HTTP error status (default 503) with a JSON error body
    "reset",  # the connection is closed without a response
    "slow",  # the response is held back for `seconds`
    "truncated",  # the body is cut short of its Content-Length
    "invalid_json",  # 200 with an HTML body
    "rate_limit",  # a 429 storm; `reset` says how x-ratelimit-reset misbehaves
    "unauthorized",  # 401: the key expired mid-sync
    "empty_next",  # an empty page that still links to a next one
    "timed_out",  # a search page cut short and flagged meta.timed_out (Kustomer's partial result)
    "unsorted",  # a search page whose records come back in the reverse of the requested order
    "malformed",  # one record of a page is broken; `variant`: no_id, bad_updated_at, no_attributes, not_object
    "far_future",  # the last record of a search page is dated 2999, past the requested upper bound
    "foreign_next",  # a page whose links.next is `link` (another host, a scheme-relative path...)
    "self_next",  # a list page whose links.next points back at itself
    "trickle",  # the whole response sent one byte every `seconds`
    "endless",  # a 200 whose body never ends
    "gzip_bomb",  # a small gzip body inflating to `size_mb` MiB
    "redirect",  # 302 to `link`
    "echo_auth",  # 403 whose error detail repeats the request's Authorization header
)
MALFORMED_VARIANTS = ("no_id", "bad_updated_at", "no_attributes", "not_object")


@dataclass
class Fault:
    """One injected fault. ``count`` < 0 means until cleared; ``after`` skips matching requests first."""

    kind: str
    count: int = 1
    after: int = 0
    scope: str = "any"  # any | search | list | a path prefix such as /v1/users
    status: int = 503
    seconds: float = 0.0
    retry_after: bool = True
    reset: str = "normal"  # normal | past | future | garbage | missing
    variant: str = "no_id"  # for malformed
    link: str = "////evil.invalid/v1/tags?page=2"  # for foreign_next and redirect
    size_mb: int = 1024  # for gzip_bomb

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        if self.variant not in MALFORMED_VARIANTS:
            raise ValueError(
                f"unknown malformed variant {self.variant!r}; choose one of {', '.join(MALFORMED_VARIANTS)}"
            )

    def matches(self, path: str, is_search: bool) -> bool:
        """Whether this fault applies to a request for ``path``."""
        if self.scope == "any":
            return True
        if self.scope == "search":
            return is_search
        if self.scope == "list":
            return not is_search
        return path.startswith(self.scope)


class FaultPlan:
    """The faults waiting to fire; each request takes at most one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: List[Fault] = []
        self.fired: dict = {}

    def add(self, fault: Fault) -> None:
        """Queue a fault."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def take(self, path: str, is_search: bool) -> Optional[Fault]:
        """The fault this request suffers, if any."""
        with self._lock:
            for fault in self._faults:
                if not fault.matches(path, is_search):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                if fault.count == 0:
                    continue
                if fault.count > 0:
                    fault.count -= 1
                self.fired[fault.kind] = self.fired.get(fault.kind, 0) + 1
                return fault
            return None
