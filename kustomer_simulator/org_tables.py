"""The org's tables beyond its core objects, drawn from the seed after every other collection (so the codes, ids and
values of those do not move): configuration lists (snoozes, cards, routing statuses, queue rules, team routing
settings), records that other records include (an SLA's versions, a business schedule's holidays) and a
conversation's children (its events, its messages' attachments).

A child belongs to one owner record; ``Owned`` keeps that relation compactly (the generated children of owner ``o``
are the indexes ``first[o]`` to ``first[o + 1]``, children added later are listed per owner).
"""

from array import array
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

from kustomer_simulator.collection import Collection, mix32
from kustomer_simulator.timefmt import iso_ms

if TYPE_CHECKING:
    from kustomer_simulator.org import Org

# Whether a new event or attachment of a conversation also moves the conversation's updatedAt ("touch") or not
# ("silent"): undocumented, and Kustomer's own example of a conversation's events shows a change (its customer
# replaced) published hours after the conversation's updatedAt, which it left where it was.
CHILD_UPDATES = ("silent", "touch")
CONVERSATION_CHILDREN = ("conversation_events", "message_attachments")
LIST_TABLES = {  # name -> (type, count)
    "snoozes": ("snooze", 6),
    "cards": ("card", 4),
    "routing_statuses": ("routing_status", 5),
    "queue_rules": ("queue_rule", 8),
}
EVENT_CREATE, EVENT_UPDATE, EVENT_RELATION = 0, 1, 2  # what an event records (it decides its name and changes)
Add = Callable[[str, str, int], Collection]


class Owned:
    """The owner record of each child, and the children of each owner."""

    def __init__(self) -> None:
        self.owner = array("l")
        self.first = array("l")
        self.added: Dict[int, List[int]] = {}

    def generate(self, owners: int, children_of: Callable[[int], int]) -> None:
        """Give owner ``o`` ``children_of(o)`` children, owner after owner."""
        for o in range(owners):
            self.first.append(len(self.owner))
            self.owner.extend([o] * children_of(o))
        self.first.append(len(self.owner))

    def add(self, owner: int, child: int) -> None:
        """Record child ``child`` (appended to its collection) as ``owner``'s."""
        if child != len(self.owner):
            raise ValueError("children are added in index order")
        self.owner.append(owner)
        self.added.setdefault(owner, []).append(child)

    def of(self, owner: int) -> List[int]:
        """The children of ``owner``, oldest first."""
        generated = list(range(self.first[owner], self.first[owner + 1])) if owner + 1 < len(self.first) else []
        return generated + self.added.get(owner, [])


