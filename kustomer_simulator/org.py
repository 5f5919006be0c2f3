"""A whole simulated Kustomer org: every resource, its custom fields, ground truth, mutations."""

import random
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from kustomer_simulator.audit import LONG_TERM_DAYS, AuditLog
from kustomer_simulator.bulk_jobs import BulkBook
from kustomer_simulator.collection import Collection, mix32
from kustomer_simulator.merges import MergeBook
from kustomer_simulator.shapes import relationship, self_path
from kustomer_simulator.timefmt import DAY_MS, iso_ms, now_ms
from kustomer_simulator.writes import ObjectStore

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

# Custom attribute definitions, named with Kustomer's type suffixes.
CUSTOM_FIELDS: Dict[str, List[str]] = {
    "customer": ["tierStr", "lifetimeValueNum", "vipBool", "lastOrderAt", "bioTxt", "profileUrl"],
    "conversation": ["orderNumberStr", "refundAmountNum", "escalatedBool", "promisedAt"],
    "message": ["sentimentNum", "languageStr"],
    "note": ["categoryStr"],
    "company": ["industryStr", "employeesNum", "websiteUrl"],
}
METADATA_RESOURCES = ("company", "conversation", "customer", "message")
KLASS_FIELDS: Dict[str, List[str]] = {
    "order": ["orderIdStr", "totalNum", "shippedAt", "giftBool"],
    "subscription": ["planStr", "mrrNum", "activeBool", "renewsAt"],
    "return_request": ["reasonTxt", "approvedBool"],
}

