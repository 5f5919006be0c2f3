"""One Kustomer resource's records: timestamps held in arrays, bodies rendered on demand.

Records are identified by their index. Only what search and ground truth need is kept in
memory (created/updated milliseconds, deleted flags, a tie-break key and two sorted
indexes), so a million records cost a few tens of megabytes and a second or two to build.
Records written through the API are kept as what was written: the attributes and relationships of an update
lie over the generated record, and a record created through the API (appended after the generated ones) is only
what was written.
"""

import bisect
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Set, Tuple

import orjson

RecordRenderer = Callable[["Collection", int], dict]


def mix32(*parts: int) -> int:
    """A cheap, deterministic 32-bit hash of integers (multiply-xorshift)."""
    h = 0x811C9DC5
    for part in parts:
        h = ((h ^ (part & 0xFFFFFFFFFFFF)) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h & 0xFFFFFFFF


@dataclass
class Collection:
    """The records of one resource (or of one klass, for custom objects)."""

    name: str
    type: str
    code: int
    count: int
    seed: int
    renderer: RecordRenderer
    created_ms: List[int] = field(default_factory=list)
    updated_ms: List[int] = field(default_factory=list)
    deleted: Set[int] = field(default_factory=set)  # soft-deleted: found only with includeDeleted
    removed: Set[int] = field(default_factory=set)  # hard-deleted or merged away: on no endpoint any more
    revisions: Dict[int, int] = field(default_factory=dict)
    edits: Dict[int, int] = field(default_factory=dict)  # changes made through the API per record (each moves ``rev``)
    shows_rev: bool = False  # whether records carry ``rev`` (customers and custom objects, as their answers show)
    # Written through the API: attributes and relationships per record, and the renderer of created records.
    written: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    written_links: Dict[int, Dict[str, Any]] = field(default_factory=dict)
    created_renderer: Optional[RecordRenderer] = None
    _order_all: List[Tuple[int, int, int]] = field(default_factory=list)
    _order_live: List[Tuple[int, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._id_infix = f"{self.code:02x}{mix32(self.seed, self.code):08x}"
        self._json: Dict[int, bytes] = {}
        self.generated = self.count  # records from index ``generated`` on were created through the API

    def build_timeline(
        self,
        start_ms: int,
        end_ms: int,
        tie_clusters: Iterable[int] = (),
        deleted_fraction: float = 0.0,
    ) -> None:
        """Draw creation/update times (creation roughly follows the index), ties and deletions."""
        rng = random.Random(mix32(self.seed, self.code))
        n = self.count
        span = max(1, end_ms - start_ms)
        step = span / max(1, n)
        created = [0] * n
        updated = [0] * n
        for i in range(n):
            c = start_ms + int(i * step + rng.random() * step)
            created[i] = c
            updated[i] = c + int((end_ms - c) * rng.random() ** 3)
        self.created_ms, self.updated_ms = created, updated
        for size in tie_clusters:
            if 0 < size <= n:
                first = rng.randrange(0, n - size + 1)
                shared = max(updated[first : first + size])
                for i in range(first, first + size):
                    updated[i] = shared
        if deleted_fraction > 0:
            threshold = int(deleted_fraction * 0xFFFFFFFF)
            self.deleted = {i for i in range(n) if mix32(self.seed, self.code, i, 7) < threshold}
        self.reindex()

    def order_key(self, i: int) -> Tuple[int, int, int]:
        # Ties are ordered by a hash of the index: stable between queries, but not id order.
        return (self.updated_ms[i], mix32(self.seed, self.code, i), i)

    def reindex(self) -> None:
        """Rebuild the sorted orders after timestamps were changed in place."""
        self._order_all = sorted(self.order_key(i) for i in range(self.count))
        self._order_live = [k for k in self._order_all if k[2] not in self.deleted]

    def record_id(self, i: int) -> str:
        """A Mongo-ObjectId-shaped id: creation seconds, a per-collection salt, the index."""
        return f"{self.created_ms[i] // 1000:08x}{self._id_infix}{i:06x}"

    def issued(self, record_id: str) -> Optional[int]:
        """The index behind an id this collection issued (even if the record was removed since), or None."""
        if len(record_id) != 24 or record_id[8:10] != f"{self.code:02x}":
            return None
        try:
            i = int(record_id[18:], 16)
        except ValueError:
            return None
        return i if i < self.count and self.record_id(i) == record_id else None

    def index_of(self, record_id: str) -> Optional[int]:
        """The index behind an id of a record that still exists (live or soft-deleted), or None."""
        i = self.issued(record_id)
        return i if i is not None and i not in self.removed else None

    def render(self, i: int) -> dict:
        """The JSON:API resource object for record i, with what the API wrote over it."""
        if i < self.generated or self.created_renderer is None:
            record = self.renderer(self, i)
        else:
            record = self.created_renderer(self, i)
        if i in self.written:
            record["attributes"].update(self.written[i])
        if i in self.written_links:
            record["relationships"].update(self.written_links[i])
            record["relationships"] = {k: v for k, v in record["relationships"].items() if v is not None}
        if self.shows_rev:
            record["attributes"]["rev"] = self.rev(i)
        return record

    def rev(self, i: int) -> int:
        """Record i's revision: 1 when generated or created, one more for each change since."""
        return 1 + self.revisions.get(i, 0) + self.edits.get(i, 0)

    def render_json(self, i: int) -> bytes:
        """Record i serialized, cached until the record changes (serving is then a join of bytes)."""
        cached = self._json.get(i)
        if cached is None:
            cached = self._json[i] = orjson.dumps(self.render(i))
        return cached

    def prerender(self) -> None:
        """Serialize every record now, so serving never waits on rendering (used by benchmarks)."""
        for i in range(self.count):
            self.render_json(i)

    def updated_slice(
        self, low: Optional[Tuple[int, bool]], high: Optional[Tuple[int, bool]], include_deleted: bool
    ) -> Tuple[List[Tuple[int, int, int]], int, int]:
        """The sorted order and the [lo, hi) slice bounds matching the updatedAt bounds."""
        order = self._order_all if include_deleted else self._order_live
        lo, hi = 0, len(order)
        if low is not None:
            ms, inclusive = low
            lo = bisect.bisect_left(order, (ms if inclusive else ms + 1,))
        if high is not None:
            ms, inclusive = high
            hi = bisect.bisect_left(order, (ms + 1 if inclusive else ms,))
        return order, lo, max(lo, hi)

    def live_indexes(self) -> Iterable[int]:
        """Indexes of records that are neither deleted nor removed, in creation order."""
        return (i for i in range(self.count) if i not in self.deleted and i not in self.removed)

    def exists(self, i: int) -> bool:
        """Whether record i can still be found at all (live or soft-deleted)."""
        return i not in self.removed

    def _unorder(self, i: int, orders: Iterable[List[Tuple[int, int, int]]]) -> None:
        key = self.order_key(i)
        for order in orders:
            pos = bisect.bisect_left(order, key)
            if pos < len(order) and order[pos] == key:
                del order[pos]

    def soft_delete(self, i: int, at_ms: int, revise: bool = True) -> bool:
        """Mark record i deleted at ``at_ms`` (its updatedAt and deletedAt); False if it was not live."""
        if i in self.deleted or i in self.removed:
            return False
        self._unorder(i, [self._order_live])
        self.deleted.add(i)
        self.touch(i, at_ms, revise)
        return True

    def hard_delete(self, i: int) -> bool:
        """Remove record i from every endpoint; False if it was already gone."""
        if i in self.removed:
            return False
        self._unorder(i, [self._order_all, self._order_live])
        self.removed.add(i)
        self._json.pop(i, None)
        return True

    def touch(self, i: int, at_ms: int, revise: bool = True) -> None:
        """Move record i's updatedAt forward (an update made in Kustomer). ``revise`` draws its generated values
        anew (someone edited it in Kustomer); an API write changes only what it wrote."""
        self._json.pop(i, None)
        if at_ms <= self.updated_ms[i] or i in self.removed:
            return
        self._unorder(i, [self._order_all, self._order_live])
        self.updated_ms[i] = at_ms
        self.revisions[i] = self.revisions.get(i, 0) + (1 if revise else 0)
        new = self.order_key(i)
        bisect.insort(self._order_all, new)
        if i not in self.deleted:
            bisect.insort(self._order_live, new)

    def append(self, at_ms: int) -> int:
        """A new record created at ``at_ms`` (found by lists, search and ground truth from now on); its index."""
        i = self.count
        self.count += 1
        self.created_ms.append(at_ms)
        self.updated_ms.append(at_ms)
        self.revisions[i] = 0  # a new record, like an updated one, reaches the search index within the lag
        key = self.order_key(i)
        bisect.insort(self._order_all, key)
        bisect.insort(self._order_live, key)
        return i

    def write(self, i: int, attributes: Mapping[str, Any], links: Mapping[str, Any], at_ms: int) -> None:
        """Record what an API write set on record i (a relationship set to None is removed) and date it."""
        self.written.setdefault(i, {}).update(attributes)
        if links:
            self.written_links.setdefault(i, {}).update(links)
        self.touch(i, at_ms, revise=False)

    def restore(self, i: int, at_ms: int) -> bool:
        """Undo a soft delete of record i at ``at_ms``; False if it was not soft-deleted."""
        if i not in self.deleted or i in self.removed:
            return False
        self.deleted.discard(i)
        bisect.insort(self._order_live, self.order_key(i))
        self.touch(i, at_ms, revise=False)
        return True