class Tables:
    """The relations of the org's extra tables and how they change; built by ``build`` from the org's seed."""

    def __init__(self, org: "Org") -> None:
        self.org = org
        self.events = Owned()  # conversation -> its events
        self.event_kinds = bytearray()
        self.attachments = Owned()  # conversation -> the attachments of its messages
        self.attachment_message = array("l")
        self.versions = Owned()  # SLA -> its versions
        self.holidays = Owned()  # business schedule -> its holidays

    # ---- building ---------------------------------------------------------------------------------------------
    def build(self, add: Add) -> None:
        """Every extra table, in a fixed order."""
        for name, (type_, count) in LIST_TABLES.items():
            add(name, type_, count)
        add("team_routing_settings", "routing_setting", min(8, self.org.collections["teams"].count))
        self._build_versions(add)
        self._build_holidays(add)
        self._build_events(add)
        self._build_attachments(add)

    def _seed(self, *parts: int) -> int:
        return mix32(self.org.settings.seed, *parts)

    def _build_versions(self, add: Add) -> None:
        slas = self.org.collections["slas"]
        self.versions.generate(slas.count, lambda s: 1 + self._seed(0x5A, s) % 3)
        versions = add("sla_versions", "sla_version", len(self.versions.owner))
        for k, s in enumerate(self.versions.owner):
            n = k - self.versions.first[s]
            span = max(1, slas.updated_ms[s] - slas.created_ms[s])
            versions.created_ms[k] = slas.created_ms[s] + span * n // 3
        versions.updated_ms = list(versions.created_ms)  # a version is never edited: a new one is made
        versions.reindex()

    def _build_holidays(self, add: Add) -> None:
        schedules = self.org.collections["business_schedules"]
        self.holidays.generate(schedules.count, lambda s: 2 if s == 0 else self._seed(0x40, s) % 4)
        holidays = add("business_holidays", "holiday", len(self.holidays.owner))
        for k, s in enumerate(self.holidays.owner):
            holidays.created_ms[k] = max(holidays.created_ms[k], schedules.created_ms[s])
            holidays.updated_ms[k] = max(holidays.updated_ms[k], holidays.created_ms[k])
        holidays.reindex()

    def _build_events(self, add: Add) -> None:
        """A create event per conversation; an update event where it changed since; and, for some, a change of its
        customer published later that left its updatedAt where it was (as in Kustomer's published example)."""
        conversations = self.org.collections["conversations"]
        published: List[int] = []
        updated: List[int] = []

        def events_of(i: int) -> int:
            created, last = conversations.created_ms[i], conversations.updated_ms[i]
            kinds = [(EVENT_CREATE, created, created)]
            if self._seed(0xE7, i) % 5 == 0 and last - created > 2:
                kinds.append((EVENT_RELATION, created + (last - created) // 3, created))
            if last > created:
                kinds.append((EVENT_UPDATE, last, last))
            for kind, at, version in kinds:
                self.event_kinds.append(kind)
                published.append(at)
                updated.append(version)
            return len(kinds)

        self.events.generate(conversations.count, events_of)
        events = add("conversation_events", "customer_event", len(published))
        events.created_ms, events.updated_ms = published, updated  # created: when it was published (its id)
        events.reindex()

    def _build_attachments(self, add: Add) -> None:
        """One attachment on every fourth message or so, listed under the message's conversation."""
        messages = self.org.collections["messages"]
        by_conversation: Dict[int, List[int]] = {}
        for j in range(messages.count):
            if self._seed(0xA7, j) % 4 == 0:
                by_conversation.setdefault(self.org.conversation_of_message(j), []).append(j)
        conversations = self.org.collections["conversations"].count
        self.attachments.generate(conversations, lambda i: len(by_conversation.get(i, ())))
        for i in sorted(by_conversation):
            self.attachment_message.extend(by_conversation[i])
        attachments = add("message_attachments", "attachment", len(self.attachment_message))
        attachments.created_ms = [messages.created_ms[j] for j in self.attachment_message]
        attachments.updated_ms = list(attachments.created_ms)
        attachments.reindex()

    # ---- changes ----------------------------------------------------------------------------------------------
    def conversation_changed(self, i: int, at_ms: int) -> None:
        """Log the event of a change that moved conversation ``i``'s updatedAt to ``at_ms``."""
        self._append_event(i, EVENT_UPDATE, at_ms, self.org.collections["conversations"].updated_ms[i])

    def add_children(self, stream: str, count: int, at_ms: int) -> List[str]:
        """``count`` new children of ``stream`` (events that change a conversation's customer, or attachments of
        new messages) on live conversations; each also moves its conversation's updatedAt under ``touch``."""
        conversations = self.org.collections["conversations"]
        rng = self.org.mutation_rng
        touch = self.org.settings.conversation_child_updates == "touch"
        ids = []
        for _ in range(min(count, conversations.count)):
            if stream == "conversation_events":
                i, message = rng.randrange(conversations.count), None
            else:
                message = rng.randrange(self.org.collections["messages"].count)
                i = self.org.conversation_of_message(message)
            if i in conversations.removed:
                continue
            if touch:
                conversations.touch(i, at_ms)
            if message is None:
                ids.append(self._append_event(i, EVENT_RELATION, at_ms, conversations.updated_ms[i]))
            else:
                ids.append(self._append_attachment(i, message, at_ms))
        return ids

    def _append_event(self, i: int, kind: int, at_ms: int, version_ms: int) -> str:
        events = self.org.collections["conversation_events"]
        k = events.append(at_ms)
        events.updated_ms[k] = version_ms  # (the collection's time order is not used for children)
        self.events.add(i, k)
        self.event_kinds.append(kind)
        return events.record_id(k)

    def _append_attachment(self, i: int, message: int, at_ms: int) -> str:
        attachments = self.org.collections["message_attachments"]
        k = attachments.append(at_ms)
        self.attachments.add(i, k)
        self.attachment_message.append(message)
        return attachments.record_id(k)

    # ---- ground truth -----------------------------------------------------------------------------------------
    def children_of(self, stream: str, conversation: int) -> List[int]:
        """The indexes of ``stream``'s records listed under a conversation."""
        return (self.events if stream == "conversation_events" else self.attachments).of(conversation)

    def child_truth(self, stream: str, since_ms: Optional[int], until_ms: Optional[int]) -> List[tuple]:
        """(id, version) of the children of every conversation whose updatedAt is within the bounds: what a sync
        reading the conversations changed there must emit. Children of a conversation deleted later stay (a sync
        before the deletion brought them, and no delete marker takes them back)."""
        conversations = self.org.collections["conversations"]
        coll = self.org.collections[stream]
        low = since_ms if since_ms is not None else -1
        high = until_ms if until_ms is not None else 1 << 62
        dated = stream == "conversation_events"  # an event carries updatedAt; an attachment no time at all
        return [
            (coll.record_id(k), iso_ms(coll.updated_ms[k]) if dated else None)
            for i in range(conversations.count)
            if low <= conversations.updated_ms[i] <= high
            for k in self.children_of(stream, i)
        ]
