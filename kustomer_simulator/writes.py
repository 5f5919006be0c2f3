"""The org's write side: customers, companies and custom objects created, updated and found by key, as the API does it.

A write changes the org the way a read sees it: a created record gets a fresh id and ``createdAt = updatedAt =
now`` and is found by lists, search and ground truth; an update moves ``updatedAt`` and shows what it wrote. What
Kustomer's documents leave open is a switch (``WriteSettings``), each defaulting to the strict reading -- the one a
careless client gets hurt by.
"""

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, Tuple

from kustomer_simulator.collection import Collection
from kustomer_simulator.shapes import relationship
from kustomer_simulator.write_contract import item_schema

if TYPE_CHECKING:
    from kustomer_simulator.org import Org

LOOKUP_KEYS = ("externalId", "email")
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
CUSTOM_UPDATES = ("replace", "merge")
CUSTOM_TREES = ("rejected", "accepted")


@dataclass
class WriteSettings:
    """How writes behave where Kustomer's evidence leaves it open (each default is the strict reading).

    * ``bulk_mode``: bulk requests answer 201 ``queued`` and run later, as the developer guide says (``async``), or
      complete before answering, as the OpenAPI examples show (``sync``).
    * ``bulk_seconds``: how long an asynchronous job takes; nothing it writes is visible before it completes.
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
      (``rejected``) or accepted and echoed in the results, as the bulk guide describes (``accepted``).
    * ``custom_update``: an update carrying ``custom`` replaces the record's custom attributes (``replace``: whatever
      the update leaves out is lost) or sets only the attributes it names (``merge``).
    * ``max_body_bytes``: bodies larger than this are refused with 413 (0: no limit); 100 KB was seen before.
    """

    bulk_mode: str = "async"
    bulk_seconds: float = 0.5
    bulk_job_end: str = "complete"
    bulk_results: str = "paged"
    duplicate_external_id: str = "created"
    customer_emails: str = "unique"
    email_case: str = "insensitive"
    custom_tree: str = "rejected"
    lookup_miss: str = "empty"
    client_ref: str = "rejected"
    custom_update: str = "replace"
    max_body_bytes: int = 100_000


class WriteRefused(Exception):
    """A write Kustomer would refuse: ``status`` (404, 409) and what it would say."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


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

    def _index(self, coll: Collection, key: str) -> Dict[str, List[int]]:
        index = self._indexes.get((coll.name, key))
        if index is None:
            index = self._indexes[(coll.name, key)] = {}
            for i in range(coll.count):
                for value in {_folded(key, value) for value in _key_values(coll.render(i)["attributes"], key)}:
                    index.setdefault(value, []).append(i)
        return index

    def _reindex(self, coll: Collection, i: int, before: Mapping[str, Any]) -> None:
        after = coll.render(i)["attributes"]
        for key in LOOKUP_KEYS:
            index = self._index(coll, key)  # built now, it already holds record i
            for value in {_folded(key, value) for value in _key_values(before, key)}:
                if i in index.get(value, []):
                    index[value].remove(i)
            for value in {_folded(key, value) for value in _key_values(after, key)}:
                holders = index.setdefault(value, [])
                if i not in holders:
                    bisect.insort(holders, i)

    # ---- writes ------------------------------------------------------------------------
    def create(self, coll: Collection, body: Mapping[str, Any], settings: WriteSettings, at_ms: int) -> int:
        """Create a record from a body the request schema accepted; raises ``WriteRefused`` on a conflict."""
        kind = kind_of(coll)
        attributes, links, _ = _split(kind, "create", body)
        self._check_conflicts(coll, None, attributes, settings)
        i = coll.append(at_ms)
        coll.write(i, attributes, links, at_ms)
        self._reindex(coll, i, {})
        self.org.audit.write(("create", coll.type, coll.record_id(i), at_ms, None))
        return i

    def update(self, coll: Collection, i: int, body: Mapping[str, Any], settings: WriteSettings, at_ms: int) -> None:
        """Update record i from a body the request schema accepted; raises ``WriteRefused`` on a conflict."""
        kind = kind_of(coll)
        before = coll.render(i)["attributes"]
        attributes, links, deleted = _split(kind, "update", body)
        if kind == "customer":
            # "If you omit the company, the customer will no longer be linked to the company" (PUT/PATCH customer).
            links.setdefault("company", None)
        if "custom" in attributes and settings.custom_update == "merge":
            attributes["custom"] = {**(before.get("custom") or {}), **attributes["custom"]}
        self._check_conflicts(coll, i, attributes, settings)
        coll.write(i, attributes, links, at_ms)
        if deleted is True:
            coll.soft_delete(i, at_ms, revise=False)
        elif deleted is False:
            coll.restore(i, at_ms)
        self._reindex(coll, i, before)
        self.org.audit.write(("delete" if deleted else "update", coll.type, coll.record_id(i), at_ms, None))

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
    known = item_schema(kind, operation)["properties"]
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
