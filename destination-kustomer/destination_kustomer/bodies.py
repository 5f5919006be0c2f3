"""The request bodies one mapped record becomes: a create, an update of the object found, or a soft delete.

An update keeps what the record does not mention: Kustomer may replace an object's whole ``custom`` with the one
an update carries (its documents do not say), so the custom attributes found are sent along with the new ones; a
customer updated without ``company`` is unlinked from its company (documented), so the company found is sent
along; a customer's ``email`` joins the addresses it already has.
"""

from typing import Any, Dict, List, Mapping, Optional

from destination_kustomer.attributes import CREATE_ONLY, REQUIRED_ON_CREATE
from destination_kustomer.errors import RecordFailed
from destination_kustomer.lookups import Existing
from destination_kustomer.mapping import MappedRecord
from destination_kustomer.objects import EMAIL, KustomerObject

MAX_EMAILS = 10
EMAIL_FIELDS = ("email", "type", "verified")  # what a request's email item may hold (answers add an id)


def _emails(record: MappedRecord, found: Optional[List[Any]]) -> Optional[List[Any]]:
    """The emails to send, or None to leave them as they are."""
    email = record.attributes.get(EMAIL)
    given = record.attributes.get("emails")
    kept = [{k: v for k, v in e.items() if k in EMAIL_FIELDS} for e in found or [] if isinstance(e, Mapping)]
    emails = list(given) if given is not None else kept
    if email is not None and email.lower() not in {str(e.get("email", "")).lower() for e in emails}:
        emails.append({"email": email})
    elif given is None:
        return None
    if len(emails) > MAX_EMAILS:
        raise RecordFailed(f"the customer would have {len(emails)} emails; Kustomer allows {MAX_EMAILS}")
    return emails


def _standard(record: MappedRecord) -> Dict[str, Any]:
    return {key: value for key, value in record.attributes.items() if key not in (EMAIL, "emails")}


def create_body(record: MappedRecord, target: KustomerObject) -> Dict[str, Any]:
    """The body creating the record's object; ``RecordFailed`` when it lacks what a create requires."""
    missing = [name for name in REQUIRED_ON_CREATE.get(target.kind, ()) if name not in record.attributes]
    if missing:
        raise RecordFailed(f"none exists yet, and creating a {target.name} needs '{missing[0]}'")
    body = _standard(record)
    if target.kind == "customer":
        emails = _emails(record, None)
        if emails is not None:
            body["emails"] = emails
    elif "emails" in record.attributes:
        body["emails"] = record.attributes["emails"]
    if record.custom:
        body["custom"] = dict(record.custom)
    return body


def update_body(record: MappedRecord, target: KustomerObject, found: Existing) -> Dict[str, Any]:
    """The body updating ``found`` with the record (create-only attributes left out)."""
    body = {k: v for k, v in _standard(record).items() if k not in CREATE_ONLY.get(target.kind, ())}
    if target.kind == "customer":
        emails = _emails(record, found.attributes.get("emails"))
        if emails is not None:
            body["emails"] = emails
        company = _company_of(found.relationships)
        if "company" not in body and company:
            body["company"] = company
    elif "emails" in record.attributes:
        body["emails"] = record.attributes["emails"]
    if record.custom:
        kept = found.attributes.get("custom")
        body["custom"] = {**(kept if isinstance(kept, Mapping) else {}), **record.custom}
    return body


def soft_delete_body() -> Dict[str, Any]:
    """The body marking a company deleted."""
    return {"deleted": True}


def _company_of(relationships: Mapping[str, Any]) -> Optional[str]:
    company = relationships.get("company")
    data = company.get("data") if isinstance(company, Mapping) else None
    return data.get("id") if isinstance(data, Mapping) and isinstance(data.get("id"), str) else None
