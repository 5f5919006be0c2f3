"""A whole simulated Kustomer org: its settings and state, the ground truth a correct sync must emit, and the
changes tests make (updates, deletes, merges, audit-log bursts), each logged in the audit log as Kustomer would.

The org's records are drawn from the seed by ``org_generation`` and turned into the JSON Kustomer serves by
``org_rendering`` (their custom attributes by ``custom_fields``); the same seed always builds the same org and
serves the same bytes.
"""

import random
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from kustomer_simulator.audit import ID_MODES, MISDATINGS, AuditLog
from kustomer_simulator.bulk_jobs import BulkBook
from kustomer_simulator.collection import Collection, mix32
from kustomer_simulator.custom_fields import CUSTOM_FIELDS, METADATA_RESOURCES, custom_type, klass_fields
from kustomer_simulator.merges import MergeBook
from kustomer_simulator.org_generation import HOUR_MS, OrgBuilder
from kustomer_simulator.org_rendering import MACHINE_USER, Renderers
from kustomer_simulator.org_tables import CHILD_UPDATES, CONVERSATION_CHILDREN, Tables
from kustomer_simulator.timefmt import DAY_MS, iso_ms, now_ms
from kustomer_simulator.writes import ObjectStore

KLASS_STATUSES = ("enabled", "existing_only", "disabled")  # GetKlasses' status filter
AUDIT_BURST_VERBS = ("update", "delete", "merge")
MERGE_AUDITS = ("merge-only", "delete")
MERGE_AUDIT_VERBS = ("update", "merge")
MERGE_AUDIT_ABOUT = ("source", "target")


@dataclass
class OrgSettings:
    """Everything that decides the generated data."""

    seed: int = 7
    scale: int = 50_000
    anchor_ms: Optional[int] = None
    history_days: int = 330
    tie_clusters: Sequence[int] = ()
    deleted_fraction: float = 0.01
    klasses: Sequence[str] = ("order", "subscription")
    klass_status: Mapping[str, str] = field(default_factory=dict)  # klass name -> enabled | existing_only | disabled
    counts: Mapping[str, int] = field(default_factory=dict)
    # What a customer merge writes to the audit log; Kustomer documents none of it (its Help Center: "a customer's
    # profile is merged with another profile" is logged). Whether a delete entry for the customer merged away is
    # written besides the merge's own entry ("delete") or not ("merge-only"); the merge entry's eventVerb ("update"
    # or "merge") and the customer it is about ("source", the one merged away, naming the target in its changes'
    # relationships.mergedInto; or "target", naming the source in relationships.mergedCustomers). The defaults are
    # the readings furthest from a client's first guess (a merge verb on the kept customer, and a delete entry).
    merge_audit: str = "merge-only"
    merge_audit_verb: str = "update"
    merge_audit_about: str = "source"
    merge_pending_seconds: float = 5.0  # a merge record reads "pending" this long, then "success"
    # Whether a change to a work item also updates its conversation ("touch") or not ("silent"); undocumented, and
    # the Help Center's wrap-up and completion phases need not touch the conversation.
    work_item_updates: str = "silent"
    # Whether a new event or attachment of a conversation also moves its updatedAt (kustomer_simulator.org_tables).
    conversation_child_updates: str = CHILD_UPDATES[0]
    audit_history: Optional[int] = None  # audit entries written before the anchor (default: scale // 100)
    # An audit entry's createdAt precedes its publishedAt (and id) by up to this much; the published example: 7.3 s.
    audit_publish_lag_seconds: float = 8.0
    audit_ids: str = ID_MODES[0]  # insertion | publish: when an entry's id is minted (kustomer_simulator.audit)


