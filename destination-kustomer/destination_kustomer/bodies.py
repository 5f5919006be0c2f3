"""The request bodies one mapped record becomes: a create, an update of the object found, or a soft delete.

An update carries only what the record maps -- never a value a lookup returned: Kustomer may answer sensitive
values masked, and an agent may have changed the object since. Kustomer's partial updates change only what they
name (``custom`` included: the published examples update one custom attribute alone; the first update of a sync
is read back to check it), with two documented exceptions the body answers for:

* a customer updated without ``company`` is unlinked from its company ("If you omit the company, the customer will
  no longer be linked"), so an update that does not map ``company`` names the company the customer has -- an id,
  never masked, and sent with the ``rev`` it was read at, so an agent's change meanwhile is never overwritten;
* a list (``emails``, ``phones``, ``tags``, …) replaces the object's list. A mapped ``emails`` is sent as the
  record gives it; a customer's single ``email`` joins a list only where that loses nothing: on a create, or a
  customer with no address yet. A customer holding other addresses keeps them, and the email is reported as not
  written (``email_not_added``): adding it would mean sending back the addresses read.

``rev`` (customers and custom objects) is sent where the lookup answered it: a stale one gets 409, and the object
is read again and the record's fields applied to it anew.
"""

from typing import Any, Dict, List, Mapping, Optional

from destination_kustomer.attributes import CREATE_ONLY, REQUIRED_ON_CREATE
from destination_kustomer.errors import RecordFailed
from destination_kustomer.lookups import Existing, keys_of
from destination_kustomer.mapping import MappedRecord
from destination_kustomer.objects import EMAIL, KustomerObject

MAX_EMAILS = 10
IMPORTED_AT = "importedAt"


def _emails(record: MappedRecord) -> Optional[List[Any]]:
    """The record's own addresses: its ``emails`` and its ``email`` (None when it maps neither)."""
    email = record.attributes.get(EMAIL)
    given = record.attributes.get("emails")
    emails = list(given) if given is not None else []
    if email is not None and email.lower() not in {str(e.get("email", "")).lower() for e in emails}:
        emails.append({"email": email})
    if not emails and given is None:
        return None
    if len(emails) > MAX_EMAILS:
        raise RecordFailed(f"emails: the customer would have {len(emails)} addresses; Kustomer allows {MAX_EMAILS}")
    return emails


def _standard(record: MappedRecord, target: KustomerObject, update: bool) -> Dict[str, Any]:
    left_out = {EMAIL, "emails"} if target.kind == "customer" else set()
    if update:
        left_out |= set(CREATE_ONLY.get(target.kind, ()))
    return {key: value for key, value in record.attributes.items() if key not in left_out}


def create_body(record: MappedRecord, target: KustomerObject, imported_at: Optional[str] = None) -> Dict[str, Any]:
    """The body creating the record's object (with ``importedAt`` when given: custom objects imported from
    another system); ``RecordFailed`` when it lacks what a create requires."""
    missing = [name for name in REQUIRED_ON_CREATE.get(target.kind, ()) if name not in record.attributes]
    if missing:
        raise RecordFailed(f"{missing[0]}: none exists yet, and creating a {target.name} needs '{missing[0]}'")
    body = _standard(record, target, update=False)
    if target.kind == "customer":
        emails = _emails(record)
        if emails is not None:
            body["emails"] = emails
    if record.custom:
        body["custom"] = dict(record.custom)
    if imported_at is not None:
        body[IMPORTED_AT] = imported_at
    return body


def update_body(record: MappedRecord, target: KustomerObject, found: Existing) -> Dict[str, Any]:
    """The body updating ``found`` with what the record maps (create-only attributes left out), its ``rev`` and, for
    a customer whose record maps no ``company``, the company it has (``email_not_added`` says when the record's
    email is left out)."""
    body = _standard(record, target, update=True)
    if target.kind == "customer":
        if "emails" in record.attributes:
            body["emails"] = _emails(record)
        elif EMAIL in record.attributes and not keys_of(found.attributes, EMAIL):
            body["emails"] = [{"email": record.attributes[EMAIL]}]  # the customer has no address to lose
        if "company" not in body:
            company = _company_of(found.relationships)
            if company:
                body["company"] = company
    if record.custom:
        body["custom"] = dict(record.custom)
    if target.sends_rev and found.rev is not None:
        body["rev"] = found.rev
    return body


def email_not_added(record: MappedRecord, target: KustomerObject, found: Existing) -> Optional[str]:
    """Why the record's ``email`` is not written to ``found`` (None when it is, or the customer has it)."""
    email = record.attributes.get(EMAIL)
    if target.kind != "customer" or email is None or "emails" in record.attributes:
        return None
    held = keys_of(found.attributes, EMAIL)
    if not held or email.lower() in held:
        return None
    return (
        "email: not added to the customer, who has other addresses (Kustomer replaces a customer's emails with the "
        "list an update sends, and the destination never sends back addresses it read); map 'emails' to set them"
    )


def soft_delete_body() -> Dict[str, Any]:
    """The body marking a company deleted."""
    return {"deleted": True}


def _company_of(relationships: Mapping[str, Any]) -> Optional[str]:
    company = relationships.get("company")
    data = company.get("data") if isinstance(company, Mapping) else None
    return data.get("id") if isinstance(data, Mapping) and isinstance(data.get("id"), str) else None
