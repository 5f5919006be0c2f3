"""How the org's extra tables look on the wire (``org_tables`` draws them), each in the shape Kustomer publishes where
it publishes one: an SLA version (OpenAPI, GetSlaById's example), a holiday (GetScheduleById's), a conversation
event (GetConversationEvents'), an attachment (GetConversationAttachments': no ``id`` attribute needed, its id in
``links.self``, a pre-signed download link that expires in 10 minutes); the configuration lists after the fields
Kustomer's developer docs describe.
"""

from typing import TYPE_CHECKING, Callable, Dict

from kustomer_simulator.collection import Collection, RecordRenderer, mix32
from kustomer_simulator.org_tables import EVENT_CREATE, EVENT_RELATION
from kustomer_simulator.shapes import relationship, resource
from kustomer_simulator.timefmt import DAY_MS, iso_ms

if TYPE_CHECKING:
    from kustomer_simulator.org import Org

SNOOZE_TYPES = ("relative", "dynamic", "absolute")
CARD_CONTEXTS = ("customer", "conversation", "company", "kobject")
ROUTING_STATUSES = (
    ("Available", "available", True),
    ("Busy", "busy", True),
    ("Lunch", "unavailable", False),
    ("Training", "unavailable", False),
    ("Admin work", "unavailable", False),
)
CONTENT_TYPES = (("image/jpeg", "jpg"), ("application/pdf", "pdf"), ("image/png", "png"), ("text/csv", "csv"))
ATTACHMENT_HOST = "https://kustomer-prod1-attachments.s3.amazonaws.com"  # the published example's download host


