"""How an org's records look on the wire: one renderer per resource, drawn from the seed on demand, never stored.

A renderer turns a record index of a collection into the JSON:API resource Kustomer serves (``type``, ``id``,
``attributes``, ``relationships``, ``links``). Bodies depend only on the seed, the record's index and revision and
the org's state (its users, sessions, klasses), so the same seed always serves the same bytes.
"""

from typing import TYPE_CHECKING, Dict, Tuple

from kustomer_simulator.collection import Collection, RecordRenderer, mix32
from kustomer_simulator.custom_fields import CUSTOM_FIELDS, DOMAINS, custom_values, klass_fields
from kustomer_simulator.shapes import relationship, resource, self_path
from kustomer_simulator.table_rendering import TableRenderers
from kustomer_simulator.timefmt import iso_ms

if TYPE_CHECKING:
    from kustomer_simulator.org import Org

FIRST_NAMES = ["Ada", "Grace", "Alan", "Linus", "Maya", "Omar", "Priya", "Chen", "Lucia", "Kofi", "Ines", "Noah"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Okafor", "Garcia", "Nakamura", "Silva", "Novak", "Haddad", "Berg"]
CHANNELS = ["email", "chat", "sms", "voice", "facebook", "instagram", "whatsapp"]
STATUSES = ["open", "snoozed", "done"]
PRIORITIES = [1, 2, 3, 4, 5]
MACHINE_USER = 0  # the user behind every API key (GET /v1/users/current); it works no routing sessions


class Renderers:
    """The renderers of one org's collections; ``of(name)`` gives the one a collection is built with."""

    def __init__(self, org: "Org") -> None:
        self.org = org
        self.tables = TableRenderers(org, self.pick).by_name()

    def of(self, name: str) -> RecordRenderer:
        """The renderer of collection ``name`` (a configuration list's, unless named here)."""
        if name.startswith("kobjects_"):
            return self.kobject
        by_name: Dict[str, RecordRenderer] = {
            "users": self.user,
            "klasses": self.klass,
            "companies": self.company,
            "customers": self.customer,
            "conversations": self.conversation,
            "messages": self.message,
            "notes": self.note,
            "conversation_times": self.conversation_time,
            "work_sessions": self.work_session,
            "work_items": self.work_item,
        }
        return by_name.get(name) or self.tables.get(name, config_item)

    # ---- pieces every record shares ---------------------------------------------------------------------------
    def _ref(self, name: str, h: int) -> Tuple[str, int]:
        coll = self.org.collections[name]
        i = h % coll.count
        return coll.record_id(i), i

    def pick(self, name: str, h: int) -> str:
        """The id of the record of collection ``name`` that ``h`` picks."""
        return self._ref(name, h)[0]

    def _customer_of_conversation(self, conv_i: int) -> str:
        """The id of the customer conversation ``conv_i`` is with (the one its own renderer links)."""
        conv = self.org.collections["conversations"]
        return self.pick("customers", mix32(conv.seed, conv.code, conv_i, 2))

    def _user_ref(self, h: int) -> dict:
        return relationship("user", self._ref("users", h)[0])

    def _link(self, type_: str, name: str, h: int) -> dict:
        """A relationship to the record of collection ``name`` that ``h`` picks."""
        return relationship(type_, self._ref(name, h)[0])

    def _base(self, coll: Collection, i: int, attributes: dict, relationships: dict) -> dict:
        attributes["createdAt"] = iso_ms(coll.created_ms[i])
        attributes["updatedAt"] = iso_ms(coll.updated_ms[i])
        attributes["modifiedAt"] = attributes["updatedAt"]
        if i in coll.deleted:
            attributes["deleted"] = True
            attributes["deletedAt"] = attributes["updatedAt"]
        relationships["org"] = relationship("org", self.org.org_id)
        rid = coll.record_id(i)
        klass = self.org.klass_of(coll)
        link = f"/v1/klasses/{klass}/{rid}" if klass else self_path(coll.type, rid)
        return resource(coll.type, rid, attributes, relationships, link)

    # ---- the resources ----------------------------------------------------------------------------------------
    def customer(self, coll: Collection, i: int) -> dict:
        """A customer."""
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
            "custom": custom_values(CUSTOM_FIELDS["customer"], coll, i),
        }
        relationships = {"createdBy": self._user_ref(h)}
        if h % 3 == 0:
            relationships["company"] = self._link("company", "companies", h)
        return self._base(coll, i, attributes, relationships)

    def conversation(self, coll: Collection, i: int) -> dict:
        """A conversation."""
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
            "custom": custom_values(CUSTOM_FIELDS["conversation"], coll, i),
        }
        relationships = {
            "customer": self._link("customer", "customers", h),
            "assignedUsers": {"data": [self._user_ref(h >> 3)["data"]]},
            "queue": self._link("queue", "queues", h),
        }
        return self._base(coll, i, attributes, relationships)

    def message(self, coll: Collection, i: int) -> dict:
        """A message of a conversation."""
        h = mix32(coll.seed, coll.code, i, 3)
        conv_i = self.org.conversation_of_message(i)
        conv_id = self.org.collections["conversations"].record_id(conv_i)
        customer_id = self._customer_of_conversation(conv_i)
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
            "custom": custom_values(CUSTOM_FIELDS["message"], coll, i),
        }
        relationships = {
            "conversation": relationship("conversation", conv_id),
            "customer": relationship("customer", customer_id),
        }
        return self._base(coll, i, attributes, relationships)

    def note(self, coll: Collection, i: int) -> dict:
        """An internal note on a conversation."""
        h = mix32(coll.seed, coll.code, i, 4)
        conv_id, conv_i = self._ref("conversations", h)
        attributes = {
            "body": f"Internal note {i}",
            "custom": custom_values(CUSTOM_FIELDS["note"], coll, i),
        }
        relationships = {
            "conversation": relationship("conversation", conv_id),
            "customer": relationship("customer", self._customer_of_conversation(conv_i)),
            "createdBy": self._user_ref(h),
        }
        return self._base(coll, i, attributes, relationships)

    def company(self, coll: Collection, i: int) -> dict:
        """A company."""
        h = mix32(coll.seed, coll.code, i, 5)
        attributes = {
            "name": f"{LAST_NAMES[h % len(LAST_NAMES)]} {['Inc', 'LLC', 'GmbH', 'Ltd'][(h >> 4) % 4]} {i}",
            "domains": [f"c{i}.{DOMAINS[h % len(DOMAINS)]}"],
            "custom": custom_values(CUSTOM_FIELDS["company"], coll, i),
        }
        return self._base(coll, i, attributes, {})

    def kobject(self, coll: Collection, i: int) -> dict:
        """A custom object of the collection's klass."""
        h = mix32(coll.seed, coll.code, i, 6)
        klass = self.org.klass_of(coll)
        attributes = {
            "title": f"{klass} #{i}",
            "description": f"A {klass} record",
            "externalId": f"{klass}-{h % 1_000_000}",
            "icon": "box",
            "custom": custom_values(klass_fields(klass), coll, i),
        }
        relationships = {
            "customer": self._link("customer", "customers", h),
            "klass": relationship("klass", klass),
        }
        return self._base(coll, i, attributes, relationships)

    def created(self, coll: Collection, i: int) -> dict:
        """A record created through the API: its dates, ids and links; the rest is what was written."""
        klass = self.org.klass_of(coll)
        return self._base(coll, i, {}, {"klass": relationship("klass", klass)} if klass else {})

    def conversation_time(self, coll: Collection, i: int) -> dict:
        """A conversation time as ``GET /v1/conversations/{id}/times`` shows it: no updatedAt, never changed."""
        h = mix32(coll.seed, coll.code, i, 8)
        conv_id, conv_i = self._ref("conversations", h)
        customer_id = self._customer_of_conversation(conv_i)
        created = coll.created_ms[i]
        user = self._user_ref(h >> 2)["data"]
        rid = coll.record_id(i)
        attributes = {
            "createdAt": iso_ms(created),
            "createdByTeams": [self._ref("teams", h)[0]],
            "assignedUsers": [user["id"]],
            "assignedTeams": [],
            "handleAt": iso_ms(created - h % 600_000),
            "handleTime": h % 600,
            "channels": [CHANNELS[h % len(CHANNELS)]],
            "messageAt": iso_ms(created - h % 300_000),
            "messageTime": h % 300,
        }
        relationships = {
            "org": relationship("org", self.org.org_id),
            "customer": relationship("customer", customer_id),
            "conversation": relationship("conversation", conv_id),
            "createdBy": relationship("user", user["id"]),
        }
        return resource("conversation_time", rid, attributes, relationships, f"/v1/conversations/times/{rid}")

    def work_session(self, coll: Collection, i: int) -> dict:
        """An agent's routing work session (running or ended)."""
        h = mix32(coll.seed, coll.code, i, 9)
        active = i in self.org.active_sessions
        status_type = self.org.session_status_type(i)
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
            "user": relationship("user", self.org.collections["users"].record_id(self.org.session_user(i))),
            "team": self._link("team", "teams", h),
            "queues": {"data": [{"type": "queue", "id": self._ref("queues", h)[0]}]},
        }
        record = self._base(coll, i, attributes, relationships)
        record["links"] = {"self": f"/v1/routing/work-sessions/{record['id']}"}
        return record

    def work_item(self, coll: Collection, i: int) -> dict:
        """A routing work item of a conversation."""
        h = mix32(coll.seed, coll.code, i, 10)
        conversation = self.org.collections["conversations"].record_id(self.org.conversation_of(i))
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

    def user(self, coll: Collection, i: int) -> dict:
        """A user: the API key's machine user or an agent (a deactivated one has ``deletedAt``)."""
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
        if i in self.org.deactivated_users:
            record["attributes"]["deletedAt"] = record["attributes"]["updatedAt"]
        return record

    def klass(self, coll: Collection, i: int) -> dict:
        """A klass (custom object type) with its status."""
        name = self.org.settings.klasses[i]
        attributes = {
            "name": name,
            "displayName": name.replace("_", " ").title(),
            "icon": "box",
            "status": self.org.klass_status(name),
        }
        return self._base(coll, i, attributes, {"kobjects": {"links": {"self": f"/v1/klasses/{name}"}}})


def config_item(coll: Collection, i: int) -> dict:
    """A record of a configuration list (teams, tags, shortcuts, queues, SLAs, ...)."""
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
    return resource(coll.type, rid, attributes, {}, self_path(coll.type, rid))
