"""The org's write side: customers, companies and custom objects created, updated and found by key, as the API does it.

A write changes the org the way a read sees it: a created record gets a fresh id and ``createdAt = updatedAt =
now`` and is found by lists, search and ground truth; an update moves ``updatedAt`` and shows what it wrote. What
Kustomer's documents leave open is a switch (``WriteSettings``), each defaulting to the strict reading -- the one a
careless client gets hurt by.
"""

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Set, Tuple

from kustomer_simulator.collection import Collection
from kustomer_simulator.shapes import relationship
from kustomer_simulator.write_contract import item_keys

if TYPE_CHECKING:
    from kustomer_simulator.org import Org

LOOKUP_KEYS = ("externalId", "email")
KEY_SEARCH_FIELDS = {"customer_externalId": "externalId", "customer_email": "email"}  # search criteria on the keys
IGNORED_ON_WRITE = ("id", "createdAt", "importedAt", "rev", "_clientRef")  # accepted by the schemas, not stored
BULK_MODES = ("async", "sync")
# --bulk-job-end: the status a bulk job ends in (a stuck one never ends)
BULK_JOB_END_STATUS: Mapping[str, Optional[str]] = {"complete": "complete", "failed": "failed", "stuck": None}
BULK_JOB_ENDS = tuple(BULK_JOB_END_STATUS)
BULK_RESULTS = ("paged", "single")
DUPLICATE_EXTERNAL_IDS = ("created", "conflict")
CUSTOMER_EMAILS = ("unique", "shared")
EMAIL_CASES = ("insensitive", "sensitive")
LOOKUP_MISSES = ("empty", "404")
CLIENT_REFS = ("rejected", "accepted")
CUSTOM_UPDATES = ("merge", "replace")
CUSTOM_TREES = ("rejected", "accepted")
SENSITIVE_VALUES = ("masked", "shown")
AGENT_EDITS = ("after-lookup", "none")
STALE_REVS = ("conflict", "ignored")
COMPANY_LOOKUPS = ("prefix", "exact")
AGENT_TAG = "edited-by-agent"  # what the agent of --agent-edits adds: this tag and one custom attribute
AGENT_NOTE = ("agentNoteStr", "changed by an agent while a sync ran")