class TableRenderers:
    """The renderers of the extra tables of one org; ``pick(name, h)`` is the id of the record ``h`` picks."""

    def __init__(self, org: "Org", pick: Callable[[str, int], str]) -> None:
        self.org = org
        self.pick = pick

    def by_name(self) -> Dict[str, RecordRenderer]:
        """The renderer of each extra table."""
        return {
            "snoozes": self.snooze,
            "cards": self.card,
            "routing_statuses": self.routing_status,
            "queue_rules": self.queue_rule,
            "team_routing_settings": self.routing_setting,
            "sla_versions": self.sla_version,
            "business_holidays": self.holiday,
            "conversation_events": self.event,
            "message_attachments": self.attachment,
        }

    def _record(self, coll: Collection, i: int, attributes: dict, relationships: dict, path: str) -> dict:
        relationships["org"] = relationship("org", self.org.org_id)
        rid = coll.record_id(i)
        return resource(coll.type, rid, attributes, relationships, f"{path}/{rid}")

    @staticmethod
    def _dates(coll: Collection, i: int) -> dict:
        updated = iso_ms(coll.updated_ms[i])
        return {"createdAt": iso_ms(coll.created_ms[i]), "updatedAt": updated, "modifiedAt": updated}

    def snooze(self, coll: Collection, i: int) -> dict:
        """A snooze option of the agents' snooze menu: a duration, a day rule and time, or a fixed instant."""
        h = mix32(coll.seed, coll.code, i)
        kind = SNOOZE_TYPES[h % 3]
        if kind == "relative":
            value: object = 3_600_000 * (1 + h % 24)
        elif kind == "dynamic":
            value = {"day": {"type": "tomorrow", "value": ""}, "time": f"{8 + h % 4:02d}:00 am"}
        else:
            value = coll.created_ms[i] + 30 * DAY_MS
        attributes = {"name": f"Snooze {i}", "type": kind, "value": value, "enabled": bool(h & 4)}
        relationships = {"createdBy": relationship("user", self.pick("users", h))}
        return self._record(coll, i, {**attributes, **self._dates(coll, i)}, relationships, "/v1/snoozes")

    def card(self, coll: Collection, i: int) -> dict:
        """An installed card: a page shown next to records of one context."""
        h = mix32(coll.seed, coll.code, i)
        attributes = {
            "name": f"order-history-{i}",
            "description": f"Card {i}",
            "url": f"https://cards.example.com/card-{i}",
            "context": CARD_CONTEXTS[h % len(CARD_CONTEXTS)],
            "enabled": bool(h & 2),
            **self._dates(coll, i),
        }
        return self._record(coll, i, attributes, {}, "/v1/cards")

    def routing_status(self, coll: Collection, i: int) -> dict:
        """A routing user status: its label, the type routing acts on, and whether Kustomer built it in."""
        name, status_type, system = ROUTING_STATUSES[i % len(ROUTING_STATUSES)]
        label = name if i < len(ROUTING_STATUSES) else f"{name} {i}"
        attributes = {"name": label, "statusType": status_type, "system": system, **self._dates(coll, i)}
        return self._record(coll, i, attributes, {}, "/v1/routing/statuses")

    def queue_rule(self, coll: Collection, i: int) -> dict:
        """A queue rule: conditions on a new conversation, and the queue it sends a match to."""
        h = mix32(coll.seed, coll.code, i)
        criteria = {
            "and": [{"conversation_channel": {"operator": "equals", "value": ["email", "chat", "sms"][h % 3]}}],
            "or": [],
        }
        attributes = {"name": f"Rule {i}", "enabled": bool(h & 1), "criteria": criteria, **self._dates(coll, i)}
        relationships = {"queue": relationship("queue", self.pick("queues", h))}
        return self._record(coll, i, attributes, relationships, "/v1/routing/queue-rules")

    def routing_setting(self, coll: Collection, i: int) -> dict:
        """A team's routing settings: whether routing is on for it, the queues it works, each agent's capacity."""
        h = mix32(coll.seed, coll.code, i)
        queues = sorted({self.pick("queues", h >> shift) for shift in range(1 + h % 3)})
        attributes = {
            "enabled": bool(h & 1) or i == 0,
            "queues": queues,
            "externalQueues": [],
            "capacity": 1 + h % 5,
            **self._dates(coll, i),
        }
        teams = self.org.collections["teams"]
        relationships = {"team": relationship("team", teams.record_id(i))}
        return self._record(coll, i, attributes, relationships, "/v1/routing/settings")

    def sla_version(self, coll: Collection, i: int) -> dict:
        """A version of an SLA: its criteria and metric targets (by priority), dated by createdAt only."""
        h = mix32(coll.seed, coll.code, i)
        sla = self.org.tables.versions.owner[i]
        first_response = 3_600_000 * (1 + h % 4)
        attributes = {
            "name": f"SLA {sla} policy",
            "description": f"Version {i - self.org.tables.versions.first[sla] + 1} of SLA {sla}",
            "version": i - self.org.tables.versions.first[sla] + 1,
            "hours": ["calendar", "business"][h % 2],
            "metrics": {
                "firstResponse": {"enabled": True, "times": {str(p): first_response for p in range(1, 6)}},
                "longestUnrespondedMessage": {"enabled": bool(h & 2), "times": {}},
                "totalConversationOpenTime": {"enabled": False, "times": {}},
                "totalCustomerWaitTime": {"enabled": False, "times": {}},
            },
            "criteria": {"and": [{"conversation_channel": {"operator": "contains", "value": "email"}}]},
            "createdAt": iso_ms(coll.created_ms[i]),
        }
        sla_id = self.org.collections["slas"].record_id(sla)
        relationships = {"createdBy": relationship("user", self.pick("users", h)), "sla": relationship("sla", sla_id)}
        record = self._record(coll, i, attributes, relationships, "/v1/slas")
        del record["links"]  # the published version carries no links
        return record

    def holiday(self, coll: Collection, i: int) -> dict:
        """A holiday of a business schedule (a day or two when the schedule's hours do not count)."""
        h = mix32(coll.seed, coll.code, i)
        start = coll.created_ms[i] - coll.created_ms[i] % DAY_MS + 14 * DAY_MS
        attributes = {
            "name": f"Holiday {i}",
            "startDate": iso_ms(start),
            "endDate": iso_ms(start + (1 + h % 2) * DAY_MS - 1000),
            "description": f"Office closed ({i})",
            "enabled": bool(h & 1) or i == 0,
            **self._dates(coll, i),
        }
        schedule = self.org.collections["business_schedules"].record_id(self.org.tables.holidays.owner[i])
        user = relationship("user", self.pick("users", h))
        relationships = {"createdBy": user, "modifiedBy": user, "schedule": relationship("schedule", schedule)}
        return self._record(coll, i, attributes, relationships, "/v1/holidays")

    def event(self, coll: Collection, i: int) -> dict:
        """An event of a conversation's change history, published at its record's creation time: the conversation
        created, updated (its updatedAt moved), or its customer replaced (its updatedAt left where it was)."""
        tables = self.org.tables
        conversation = tables.events.owner[i]
        kind = tables.event_kinds[i]
        conversations = self.org.collections["conversations"]
        customer = self.pick("customers", mix32(conversations.seed, conversations.code, conversation, 2))
        version = iso_ms(coll.updated_ms[i])
        attributes: dict = {
            "name": "kustomer.conversation.create" if kind == EVENT_CREATE else "kustomer.conversation.update",
            "type": "conversation",
            "publishedAt": iso_ms(coll.created_ms[i]),
            "createdAt": iso_ms(conversations.created_ms[conversation]),
            "updatedAt": version,
            "modifiedAt": version,
            "location": None,
            "meta": None,
        }
        if kind == EVENT_RELATION:
            before = relationship("customer", self.pick("customers", mix32(coll.seed, coll.code, i)))
            replaced = {"op": "replace", "before": before, "after": relationship("customer", customer)}
            attributes["changes"] = {"attributes": {}, "relationships": {"customer": replaced}}
        elif kind != EVENT_CREATE:
            created = attributes["createdAt"]
            moved = {"op": "replace", "before": created, "after": version}
            attributes["changes"] = {"attributes": {"updatedAt": moved, "modifiedAt": dict(moved)}, "relationships": {}}
        user = relationship("user", self.pick("users", mix32(coll.seed, coll.code, i, 1)))
        relationships = {
            "createdBy": user,
            "modifiedBy": user,
            "customer": relationship("customer", customer),
            "conversation": relationship("conversation", conversations.record_id(conversation)),
        }
        return self._record(coll, i, attributes, relationships, f"/v1/customers/{customer}/events")

    def attachment(self, coll: Collection, i: int) -> dict:
        """A file sent with a message, as a conversation's attachment list shows it."""
        h = mix32(coll.seed, coll.code, i)
        content_type, extension = CONTENT_TYPES[h % len(CONTENT_TYPES)]
        message = self.org.collections["messages"].record_id(self.org.tables.attachment_message[i])
        rid = coll.record_id(i)
        name = f"file-{i}.{extension}"
        attributes = {"name": name, "contentType": content_type, "contentLength": 1000 + h % 500_000, "redacted": False}
        signed = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=600&X-Amz-Signature={h:08x}"
        return {
            "type": "attachment",
            "id": rid,
            "attributes": attributes,
            "relationships": {"org": relationship("org", self.org.org_id), "message": relationship("message", message)},
            "links": {
                "self": f"/v1/messages/{message}/attachments/{rid}",
                "related": f"{ATTACHMENT_HOST}/attachments/{self.org.org_id}/{rid}-{name}?{signed}",
            },
        }