class Org:
    """The org's data. Thread-safe: the server holds ``lock`` around every read and mutation."""

    def __init__(self, settings: OrgSettings) -> None:
        self.settings = settings
        self.lock = threading.RLock()
        anchor = settings.anchor_ms if settings.anchor_ms is not None else (now_ms() // DAY_MS) * DAY_MS
        self.anchor_ms = anchor
        self.start_ms = anchor - settings.history_days * DAY_MS
        self.end_ms = anchor - HOUR_MS
        unknown = set(settings.klass_status.values()) - set(KLASS_STATUSES)
        if unknown:
            raise ValueError(f"klass status {sorted(unknown)} is not one of {', '.join(KLASS_STATUSES)}")
        for value, allowed in (
            (settings.merge_audit, MERGE_AUDITS),
            (settings.merge_audit_verb, MERGE_AUDIT_VERBS),
            (settings.merge_audit_about, MERGE_AUDIT_ABOUT),
        ):
            if value not in allowed:
                raise ValueError(f"merge setting {value!r} is not one of {', '.join(allowed)}")
        if settings.conversation_child_updates not in CHILD_UPDATES:
            raise ValueError(f"conversation_child_updates must be one of {', '.join(CHILD_UPDATES)}")
        self.org_id = f"{mix32(settings.seed, 99):08x}{mix32(settings.seed, 97):08x}{mix32(settings.seed, 98):08x}"
        self.collections: Dict[str, Collection] = {}
        self.mutation_rng = random.Random(mix32(settings.seed, 4242))
        self.audit = AuditLog(self.org_id, settings.seed, settings.audit_publish_lag_seconds, settings.audit_ids)
        self.merges = MergeBook(settings.seed, settings.merge_pending_seconds)
        self.merged_into: Dict[int, int] = {}  # customer merged away -> the customer it was merged into
        self.work_items_of: Dict[int, List[int]] = {}  # conversation index -> its work items' indexes
        self.deactivated_users: Set[int] = set()
        self.active_sessions: Set[int] = set()  # work sessions still running (at most one per user)
        self.tables = Tables(self)  # the extra tables' relations (SLA versions, holidays, a conversation's children)
        renderers = Renderers(self)
        OrgBuilder(self, renderers.of).build()
        self.store = ObjectStore(self)  # the write side: customers, companies and custom objects
        self.bulk = BulkBook(settings.seed)
        for name in self.writable_streams:
            self.collections[name].created_renderer = renderers.created

    # ---- lookups ------------------------------------------------------------------------
    @property
    def search_streams(self) -> List[str]:
        """Names of collections served by search (and thus incremental)."""
        return ["customers", "conversations", "messages", "notes", "companies"] + [
            f"kobjects_{k}" for k in self.settings.klasses
        ]

    @property
    def writable_streams(self) -> List[str]:
        """Collections the API writes: customers, companies and each klass's custom objects."""
        return ["customers", "companies"] + [f"kobjects_{k}" for k in self.settings.klasses]

    @property
    def timed_streams(self) -> List[str]:
        """Collections whose ground truth depends on a start time: the search streams, conversation times and the
        routing objects (searched with queryContext work_item / work_session)."""
        return self.search_streams + ["conversation_times", "work_items", "work_sessions", *CONVERSATION_CHILDREN]

    def klass_status(self, klass: str) -> str:
        """enabled | existing_only | disabled."""
        return self.settings.klass_status.get(klass, "enabled")

    def klass_of(self, coll: Collection) -> Optional[str]:
        """The klass name of a kobject collection."""
        return coll.name[len("kobjects_") :] if coll.name.startswith("kobjects_") else None

    def agent(self, h: int) -> int:
        """The index of a user other than the machine user that ``h`` picks."""
        users = self.collections["users"].count
        return 1 + h % (users - 1) if users > 1 else MACHINE_USER

    def session_user(self, session: int) -> int:
        """The user index a work session belongs to: the agents take turns, so each agent's latest session is one of
        the last sessions."""
        return self.agent(session)

    def conversation_of(self, work_item: int) -> int:
        """The conversation index a work item belongs to."""
        return mix32(self.settings.seed, 77, work_item) % self.collections["conversations"].count

    def conversation_of_message(self, message: int) -> int:
        """The conversation index a message belongs to."""
        messages = self.collections["messages"]
        return mix32(messages.seed, messages.code, message, 3) % self.collections["conversations"].count

    def session_status_type(self, session: int) -> str:
        """available | busy | unavailable while a session runs; offline once it ended."""
        coll = self.collections["work_sessions"]
        h = mix32(coll.seed, coll.code, session, 9)
        return ["available", "busy", "unavailable"][h % 3] if session in self.active_sessions else "offline"

    def metadata(self, resource: str) -> Optional[dict]:
        """Custom attribute definitions, as GET /v1/metadata/{resource} gives them for the documented resources
        (company, conversation, customer, message and kobject.<klass>); None for anything else."""
        if resource in METADATA_RESOURCES:
            fields = CUSTOM_FIELDS[resource]
        elif resource.startswith("kobject.") and resource[len("kobject.") :] in self.settings.klasses:
            fields = klass_fields(resource[len("kobject.") :])
        else:
            return None
        properties = {f: {"type": custom_type(f), "displayName": f} for f in fields}
        return {"type": "metadata", "id": resource, "attributes": {"properties": properties}}

    # ---- ground truth and mutation ------------------------------------------------------
    def truth(
        self,
        stream: str,
        since_ms: Optional[int] = None,
        until_ms: Optional[int] = None,
        include_deleted: bool = False,
    ) -> List[Tuple[str, str]]:
        """The (id, updatedAt) pairs a correct sync of ``stream`` must emit."""
        with self.lock:
            coll = self.collections[stream]
            if stream in CONVERSATION_CHILDREN:
                return self.tables.child_truth(stream, since_ms, until_ms)
            if stream not in self.timed_streams:
                return [(coll.record_id(i), iso_ms(coll.updated_ms[i])) for i in coll.live_indexes()]
            low = (since_ms, True) if since_ms is not None else None
            high = (until_ms, True) if until_ms is not None else None
            order, lo, hi = coll.updated_slice(low, high, include_deleted)
            return [(coll.record_id(k[2]), iso_ms(k[0])) for k in order[lo:hi]]

    def mutate(self, stream: str, count: int, at_ms: Optional[int] = None) -> List[str]:
        """Update ``count`` live records of ``stream`` now; returns their ids. A work session can change only while
        it runs (Kustomer makes an ended one read-only)."""
        with self.lock:
            coll = self.collections[stream]
            at = at_ms if at_ms is not None else now_ms()
            if stream in CONVERSATION_CHILDREN:
                return self.tables.add_children(stream, count, at)
            picked: List[str] = []
            if stream == "work_sessions":
                running = sorted(self.active_sessions)
                picks = [self.mutation_rng.choice(running) for _ in range(count)] if running else []
            else:
                picks = [self.mutation_rng.randrange(coll.count) for _ in range(min(count, coll.count))]
            for i in picks:
                if i in coll.deleted or i in coll.removed:
                    continue
                coll.touch(i, at)
                picked.append(coll.record_id(i))
                self.log_change("update", coll, i, at)
                if stream == "conversations":
                    self.tables.conversation_changed(i, at)
                if stream == "work_items" and self.settings.work_item_updates == "touch":
                    self.collections["conversations"].touch(self.conversation_of(i), at)
                    self.tables.conversation_changed(self.conversation_of(i), at)
            return picked

    def _live_picks(self, coll: Collection, count: int) -> List[int]:
        live = [i for i in coll.live_indexes()]
        return self.mutation_rng.sample(live, min(count, len(live)))

    def delete(self, stream: str, count: int, hard: bool, at_ms: Optional[int] = None) -> List[str]:
        """Delete ``count`` live records of ``stream`` now: soft (``deleted``/``deletedAt``) or hard (gone)."""
        with self.lock:
            coll = self.collections[stream]
            at = at_ms if at_ms is not None else now_ms()
            ids = []
            for i in self._live_picks(coll, count):
                if coll.hard_delete(i) if hard else coll.soft_delete(i, at):
                    ids.append(coll.record_id(i))
                    self.log_change("delete", coll, i, at)
            return ids

    def merge(self, count: int, at_ms: Optional[int] = None) -> List[Tuple[str, str]]:
        """Merge ``count`` pairs of live customers: each source is merged into its target and removed."""
        with self.lock:
            coll = self.collections["customers"]
            at = at_ms if at_ms is not None else now_ms()
            picks = self._live_picks(coll, 2 * count)
            pairs = []
            for source, target in zip(picks[0::2], picks[1::2], strict=False):  # an odd pick is left out
                coll.hard_delete(source)
                self.merged_into[source] = target
                coll.touch(target, at)
                source_id, target_id = coll.record_id(source), coll.record_id(target)
                agent = self.collections["users"].record_id(self.agent(mix32(self.settings.seed, 0x3E, source)))
                self.merges.record(source_id, target_id, at, agent)
                verb = self.settings.merge_audit_verb
                if self.settings.merge_audit_about == "target":
                    self.log_change(verb, coll, target, at, _merge_changes(source_id))
                else:
                    self.log_change(verb, coll, source, at, _merged_into(target_id))
                if self.settings.merge_audit == "delete":
                    self.log_change("delete", coll, source, at)
                pairs.append((source_id, target_id))
            return pairs

    def log_change(self, verb: str, coll: Collection, i: int, at_ms: int, changes: Optional[dict] = None) -> None:
        """Write the audit-log entry of a change to record ``i`` of ``coll``, published at ``at_ms``."""
        self.audit.write((verb, coll.type, coll.record_id(i), at_ms, changes))

    def audit_burst(
        self,
        count: int,
        object_type: str,
        verb: str,
        per_second: int,
        at_ms: Optional[int] = None,
        misdated: int = 0,
        misdating: str = "published_early",
    ) -> List[str]:
        """Log ``count`` synthetic entries about records of ``object_type``, ``per_second`` to a second, the last one
        in the second before ``at_ms`` (default now); no record changes. A merge entry names another customer as
        merged away, as a real merge's does. The first ``misdated`` entries are misdated as ``misdating`` says
        (``kustomer_simulator.audit.MISDATINGS``). Returns the first and last new ids."""
        coll = next((c for c in self.collections.values() if c.type == object_type), None)
        if coll is None or verb not in AUDIT_BURST_VERBS or (verb == "merge" and object_type != "customer"):
            raise ValueError(f"no burst of {object_type!r} {verb!r} entries (verbs: {', '.join(AUDIT_BURST_VERBS)})")
        if count < 1 or per_second < 1:
            raise ValueError("count and per_second must be positive")
        if misdating not in MISDATINGS:
            raise ValueError(f"misdating {misdating!r} is not one of {', '.join(MISDATINGS)}")
        with self.lock:
            first_second = (at_ms if at_ms is not None else now_ms()) // 1000 - (count - 1) // per_second - 1
            rng = random.Random(mix32(self.settings.seed, 616, len(self.audit.entries)))
            events = []
            for n in range(count):
                published = (first_second + n // per_second) * 1000 + (n % per_second) * 1000 // per_second
                changes = _merge_changes(coll.record_id(rng.randrange(coll.count))) if verb == "merge" else None
                events.append((verb, object_type, coll.record_id(rng.randrange(coll.count)), published, changes))
            written = self.audit.write_all(events, misdated, misdating)
            return [written[0].id, written[-1].id]

    def audit_log(self, now: Optional[int] = None) -> List[dict]:
        """The entries served at ``now``, oldest id first; without ``now``, the ground truth: every entry logged
        that has not expired, stored yet or not (a sync reads an entry once it is stored, within the publish lag)."""
        with self.lock:
            if now is not None:
                return [entry.record for entry in self.audit.live(now)]
            moment = now_ms()
            return [entry.record for entry in self.audit.entries if entry.expires_ms > moment]


def _merge_changes(source_id: str) -> dict:
    """The changes a merge entry records on the surviving customer: the customer merged into it."""
    return {"relationships": {"mergedCustomers": {"op": "add", "before": [], "after": [source_id]}}}


def _merged_into(target_id: str) -> dict:
    """The changes a merge entry records on the customer merged away: the customer it was merged into."""
    return {"relationships": {"mergedInto": {"op": "replace", "before": None, "after": target_id}}}