@dataclass
class WriteSettings:
    """How writes behave where Kustomer's evidence leaves it open (each default is the strict reading, or what the
    evidence says where it says something).

    * ``bulk_mode``: bulk requests answer 201 ``queued`` and run later, as the developer guide says (``async``), or
      complete before answering, as the OpenAPI examples show (``sync``).
    * ``bulk_seconds``: how long an asynchronous job takes; nothing it writes is visible before it completes.
    * ``bulk_late_seconds``: how much longer the first job of each collection and operation (create, update) stays
      queued before it runs (0: none is late). The guide says jobs may stay queued and names no bound; a late job
      that finally runs overwrites whatever was written after it was sent. 1 s by default: longer than a client
      that gives up after a poll or two waits, so such a client sends again what the job will still write, yet
      well inside the destination's bound at any window it is run with (it follows a job for ~19 windows); a job
      late past that bound stops a careful client's sync by design, so -- like ``stuck`` -- the matrix runs it.
    * ``bulk_job_end``: what a job comes to -- ``complete``, as the guide describes; ``failed``: it writes the first
      half of its items and ends with that status, which the guide does not list (a client must read any status
      but queued and running as the end, and look up what the job wrote); ``stuck``: it writes the first half and
      stays ``running`` for good.
    * ``bulk_results``: a job's batches answered one per page, each linking to the next (``paged``: a client
      reading one page misses the rest), or all on one page (``single``).
    * ``duplicate_external_id``: a create naming an externalId another record has makes a second record
      (``created``: silent duplicates, the worst for a client that creates without looking up) or answers 409.
    * ``customer_emails``: an email belongs to one customer (``unique``: 409 for a create or update giving a
      customer another's email; ``sharedEmails`` exists for the shared case) or to any number (``shared``).
    * ``email_case``: emails are the same address in any case, for the lookup by email and for ``unique``
      (``insensitive``: a client that tells ``Ada@x`` from ``ada@x`` creates a second customer, or is refused)
      or only as spelled (``sensitive``).
    * ``custom_tree``: a ``…Tree`` custom attribute, a suffix no published schema names, is refused with 400
      (``rejected``) or taken as text (``accepted``).
    * ``lookup_miss``: ``GET /customers/externalId=…`` (and email=, and custom objects by externalId) for nothing
      answers 200 with an empty ``data`` object (``empty``: only 200 is documented, and an empty 200 is what a careless
      client mistakes for a found object) or 404.
    * ``client_ref``: ``_clientRef`` on a bulk item is refused where the published item schema closes its keys
      (``rejected``) or accepted, each such item's outcome then listed in its batch's ``results`` (``accepted``).
    * ``custom_update``: an update carrying ``custom`` sets only the attributes it names (``merge``, what the
      published examples show: one attribute updated alone) or replaces the record's custom attributes
      (``replace``: whatever the update leaves out is lost).
    * ``sensitive_values``: the org's sensitive attributes (``kustomer_simulator.masking``) come back masked in every
      answer, as Kustomer's reference says they do for keys without the read-sensitive permission (``masked``:
      a client writing back what it read stores the mask), or as they are (``shown``).
    * ``agent_edits``: an agent edits each record once, right after a lookup by key (or a search on a key)
      answered it -- a tag and a custom attribute (``after-lookup``: a client writing back what it looked up
      undoes the edit), or nobody does (``none``).
    * ``stale_rev``: an update naming a ``rev`` the record has moved past is refused with 409 (``conflict``) or
      applied (``ignored``); undocumented either way.
    * ``company_lookup``: ``GET /v1/companies?externalId=`` lists every company whose externalId starts with the
      value, in any case, paged (``prefix``: the published example answers ``foobar2`` for ``foobar``), or only the
      exact one (``exact``).
    * ``kobject_creates_per_customer``: custom objects one customer may get created per minute; past it a create
      is refused with 429 (Retry-After: when a slot frees) unless its body carries ``importedAt``, as the reference
      documents (0: no limit).
    * ``max_body_bytes``: bodies larger than this are refused with 413 (0: no limit); 100 KB was seen before.
    """

    bulk_mode: str = "async"
    bulk_seconds: float = 0.5
    bulk_late_seconds: float = 1.0
    bulk_job_end: str = "complete"
    bulk_results: str = "paged"
    duplicate_external_id: str = "created"
    customer_emails: str = "unique"
    email_case: str = "insensitive"
    custom_tree: str = "rejected"
    lookup_miss: str = "empty"
    client_ref: str = "rejected"
    custom_update: str = "merge"
    sensitive_values: str = "masked"
    agent_edits: str = "after-lookup"
    stale_rev: str = "conflict"
    company_lookup: str = "prefix"
    kobject_creates_per_customer: int = 120
    max_body_bytes: int = 100_000