FIRST_NAMES = ["Ada", "Grace", "Alan", "Linus", "Maya", "Omar", "Priya", "Chen", "Lucia", "Kofi", "Ines", "Noah"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Okafor", "Garcia", "Nakamura", "Silva", "Novak", "Haddad", "Berg"]
CHANNELS = ["email", "chat", "sms", "voice", "facebook", "instagram", "whatsapp"]
STATUSES = ["open", "snoozed", "done"]
PRIORITIES = [1, 2, 3, 4, 5]
DOMAINS = ["example.com", "example.org", "example.net", "mail.test"]
TIERS = ["bronze", "silver", "gold", "platinum"]
INDUSTRIES = ["retail", "travel", "fintech", "health", "gaming"]
KLASS_STATUSES = ("enabled", "existing_only", "disabled")  # GetKlasses' status filter
MACHINE_USER = 0  # the user behind every API key (GET /v1/users/current); it works no routing sessions
AUDIT_BURST_VERBS = ("update", "delete", "merge")


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
    # What a customer merge writes to the audit log besides its merge entry: "delete" (a delete entry for the
    # customer merged away, as other CRMs announce a merge) or "merge-only". Kustomer does not document it.
    merge_audit: str = "delete"
    # Whether a change to a work item also updates its conversation ("touch") or not ("silent"); undocumented, and
    # the Help Center's wrap-up and completion phases need not touch the conversation.
    work_item_updates: str = "silent"
    audit_history: Optional[int] = None  # audit entries written before the anchor (default: scale // 100)
    # An audit entry's createdAt precedes its publishedAt (and id) by up to this much; the published example: 7.3 s.
    audit_publish_lag_seconds: float = 8.0


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
        self.org_id = f"{mix32(settings.seed, 99):08x}{mix32(settings.seed, 97):08x}{mix32(settings.seed, 98):08x}"
        self.collections: Dict[str, Collection] = {}
        self._mutation_rng = random.Random(mix32(settings.seed, 4242))
        self.audit = AuditLog(self.org_id, settings.seed, settings.audit_publish_lag_seconds)
        self.merges = MergeBook(settings.seed)
        self.merged_into: Dict[int, int] = {}  # customer merged away -> the customer it was merged into
        self.work_items_of: Dict[int, List[int]] = {}  # conversation index -> its work items' indexes
        self.deactivated_users: Set[int] = set()
        self.active_sessions: Set[int] = set()  # work sessions still running (at most one per user)
        self._build()
        self._build_audit_history()
        self.store = ObjectStore(self)  # the write side: customers, companies and custom objects
        self.bulk = BulkBook(settings.seed)
        for name in self.writable_streams:
            self.collections[name].created_renderer = self._render_created

    # ---- construction -------------------------------------------------------------------
    def _count(self, name: str, default: int) -> int:
        return int(self.settings.counts.get(name, default))

    def _add(self, name: str, type_: str, count: int, renderer, searchable: bool) -> Collection:
        coll = Collection(
            name=name,
            type=type_,
            code=len(self.collections) + 1,
            count=count,
            seed=self.settings.seed,
            renderer=renderer,
        )
        coll.build_timeline(
            self.start_ms,
            self.end_ms,
            tie_clusters=self.settings.tie_clusters if searchable else (),
            deleted_fraction=self.settings.deleted_fraction if searchable else 0.0,
        )
        self.collections[name] = coll
        return coll

    def _build(self) -> None:
        scale = self.settings.scale
        for name, count in list_counts(scale).items():
            renderer = self._render_user if name == "users" else _render_config_item
            self._add(name, LIST_TYPES[name], self._count(name, count), renderer, False)
        self._deactivate_users()
        self._add("klasses", "klass", len(self.settings.klasses), self._render_klass, False)
        shares = {ctx: max(1, int(scale * share)) for ctx, share in SEARCH_SHARES.items()}
        self._add("companies", "company", self._count("companies", shares["company"]), self._render_company, True)
        self._add("customers", "customer", self._count("customers", shares["customer"]), self._render_customer, True)
        self._add(
            "conversations",
            "conversation",
            self._count("conversations", shares["conversation"]),
            self._render_conversation,
            True,
        )
        self._add("messages", "message", self._count("messages", shares["message"]), self._render_message, True)
        self._add("notes", "note", self._count("notes", shares["note"]), self._render_note, True)
        per_klass = max(1, shares["kobject"] // max(1, len(self.settings.klasses)))
        for klass in self.settings.klasses:
            name = f"kobjects_{klass}"
            self._add(name, f"kobject.{klass}", self._count(name, per_klass), self._render_kobject, True)
        conversations = self.collections["conversations"].count
        times = self._add(
            "conversation_times",
            "conversation_time",
            self._count("conversation_times", conversations),
            self._render_conversation_time,
            True,
        )
        times.deleted = set()
        times.created_ms = list(times.updated_ms)  # a conversation time is written once: createdAt is its only time
        times.reindex()
        sessions = self._add(
            "work_sessions",
            "work_session",
            self._count("work_sessions", max(20, scale // 250)),
            self._render_work_session,
            False,
        )
        self._shape_work_sessions(sessions)
        items = self._add(
            "work_items", "work_item", self._count("work_items", conversations * 4 // 5), self._render_work_item, False
        )
        self._attach_work_items(items)

    def _attach_work_items(self, items: Collection) -> None:
        """Give each work item a conversation, created after it and last updated no later than it."""
        conversations = self.collections["conversations"]
        for i in range(items.count):
            owner = mix32(self.settings.seed, 77, i) % conversations.count
            self.work_items_of.setdefault(owner, []).append(i)
            start, end = conversations.created_ms[owner], conversations.updated_ms[owner]
            items.created_ms[i] = start + (end - start) // 4
            items.updated_ms[i] = start + (end - start) // 2
        items.reindex()

    def _deactivate_users(self) -> None:
        """Deactivate some users (Kustomer never deletes a user); never the API key's own machine user."""
        users = self.collections["users"]
        chosen = {i for i in range(1, users.count) if mix32(self.settings.seed, 0xDE, i) % 6 == 0}
        self.deactivated_users = chosen or ({users.count - 1} if users.count > 1 else set())

    def _shape_work_sessions(self, sessions: Collection) -> None:
        """One session per agent shift: ended ones lasted a shift; an agent's latest one may still be running."""
        agents = max(1, self.collections["users"].count - 1)
        for i in range(sessions.count):
            h = mix32(self.settings.seed, 91, i)
            if i >= sessions.count - agents and h % 3 == 0:
                self.active_sessions.add(i)
                sessions.created_ms[i] = self.end_ms - HOUR_MS - h % (8 * HOUR_MS)
                sessions.updated_ms[i] = self.end_ms - h % (HOUR_MS // 2)
            else:
                sessions.updated_ms[i] = min(self.end_ms, sessions.created_ms[i] + 4 * HOUR_MS + h % (6 * HOUR_MS))
        sessions.reindex()

    def _agent(self, h: int) -> int:
        """The index of a user other than the machine user that ``h`` picks."""
        users = self.collections["users"].count
        return 1 + h % (users - 1) if users > 1 else MACHINE_USER

    def session_user(self, session: int) -> int:
        """The user index a work session belongs to: the agents take turns, so each agent's latest session is one of
        the last sessions."""
        return self._agent(session)

    def conversation_of(self, work_item: int) -> int:
        """The conversation index a work item belongs to."""
        return mix32(self.settings.seed, 77, work_item) % self.collections["conversations"].count

    def _build_audit_history(self) -> None:
        """Create and update entries written before the anchor, across more than the log's retention."""
        count = self.settings.audit_history if self.settings.audit_history is not None else self.settings.scale // 100
        rng = random.Random(mix32(self.settings.seed, 515))
        span = (LONG_TERM_DAYS + 60) * DAY_MS
        sources = [self.collections[name] for name in ("customers", "conversations", "messages", "companies")]
        moments = sorted(self.end_ms - rng.randrange(span) for _ in range(count))
        for n, at in enumerate(moments):
            coll = sources[n % len(sources)]
            self._audit("create" if n % 3 == 0 else "update", coll, rng.randrange(coll.count), at)

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
        return self.search_streams + ["conversation_times", "work_items", "work_sessions"]

    def klass_status(self, klass: str) -> str:
        """enabled | existing_only | disabled."""
        return self.settings.klass_status.get(klass, "enabled")

    def klass_of(self, coll: Collection) -> Optional[str]:
        """The klass name of a kobject collection."""
        return coll.name[len("kobjects_") :] if coll.name.startswith("kobjects_") else None

    def _ref(self, name: str, h: int) -> Tuple[str, int]:
        coll = self.collections[name]
        i = h % coll.count
        return coll.record_id(i), i

    def _base(self, coll: Collection, i: int, attributes: dict, relationships: dict) -> dict:
        attributes["createdAt"] = iso_ms(coll.created_ms[i])
        attributes["updatedAt"] = iso_ms(coll.updated_ms[i])
        attributes["modifiedAt"] = attributes["updatedAt"]
        if i in coll.deleted:
            attributes["deleted"] = True
            attributes["deletedAt"] = attributes["updatedAt"]
        relationships["org"] = relationship("org", self.org_id)
        rid = coll.record_id(i)
        klass = self.klass_of(coll)
        return {
            "type": coll.type,
            "id": rid,
            "attributes": attributes,
            "relationships": relationships,
            "links": {"self": f"/v1/klasses/{klass}/{rid}" if klass else self_path(coll.type, rid)},
        }

    def _custom(self, fields: List[str], coll: Collection, i: int) -> dict:
        out = {}
        rev = coll.revisions.get(i, 0)
        for n, name in enumerate(fields):
            h = mix32(coll.seed, coll.code, i, n, rev)
            if h % 7 == 0:
                continue  # sparse, as real custom fields are
            if name.endswith("Num"):
                out[name] = round((h % 100_000) / 100, 2)
            elif name.endswith("Bool"):
                out[name] = bool(h & 1)
            elif name.endswith("At"):
                out[name] = iso_ms(coll.created_ms[i] + (h % (30 * DAY_MS)))
            elif name.endswith("Url"):
                out[name] = f"https://{DOMAINS[h % len(DOMAINS)]}/p/{h % 10000}"
            elif name == "tierStr":
                out[name] = TIERS[h % len(TIERS)]
            elif name == "industryStr":
                out[name] = INDUSTRIES[h % len(INDUSTRIES)]
            else:
                out[name] = f"{name[:-3].lower()}-{h % 100000}"
        return out

    def _user_ref(self, h: int) -> dict:
        return relationship("user", self._ref("users", h)[0])

    def _link(self, type_: str, name: str, h: int) -> dict:
        """A relationship to the record of collection ``name`` that ``h`` picks."""
        return relationship(type_, self._ref(name, h)[0])

    # ---- renderers ----------------------------------------------------------------------
    def _render_customer(self, coll: Collection, i: int) -> dict:
        h = mix32(coll.seed, coll.code, i, 1)
        first, last = FIRST_NAMES[h % len(FIRST_NAMES)], LAST_NAMES[(h >> 8) % len(LAST_NAMES)]
        email = f"{first.lower()}.{last.lower()}{i}@{DOMAINS[(h >> 16) % len(DOMAINS)]}"
        attributes = {
            "name": f"{first} {last}",
            "displayName": f"{first} {last}",
            "displayColor": ["red", "blue", "green", "purple"][h % 4],
            "emails": [{"type": "home", "email": email, "verified": bool(h & 2)}],
            "phones": [{"type": "mobile", "phone": f"+1555{h % 10_000_000:07d}"}] if h & 4 else [],
            "locale": ["en_US", "en_GB", "es_ES", "fr_FR"][(h >> 3) % 4],
            "timeZone": ["America/New_York", "Europe/London", "Asia/Tokyo"][(h >> 5) % 3],
            "tags": [self._ref("tags", h + t)[0] for t in range(h % 3)],
            "conversationCounts": {"all": h % 20, "open": h % 3, "done": (h % 20) - (h % 3)},
            "lastActivityAt": iso_ms(coll.updated_ms[i]),
            "custom": self._custom(CUSTOM_FIELDS["customer"], coll, i),
        }
        relationships = {"createdBy": self._user_ref(h)}
        if h % 3 == 0:
            relationships["company"] = self._link("company", "companies", h)
        return self._base(coll, i, attributes, relationships)

    def _render_conversation(self, coll: Collection, i: int) -> dict:
        h = mix32(coll.seed, coll.code, i, 2)
        status = STATUSES[h % len(STATUSES)]
        attributes = {
            "name": f"Conversation {i}",
            "channels": [CHANNELS[h % len(CHANNELS)]],
            "status": status,
            "priority": PRIORITIES[(h >> 4) % 5],
            "direction": "in" if h & 1 else "out",
            "messageCount": 1 + h % 12,
            "noteCount": h % 3,
            "tags": [self._ref("tags", h + t)[0] for t in range(h % 2)],
            "satisfactionLevel": {"score": 1 + h % 5, "channel": "email"} if h % 5 == 0 else None,
            "firstResponse": {"time": h % 90_000, "businessTime": h % 60_000},
            "endedAt": iso_ms(coll.updated_ms[i]) if status == "done" else None,
            "custom": self._custom(CUSTOM_FIELDS["conversation"], coll, i),
        }
        relationships = {
            "customer": self._link("customer", "customers", h),
            "assignedUsers": {"data": [self._user_ref(h >> 3)["data"]]},
            "queue": self._link("queue", "queues", h),
        }
        return self._base(coll, i, attributes, relationships)

    def _render_message(self, coll: Collection, i: int) -> dict:
        h = mix32(coll.seed, coll.code, i, 3)
        conv_id, conv_i = self._ref("conversations", h)
        conv = self.collections["conversations"]
        customer_id = self._ref("customers", mix32(conv.seed, conv.code, conv_i, 2))[0]
        # Kustomer's message meta.to may be a list, an object or a string.
        to_shapes = [["support@example.com"], {"email": "support@example.com"}, "support@example.com"]
        attributes = {
            "channel": CHANNELS[h % len(CHANNELS)],
            "direction": "in" if h & 1 else "out",
            "preview": f"Message {i} preview text",
            "size": 100 + h % 4000,
            "subject": f"Re: order {h % 100000}" if h & 2 else None,
            "sentAt": iso_ms(coll.created_ms[i]),
            "meta": {"to": to_shapes[h % 3]},
            "custom": self._custom(CUSTOM_FIELDS["message"], coll, i),
        }
        relationships = {
            "conversation": relationship("conversation", conv_id),
            "customer": relationship("customer", customer_id),
        }
        return self._base(coll, i, attributes, relationships)

    def _render_note(self, coll: Collection, i: int) -> dict:
        h = mix32(coll.seed, coll.code, i, 4)
        conv_id, conv_i = self._ref("conversations", h)
        conv = self.collections["conversations"]
        attributes = {
            "body": f"Internal note {i}",
            "custom": self._custom(CUSTOM_FIELDS["note"], coll, i),
        }
        relationships = {
            "conversation": relationship("conversation", conv_id),
            "customer": self._link("customer", "customers", mix32(conv.seed, conv.code, conv_i, 2)),
            "createdBy": self._user_ref(h),
        }
        return self._base(coll, i, attributes, relationships)

    def _render_company(self, coll: Collection, i: int) -> dict:
        h = mix32(coll.seed, coll.code, i, 5)
        attributes = {
            "name": f"{LAST_NAMES[h % len(LAST_NAMES)]} {['Inc', 'LLC', 'GmbH', 'Ltd'][(h >> 4) % 4]} {i}",
            "domains": [f"c{i}.{DOMAINS[h % len(DOMAINS)]}"],
            "custom": self._custom(CUSTOM_FIELDS["company"], coll, i),
        }
        return self._base(coll, i, attributes, {})

    def _render_kobject(self, coll: Collection, i: int) -> dict:
        h = mix32(coll.seed, coll.code, i, 6)
        klass = self.klass_of(coll)
        attributes = {
            "title": f"{klass} #{i}",
            "description": f"A {klass} record",
            "externalId": f"{klass}-{h % 1_000_000}",
            "icon": "box",
            "custom": self._custom(KLASS_FIELDS.get(klass, ["valueStr"]), coll, i),
        }
        relationships = {
            "customer": self._link("customer", "customers", h),
            "klass": relationship("klass", klass),
        }
        return self._base(coll, i, attributes, relationships)

    def _render_created(self, coll: Collection, i: int) -> dict:
        """A record created through the API: its dates, ids and links; the rest is what was written."""
        klass = self.klass_of(coll)
        return self._base(coll, i, {}, {"klass": relationship("klass", klass)} if klass else {})

    def _render_conversation_time(self, coll: Collection, i: int) -> dict:
        """A conversation time as ``GET /v1/conversations/{id}/times`` shows it: no updatedAt, never changed."""
        h = mix32(coll.seed, coll.code, i, 8)
        conv_id, conv_i = self._ref("conversations", h)
        conv = self.collections["conversations"]
        customer_id = self._ref("customers", mix32(conv.seed, conv.code, conv_i, 2))[0]
        created = coll.created_ms[i]
        user = self._user_ref(h >> 2)["data"]
        rid = coll.record_id(i)
        return {
            "type": "conversation_time",
            "id": rid,
            "attributes": {
                "createdAt": iso_ms(created),
                "createdByTeams": [self._ref("teams", h)[0]],
                "assignedUsers": [user["id"]],
                "assignedTeams": [],
                "handleAt": iso_ms(created - h % 600_000),
                "handleTime": h % 600,
                "channels": [CHANNELS[h % len(CHANNELS)]],
                "messageAt": iso_ms(created - h % 300_000),
                "messageTime": h % 300,
            },
            "relationships": {
                "org": relationship("org", self.org_id),
                "customer": relationship("customer", customer_id),
                "conversation": relationship("conversation", conv_id),
                "createdBy": relationship("user", user["id"]),
            },
            "links": {"self": f"/v1/conversations/times/{rid}"},
        }

    def session_status_type(self, session: int) -> str:
        """available | busy | unavailable while a session runs; offline once it ended."""
        coll = self.collections["work_sessions"]
        h = mix32(coll.seed, coll.code, session, 9)
        return ["available", "busy", "unavailable"][h % 3] if session in self.active_sessions else "offline"

    def _render_work_session(self, coll: Collection, i: int) -> dict:
        h = mix32(coll.seed, coll.code, i, 9)
        active = i in self.active_sessions
        status_type = self.session_status_type(i)
        attributes = {
            "routable": status_type == "available",
            "statusType": status_type,
            "active": active,
            "workItemCount": h % 4 if active else 0,
            "signedInAt": iso_ms(coll.created_ms[i]),
            "signedOutAt": None if active else iso_ms(coll.updated_ms[i]),
            "capacityRemaining": h % 5,
            "totalCapacity": 5,
            "handledItemCount": h % 40,
            "handledConversationCount": h % 35,
            "totalAvailable": {"time": h % 30_000_000, "businessTime": h % 20_000_000},
            "totalUnavailable": {"time": h % 5_000_000, "businessTime": h % 4_000_000},
            "capacityStatus": ["idle", "available", "full"][(h >> 3) % 3],
            "rev": 1 + coll.revisions.get(i, 0),
        }
        relationships = {
            "user": relationship("user", self.collections["users"].record_id(self.session_user(i))),
            "team": self._link("team", "teams", h),
            "queues": {"data": [{"type": "queue", "id": self._ref("queues", h)[0]}]},
        }
        record = self._base(coll, i, attributes, relationships)
        record["links"] = {"self": f"/v1/routing/work-sessions/{record['id']}"}
        return record

    def _render_work_item(self, coll: Collection, i: int) -> dict:
        h = mix32(coll.seed, coll.code, i, 10)
        conversation = self.collections["conversations"].record_id(self.conversation_of(i))
        status = ["queued", "routed", "assigned", "completed"][h % 4]
        attributes = {
            "resourceType": "conversation",
            "status": status,
            "paused": bool(h & 8),
            "channel": CHANNELS[h % len(CHANNELS)],
            "firstEnterQueueAt": iso_ms(coll.created_ms[i] + 500),
            "queuedCount": 1 + h % 3,
            "priority": 1 + h % 5,
            "itemSize": 1,
            "workItemNumber": 1 + h % 2,
            "ivr": {"time": 0, "businessTime": 0},
            "rev": 1 + coll.revisions.get(i, 0),
        }
        relationships = {
            "resource": relationship("conversation", conversation),
            "queue": self._link("queue", "queues", h),
        }
        record = self._base(coll, i, attributes, relationships)
        record["links"] = {"self": f"/v1/routing/work-items/{record['id']}"}
        return record

    def _render_user(self, coll: Collection, i: int) -> dict:
        h = mix32(coll.seed, coll.code, i)
        first, last = FIRST_NAMES[h % len(FIRST_NAMES)], LAST_NAMES[(h >> 8) % len(LAST_NAMES)]
        attributes = {
            "name": f"{first} {last}",
            "displayName": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}.{i}@agents.example.com",
            "userType": "machine" if i == MACHINE_USER else "user",
            "roles": ["org.user"],
        }
        record = self._base(coll, i, attributes, {})
        if i in self.deactivated_users:
            record["attributes"]["deletedAt"] = record["attributes"]["updatedAt"]
        return record

    def _render_klass(self, coll: Collection, i: int) -> dict:
        name = self.settings.klasses[i]
        attributes = {
            "name": name,
            "displayName": name.replace("_", " ").title(),
            "icon": "box",
            "status": self.klass_status(name),
        }
        return self._base(coll, i, attributes, {"kobjects": {"links": {"self": f"/v1/klasses/{name}"}}})

    # ---- metadata -----------------------------------------------------------------------
    def metadata(self, resource: str) -> Optional[dict]:
        """Custom attribute definitions, as GET /v1/metadata/{resource} gives them for the documented resources
        (company, conversation, customer, message and kobject.<klass>); None for anything else."""
        if resource in METADATA_RESOURCES:
            fields = CUSTOM_FIELDS[resource]
        elif resource.startswith("kobject.") and resource[len("kobject.") :] in self.settings.klasses:
            fields = KLASS_FIELDS.get(resource[len("kobject.") :], ["valueStr"])
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
            picked: List[str] = []
            if stream == "work_sessions":
                running = sorted(self.active_sessions)
                picks = [self._mutation_rng.choice(running) for _ in range(count)] if running else []
            else:
                picks = [self._mutation_rng.randrange(coll.count) for _ in range(min(count, coll.count))]
            for i in picks:
                if i in coll.deleted or i in coll.removed:
                    continue
                coll.touch(i, at)
                picked.append(coll.record_id(i))
                self._audit("update", coll, i, at)
                if stream == "work_items" and self.settings.work_item_updates == "touch":
                    self.collections["conversations"].touch(self.conversation_of(i), at)
            return picked

    def _live_picks(self, coll: Collection, count: int) -> List[int]:
        live = [i for i in coll.live_indexes()]
        return self._mutation_rng.sample(live, min(count, len(live)))

    def delete(self, stream: str, count: int, hard: bool, at_ms: Optional[int] = None) -> List[str]:
        """Delete ``count`` live records of ``stream`` now: soft (``deleted``/``deletedAt``) or hard (gone)."""
        with self.lock:
            coll = self.collections[stream]
            at = at_ms if at_ms is not None else now_ms()
            ids = []
            for i in self._live_picks(coll, count):
                if coll.hard_delete(i) if hard else coll.soft_delete(i, at):
                    ids.append(coll.record_id(i))
                    self._audit("delete", coll, i, at)
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
                agent = self.collections["users"].record_id(self._agent(mix32(self.settings.seed, 0x3E, source)))
                self.merges.record(source_id, target_id, at, agent)
                self._audit("merge", coll, target, at, _merge_changes(source_id))
                if self.settings.merge_audit == "delete":
                    self._audit("delete", coll, source, at)
                pairs.append((source_id, target_id))
            return pairs

    def _audit(self, verb: str, coll: Collection, i: int, at_ms: int, changes: Optional[dict] = None) -> None:
        self.audit.write((verb, coll.type, coll.record_id(i), at_ms, changes))

    def audit_burst(
        self, count: int, object_type: str, verb: str, per_second: int, at_ms: Optional[int] = None
    ) -> List[str]:
        """Log ``count`` synthetic entries about records of ``object_type``, ``per_second`` to a second, the last one
        in the second before ``at_ms`` (default now); no record changes. A merge entry names another customer as
        merged away, as a real merge's does. Returns the first and last new ids."""
        coll = next((c for c in self.collections.values() if c.type == object_type), None)
        if coll is None or verb not in AUDIT_BURST_VERBS or (verb == "merge" and object_type != "customer"):
            raise ValueError(f"no burst of {object_type!r} {verb!r} entries (verbs: {', '.join(AUDIT_BURST_VERBS)})")
        if count < 1 or per_second < 1:
            raise ValueError("count and per_second must be positive")
        with self.lock:
            first_second = (at_ms if at_ms is not None else now_ms()) // 1000 - (count - 1) // per_second - 1
            rng = random.Random(mix32(self.settings.seed, 616, len(self.audit.entries)))
            events = []
            for n in range(count):
                published = (first_second + n // per_second) * 1000 + (n % per_second) * 1000 // per_second
                changes = _merge_changes(coll.record_id(rng.randrange(coll.count))) if verb == "merge" else None
                events.append((verb, object_type, coll.record_id(rng.randrange(coll.count)), published, changes))
            written = self.audit.write_all(events)
            return [written[0].id, written[-1].id]

    def audit_log(self, now: Optional[int] = None) -> List[dict]:
        """The entries that have not expired yet, oldest id first."""
        with self.lock:
            return [entry.record for entry in self.audit.live(now if now is not None else now_ms())]


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


def custom_type(name: str) -> str:
    """The Kustomer attribute type a custom field name's suffix announces."""
    for suffix, kind in (("Num", "number"), ("Bool", "boolean"), ("At", "date"), ("Url", "url"), ("Txt", "text")):
        if name.endswith(suffix):
            return kind
    return "string"


def _merge_changes(source_id: str) -> dict:
    """The changes a merge entry records on the surviving customer: the customer merged into it."""
    return {"relationships": {"mergedCustomers": {"op": "add", "before": [], "after": [source_id]}}}


def _render_config_item(coll: Collection, i: int) -> dict:
    h = mix32(coll.seed, coll.code, i)
    attributes: dict = {
        "name": f"{coll.type.title()} {i}",
        "createdAt": iso_ms(coll.created_ms[i]),
        "updatedAt": iso_ms(coll.updated_ms[i]),
    }
    if coll.type == "team":
        attributes.update(displayName=f"Team {i}", icon="users")
    elif coll.type == "tag":
        attributes.update(color=["red", "blue", "green"][h % 3])
    elif coll.type == "shortcut":
        attributes.update(text=f"Thanks for reaching out ({i})")
    elif coll.type == "queue":
        attributes.update(displayName=f"Queue {i}", priority=1 + h % 5)
    elif coll.type == "sla":
        attributes.update(version=1 + h % 3, enabled=bool(h & 1))
    elif coll.type == "satisfaction":
        attributes.update(enabled=bool(h & 1), channels=["email"])
    rid = coll.record_id(i)
    return {
        "type": coll.type,
        "id": rid,
        "attributes": attributes,
        "relationships": {},
        "links": {"self": self_path(coll.type, rid)},
    }
