"""Faults injected on demand: what the network and a struggling API do to a long sync, and the pages they spoil."""

import threading
from dataclasses import dataclass
from typing import List, Optional
from urllib.parse import parse_qs, urlsplit

import orjson

from kustomer_simulator import hostile

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
    "dropped_records",  # a page without its first record, its meta.total and links unchanged
    "malformed",  # one record of a page is broken; `variant`: no_id, bad_updated_at, no_attributes, not_object
    "far_future",  # the last record of a search page is dated 2999, past the requested upper bound
    "foreign_next",  # a page whose links.next is `link` (another host, a scheme-relative path...)
    "self_next",  # a list page whose links.next points back at itself
    "trickle",  # the whole response sent one byte every `seconds`
    "endless",  # a 200 whose body never ends
    "gzip_bomb",  # a small gzip body inflating to `size_mb` MiB
    "redirect",  # 302 to `link`
    "echo_auth",  # 403 whose error detail repeats the request's Authorization header
    "echo_key",  # the request's key handed back in every form (hostile.key_echoes); `variant` says where
    "sparse_audit",  # audit entries without dates (the published schema requires only org, eventName, eventVerb)
    "oversized_page",  # a page bigger than asked: more records than its pageSize, or a body of `size_mb` MiB
    "merge_flood",  # a customer's merges page of `records` successful merges into it, linking to 10 such pages
    "merge_contradiction",  # a customer's merges page whose records contradict: `variant` self, cycle or reversed
    "large_records",  # a valid page whose every record carries `size_kb` KiB more, in a text attribute `padding`
)
# The variants of the kinds that have them; the first is the default.
VARIANTS = {
    "malformed": ("no_id", "bad_updated_at", "no_attributes", "not_object"),
    "sparse_audit": ("no_created_at", "no_dates"),
    "oversized_page": ("extra_records", "empty_objects", "minimal_records"),
    # detail: a 403 whose error detail holds them; record: the first record of the page carries them in its name
    # and self link; link: the page's next link carries the key in its query (and, followed, links to itself)
    "echo_key": ("detail", "record", "link"),
    # merged into itself; each merge also listed the other way round (a cycle); the kept customer said to be merged
    # away into the other, long before it last changed (reversed)
    "merge_contradiction": ("self", "cycle", "reversed"),
}
# Kinds that answer with the real page, changed (the rest answer instead of it).
PAGE_FAULTS = (
    "empty_next",
    "timed_out",
    "unsorted",
    "dropped_records",
    "malformed",
    "far_future",
    "foreign_next",
    "self_next",
    "sparse_audit",
    "merge_flood",
    "merge_contradiction",
    "large_records",
)
MERGE_FLOOD_PAGES = 10


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
    variant: str = ""  # for the kinds in VARIANTS (default: the kind's first)
    link: str = "////evil.invalid/v1/tags?page=2"  # for foreign_next and redirect
    size_mb: int = 1024  # for gzip_bomb and oversized_page's body variants
    records: int = 150_000  # for merge_flood
    size_kb: int = 64  # for large_records

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        choices = VARIANTS.get(self.kind, ())
        self.variant = self.variant or (choices[0] if choices else "")
        if self.variant and self.variant not in choices:
            raise ValueError(
                f"unknown {self.kind} variant {self.variant!r}; choose one of {', '.join(choices) or 'none'}"
            )

    @property
    def spoils_page(self) -> bool:
        """Whether this fault answers with the real page, changed (see ``spoil``)."""
        return (
            self.kind in PAGE_FAULTS
            or (self.kind, self.variant) == ("oversized_page", "extra_records")
            or (self.kind == "echo_key" and self.variant != "detail")
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


def spoil(fault: Fault, payload: bytes, request_path: str, key: str = "") -> bytes:
    """A 200 page changed the way ``fault`` says (for the faults whose ``spoils_page`` is true); ``key`` is the one
    the request carried."""
    if not fault.spoils_page:
        return payload
    if fault.kind == "merge_flood":
        return _merge_flood(fault.records, request_path)
    doc = orjson.loads(payload)
    data = doc.get("data") if isinstance(doc.get("data"), list) else []
    links = doc.setdefault("links", {})
    if fault.kind == "empty_next":
        doc["data"] = []
        if not links.get("next"):
            links["next"] = _next_page_link(request_path)
    elif fault.kind == "timed_out":
        doc["data"] = data[: len(data) // 2]
        doc.setdefault("meta", {})["timed_out"] = True
    elif fault.kind == "unsorted":
        doc["data"] = data[::-1]
    elif fault.kind == "dropped_records":
        doc["data"] = data[1:]
    elif fault.kind == "malformed" and data:
        _break(data, fault.variant)
    elif fault.kind == "far_future" and data:
        data[-1].setdefault("attributes", {})["updatedAt"] = "2999-01-01T00:00:00.000Z"
    elif fault.kind == "foreign_next":
        links["next"] = fault.link
    elif fault.kind == "self_next":
        links["next"] = request_path
    elif fault.kind == "sparse_audit":
        dropped = ("createdAt",) if fault.variant == "no_created_at" else ("createdAt", "publishedAt")
        for entry in data:
            for name in dropped:
                entry.get("attributes", {}).pop(name, None)
    elif fault.kind == "oversized_page":
        doc["data"] = data + [_copy_with_new_id(record) for record in data]
    elif fault.kind == "echo_key" and fault.variant == "link":
        links["next"] = hostile.key_query(request_path, key)
    elif fault.kind == "echo_key" and data and isinstance(data[0], dict):
        data[0].setdefault("attributes", {})["name"] = " ".join(hostile.key_echoes(key))
        record_links = data[0].setdefault("links", {})
        record_links["self"] = hostile.key_query(str(record_links.get("self") or "/"), key)
    elif fault.kind == "merge_contradiction":
        doc["data"] = [changed for record in data for changed in _contradict(record, fault.variant)]
    elif fault.kind == "large_records":
        padding = "x" * (fault.size_kb << 10)
        for record in data:
            if isinstance(record, dict):
                record.setdefault("attributes", {})["padding"] = padding
    return orjson.dumps(doc)


def _contradict(record: dict, variant: str) -> List[dict]:
    """A merge record made to contradict itself, the other records or the customers' own records."""
    ends = record.get("relationships", {})
    source, target = ends.get("source"), ends.get("target")
    if variant == "self":
        return [{**record, "relationships": {**ends, "source": target}}]
    flipped = {**record, "relationships": {**ends, "source": target, "target": source}}
    if variant == "cycle":
        return [record, {**flipped, "id": _copy_with_new_id(record)["id"]}]
    return [{**flipped, "attributes": {**record.get("attributes", {}), "createdAt": "2000-01-01T00:00:00.000Z"}}]


def _break(data: list, variant: str) -> None:
    record = data[0]
    if variant == "no_id":
        record.pop("id", None)
    elif variant == "bad_updated_at":
        record.setdefault("attributes", {})["updatedAt"] = "last tuesday"
    elif variant == "no_attributes":
        record.pop("attributes", None)
    else:
        data[0] = 42


def _copy_with_new_id(record: dict) -> dict:
    """The record under an id no record has (ids carry their collection's code in hex digits 9-10; ee is unused)."""
    rid = str(record.get("id", ""))
    return {**record, "id": f"{rid[:8]}ee{rid[10:]}" if len(rid) == 24 else f"{rid}-copy"}


def _next_page_link(request_path: str) -> str:
    parts = urlsplit(request_path)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    page = int(query.get("page", 1))
    return f"{parts.path}?page={page + 1}&pageSize={query.get('pageSize', 100)}"


def _merge_flood(records: int, request_path: str) -> bytes:
    """A merges page of ``records`` successful merges of made-up customers into the one asked about, linking on to
    ``MERGE_FLOOD_PAGES`` pages (written as bytes: a page of 150,000 records is about 80 MB)."""
    parts = urlsplit(request_path)
    customer = parts.path.rstrip("/").split("/")[-2]
    page = int({k: v[-1] for k, v in parse_qs(parts.query).items()}.get("page", 1))
    record = (
        '{"type":"customer_merge","id":"%s","attributes":{"status":"success","createdAt":"2026-01-01T00:00:00.000Z",'
        '"updatedAt":"2026-01-01T00:00:00.100Z"},"relationships":{"source":{"data":{"type":"customer","id":"%s"}},'
        '"target":{"data":{"type":"customer","id":"' + customer + '"}}}}'
    )
    data = ",".join(record % (f"f1{page:06x}{n:016x}", f"f0{page:06x}{n:016x}") for n in range(records))
    following = f"{parts.path}?page={page + 1}&pageSize=100" if page < MERGE_FLOOD_PAGES else None
    return orjson.dumps({"links": {"next": following}, "meta": {"page": page}})[:-1] + f',"data":[{data}]}}'.encode()