class WriteRefused(Exception):
    """A write Kustomer would refuse: ``status`` (404, 409, 429) and what it would say; ``retry_after``: seconds
    until a per-object limit frees (429)."""

    def __init__(self, status: int, detail: str, retry_after: Optional[float] = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


def kind_of(coll: Collection) -> str:
    """customer | company | kobject: the request schemas a collection's writes are held to."""
    return coll.type if coll.type in ("customer", "company") else "kobject"


class ObjectStore:
    """Finds records by externalId or email, creates and updates them; the caller holds the org's lock.

    The key indexes are built on first use (the generated org never pays for them) and kept current by writes;
    records removed since (hard deletes, merges) are skipped when found. Emails are indexed in lower case; a
    lookup in ``exact_case`` keeps only the records holding the address as spelled.
    """

    def __init__(self, org: "Org") -> None:
        self.org = org
        self._indexes: Dict[Tuple[str, str], Dict[str, List[int]]] = {}
        self._agent_edited: Set[Tuple[str, int]] = set()
        self._kobject_creates: Dict[str, List[int]] = {}  # customer id -> when custom objects were created for it
        for name in org.writable_streams:
            coll = org.collections[name]
            coll.shows_rev = kind_of(coll) != "company"  # companies' answers carry no rev (OpenAPI)

    # ---- lookups -----------------------------------------------------------------------
    def find(self, coll: Collection, key: str, value: str, exact_case: bool = False) -> Optional[int]:
        """The oldest existing record of ``coll`` whose ``key`` (externalId or email) is ``value`` (an email in any
        case unless ``exact_case``)."""
        holders = self.holders(coll, key, value, exact_case)
        return holders[0] if holders else None

    def holders(self, coll: Collection, key: str, value: str, exact_case: bool = False) -> List[int]:
        """Every existing record of ``coll`` whose ``key`` is ``value``, oldest first (two: a duplicate)."""
        found = [i for i in self._index(coll, key).get(_folded(key, value), ()) if coll.exists(i)]
        if exact_case and key == "email":
            found = [i for i in found if value in _key_values(coll.render(i)["attributes"], key)]
        return found

    def prefixed(self, coll: Collection, value: str) -> List[int]:
        """Every existing record of ``coll`` whose externalId starts with ``value`` in any case, oldest first."""
        start = value.lower()
        index = self._index(coll, "externalId")
        return sorted(
            i for held, found in index.items() if held.lower().startswith(start) for i in found if coll.exists(i)
        )

    def _index(self, coll: Collection, key: str) -> Dict[str, List[int]]:
        if (coll.name, key) not in self._indexes:
            indexes: Dict[str, Dict[str, List[int]]] = {name: {} for name in LOOKUP_KEYS}
            for i in range(coll.count):  # one rendering per record for both keys
                attributes = coll.render(i)["attributes"]
                for name, index in indexes.items():
                    for value in {_folded(name, value) for value in _key_values(attributes, name)}:
                        index.setdefault(value, []).append(i)
            self._indexes.update({(coll.name, name): index for name, index in indexes.items()})
        return self._indexes[(coll.name, key)]

    def _reindex(self, coll: Collection, i: int, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        for key in LOOKUP_KEYS:
            index = self._index(coll, key)  # built now, it already holds record i
            for value in {_folded(key, value) for value in _key_values(before, key)}:
                if i in index.get(value, []):
                    index[value].remove(i)
            for value in {_folded(key, value) for value in _key_values(after, key)}:
                holders = index.setdefault(value, [])
                if i not in holders:
                    bisect.insort(holders, i)

    def after_lookup(self, coll: Collection, found: Iterable[int], settings: WriteSettings, at_ms: int) -> None:
        """Under ``--agent-edits after-lookup``: an agent edits each record a lookup just answered (once a record)."""
        if settings.agent_edits != "after-lookup":
            return
        for i in found:
            if (coll.name, i) in self._agent_edited or not coll.exists(i):
                continue
            self._agent_edited.add((coll.name, i))
            attributes = coll.render(i)["attributes"]
            tags = list(attributes.get("tags") or [])
            name, note = AGENT_NOTE
            coll.write(
                i, {"tags": tags + [AGENT_TAG], "custom": {**(attributes.get("custom") or {}), name: note}}, {}, at_ms
            )
            coll.edits[i] = coll.edits.get(i, 0) + 1
            self.org.audit.write(("update", coll.type, coll.record_id(i), at_ms, None))

    # ---- writes ------------------------------------------------------------------------
    def create(
        self, coll: Collection, body: Mapping[str, Any], settings: WriteSettings, at_ms: int, minute_seconds: float = 60
    ) -> Tuple[int, Dict[str, Any]]:
        """Create a record from a body the request schema accepted; its index and rendering. Raises ``WriteRefused``
        on a conflict, or when a per-customer limit on custom objects is reached."""
        kind = kind_of(coll)
        attributes, links, _ = _split(kind, "create", body)
        self._check_conflicts(coll, None, attributes, settings)
        if kind == "kobject" and "importedAt" not in body:
            self._count_kobject_create(body.get("customer"), settings, at_ms, minute_seconds)
        i = coll.append(at_ms)
        coll.write(i, attributes, links, at_ms)
        record = coll.render(i)
        self._reindex(coll, i, {}, record["attributes"])
        self.org.audit.write(("create", coll.type, coll.record_id(i), at_ms, None))
        return i, record

    def _count_kobject_create(self, customer: Any, settings: WriteSettings, at_ms: int, minute_seconds: float) -> None:
        limit = settings.kobject_creates_per_customer
        if not limit or not isinstance(customer, str):
            return
        window_ms = int(minute_seconds * 1000)
        recent = [at for at in self._kobject_creates.get(customer, []) if at > at_ms - window_ms]
        if len(recent) >= limit:
            raise WriteRefused(
                429,
                f"at most {limit} custom objects may be created per minute for customer {customer} (custom objects "
                "with importedAt are not limited)",
                retry_after=(recent[0] + window_ms - at_ms) / 1000,
            )
        self._kobject_creates[customer] = recent + [at_ms]

    def update_by_id(
        self, coll: Collection, record_id: str, body: Mapping[str, Any], settings: WriteSettings, at_ms: int
    ) -> Dict[str, Any]:
        """Update the record ``record_id`` (see ``update``); ``WriteRefused`` 404 when no such record exists."""
        i = coll.index_of(record_id)
        if i is None:
            raise WriteRefused(404, f"no {coll.type} with id {record_id}")
        return self.update(coll, i, body, settings, at_ms)

    def update(
        self, coll: Collection, i: int, body: Mapping[str, Any], settings: WriteSettings, at_ms: int
    ) -> Dict[str, Any]:
        """Update record i from a body the request schema accepted; its rendering after. Raises ``WriteRefused`` on a
        conflict or (``--stale-rev conflict``) a ``rev`` the record has moved past."""
        kind = kind_of(coll)
        before = coll.render(i)["attributes"]
        rev = body.get("rev")
        if rev is not None and coll.shows_rev and settings.stale_rev == "conflict" and rev != coll.rev(i):
            raise WriteRefused(409, f"rev {rev} is stale: the {coll.type} is at rev {coll.rev(i)}")
        attributes, links, deleted = _split(kind, "update", body)
        if kind == "customer":
            # "If you omit the company, the customer will no longer be linked to the company" (PUT/PATCH customer).
            links.setdefault("company", None)
        if "custom" in attributes and settings.custom_update == "merge":
            attributes["custom"] = {**(before.get("custom") or {}), **attributes["custom"]}
        self._check_conflicts(coll, i, attributes, settings)
        coll.write(i, attributes, links, at_ms)
        coll.edits[i] = coll.edits.get(i, 0) + 1
        if deleted is True:
            coll.soft_delete(i, at_ms, revise=False)
        elif deleted is False:
            coll.restore(i, at_ms)
        record = coll.render(i)
        self._reindex(coll, i, before, record["attributes"])
        self.org.audit.write(("delete" if deleted else "update", coll.type, coll.record_id(i), at_ms, None))
        return record

    def _check_conflicts(
        self, coll: Collection, me: Optional[int], attributes: Mapping[str, Any], settings: WriteSettings
    ) -> None:
        external_id = attributes.get("externalId")
        if external_id and settings.duplicate_external_id == "conflict":
            holder = self.find(coll, "externalId", external_id)
            if holder is not None and holder != me:
                raise WriteRefused(409, f"a {coll.type} with externalId {external_id!r} already exists")
        if coll.type == "customer" and settings.customer_emails == "unique":
            for email in _key_values(attributes, "email"):
                holder = self.find(coll, "email", email, settings.email_case == "sensitive")
                if holder is not None and holder != me:
                    raise WriteRefused(409, f"another customer already has the email {email!r}")


def _key_values(attributes: Mapping[str, Any], key: str) -> Iterable[str]:
    if key == "externalId":
        value = attributes.get("externalId")
        return [value] if isinstance(value, str) and value else []
    emails = attributes.get("emails")
    return [e["email"] for e in emails if isinstance(e, Mapping) and e.get("email")] if isinstance(emails, list) else []


def _folded(key: str, value: str) -> str:
    """How ``value`` is indexed: an email in lower case, an externalId as it is."""
    return value.lower() if key == "email" else value


def _split(kind: str, operation: str, body: Mapping[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any], Any]:
    """A body as the attributes and relationships it sets, and its ``deleted`` flag (companies); keys an open bulk
    item schema lets through but Kustomer does not know are dropped."""
    known = item_keys(kind, operation)
    attributes: Dict[str, Any] = {}
    links: Dict[str, Any] = {}
    deleted = None
    for key, value in body.items():
        if key in IGNORED_ON_WRITE or key not in known:
            continue
        if key == "deleted":
            deleted = value
        elif key in ("company", "customer"):
            links[key] = relationship(key, value) if value else None
        else:
            attributes[key] = value
    return attributes, links, deleted
