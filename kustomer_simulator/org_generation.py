"""Drawing an org from its seed: how many records each resource has, their timelines, and how they relate.

``OrgBuilder(org, renderer_of).build()`` fills ``org.collections`` in a fixed order (a collection's code, and so its
ids and every value drawn for it, depends on that order), deactivates some users, shapes the work sessions into
shifts, ties each work item to a conversation and writes the audit log's history. The same seed always builds the
same org.
"""

import random
from typing import TYPE_CHECKING, Callable, Dict

from kustomer_simulator.audit import LONG_TERM_DAYS
from kustomer_simulator.collection import Collection, RecordRenderer, mix32
from kustomer_simulator.timefmt import DAY_MS

if TYPE_CHECKING:
    from kustomer_simulator.org import Org

HOUR_MS = 3_600_000

# Share of --scale given to each searchable resource (kobjects are split between klasses).
SEARCH_SHARES = {
    "customer": 0.20,
    "conversation": 0.22,
    "message": 0.40,
    "note": 0.06,
    "company": 0.02,
    "kobject": 0.10,
}
LIST_TYPES = {
    "users": "user",
    "teams": "team",
    "tags": "tag",
    "shortcuts": "shortcut",
    "brands": "brand",
    "queues": "queue",
    "satisfaction": "satisfaction",
    "slas": "sla",
    "business_schedules": "schedule",
}


def list_counts(scale: int) -> Dict[str, int]:
    """Sizes of the configuration lists, growing gently with the org."""
    return {
        "users": max(20, min(2000, scale // 1000)),
        "teams": 12,
        "tags": 60,
        "shortcuts": 80,
        "brands": 3,
        "queues": 10,
        "satisfaction": 4,
        "slas": 5,
        "business_schedules": 3,
    }


class OrgBuilder:
    """Builds the collections of ``org`` (each with the renderer ``renderer_of`` names for it)."""

    def __init__(self, org: "Org", renderer_of: Callable[[str], RecordRenderer]) -> None:
        self.org = org
        self.settings = org.settings
        self.renderer_of = renderer_of

    def build(self) -> None:
        """Every collection, then the audit log's history."""
        self._build_collections()
        self._build_audit_history()

    def _count(self, name: str, default: int) -> int:
        return int(self.settings.counts.get(name, default))

    def _add(self, name: str, type_: str, count: int, searchable: bool) -> Collection:
        coll = Collection(
            name=name,
            type=type_,
            code=len(self.org.collections) + 1,
            count=count,
            seed=self.settings.seed,
            renderer=self.renderer_of(name),
        )
        coll.build_timeline(
            self.org.start_ms,
            self.org.end_ms,
            tie_clusters=self.settings.tie_clusters if searchable else (),
            deleted_fraction=self.settings.deleted_fraction if searchable else 0.0,
        )
        self.org.collections[name] = coll
        return coll

    def _build_collections(self) -> None:
        scale = self.settings.scale
        for name, count in list_counts(scale).items():
            self._add(name, LIST_TYPES[name], self._count(name, count), False)
        self._deactivate_users()
        self._add("klasses", "klass", len(self.settings.klasses), False)
        shares = {ctx: max(1, int(scale * share)) for ctx, share in SEARCH_SHARES.items()}
        self._add("companies", "company", self._count("companies", shares["company"]), True)
        self._add("customers", "customer", self._count("customers", shares["customer"]), True)
        self._add("conversations", "conversation", self._count("conversations", shares["conversation"]), True)
        self._add("messages", "message", self._count("messages", shares["message"]), True)
        self._add("notes", "note", self._count("notes", shares["note"]), True)
        per_klass = max(1, shares["kobject"] // max(1, len(self.settings.klasses)))
        for klass in self.settings.klasses:
            name = f"kobjects_{klass}"
            self._add(name, f"kobject.{klass}", self._count(name, per_klass), True)
        conversations = self.org.collections["conversations"].count
        time_count = self._count("conversation_times", conversations)
        times = self._add("conversation_times", "conversation_time", time_count, True)
        times.deleted = set()
        times.created_ms = list(times.updated_ms)  # a conversation time is written once: createdAt is its only time
        times.reindex()
        session_count = self._count("work_sessions", max(20, scale // 250))
        sessions = self._add("work_sessions", "work_session", session_count, False)
        self._shape_work_sessions(sessions)
        items = self._add("work_items", "work_item", self._count("work_items", conversations * 4 // 5), False)
        self._attach_work_items(items)
        # Last, so that adding tables moves none of the codes (ids and values) above.
        self.org.tables.build(lambda name, type_, count: self._add(name, type_, count, False))

    def _attach_work_items(self, items: Collection) -> None:
        """Give each work item a conversation, created after it and last updated no later than it."""
        conversations = self.org.collections["conversations"]
        for i in range(items.count):
            owner = self.org.conversation_of(i)
            self.org.work_items_of.setdefault(owner, []).append(i)
            start, end = conversations.created_ms[owner], conversations.updated_ms[owner]
            items.created_ms[i] = start + (end - start) // 4
            items.updated_ms[i] = start + (end - start) // 2
        items.reindex()

    def _deactivate_users(self) -> None:
        """Deactivate some users (Kustomer never deletes a user); never the API key's own machine user."""
        users = self.org.collections["users"]
        chosen = {i for i in range(1, users.count) if mix32(self.settings.seed, 0xDE, i) % 6 == 0}
        self.org.deactivated_users = chosen or ({users.count - 1} if users.count > 1 else set())

    def _shape_work_sessions(self, sessions: Collection) -> None:
        """One session per agent shift: ended ones lasted a shift; an agent's latest one may still be running."""
        agents = max(1, self.org.collections["users"].count - 1)
        end_ms = self.org.end_ms
        for i in range(sessions.count):
            h = mix32(self.settings.seed, 91, i)
            if i >= sessions.count - agents and h % 3 == 0:
                self.org.active_sessions.add(i)
                sessions.created_ms[i] = end_ms - HOUR_MS - h % (8 * HOUR_MS)
                sessions.updated_ms[i] = end_ms - h % (HOUR_MS // 2)
            else:
                sessions.updated_ms[i] = min(end_ms, sessions.created_ms[i] + 4 * HOUR_MS + h % (6 * HOUR_MS))
        sessions.reindex()

    def _build_audit_history(self) -> None:
        """Create and update entries written before the anchor, across more than the log's retention."""
        count = self.settings.audit_history if self.settings.audit_history is not None else self.settings.scale // 100
        rng = random.Random(mix32(self.settings.seed, 515))
        span = (LONG_TERM_DAYS + 60) * DAY_MS
        sources = [self.org.collections[name] for name in ("customers", "conversations", "messages", "companies")]
        moments = sorted(self.org.end_ms - rng.randrange(span) for _ in range(count))
        for n, at in enumerate(moments):
            coll = sources[n % len(sources)]
            self.org.log_change("create" if n % 3 == 0 else "update", coll, rng.randrange(coll.count), at)
