"""Two readings of Kustomer's published request schemas agree: the destination's (what it checks records against
and discover announces) and the simulator's (what it refuses with 400). Every body the destination builds is one
the simulator's contract accepts."""

from typing import Any

import pytest
from destination_kustomer.attributes import EMAIL, standard_attributes
from destination_kustomer.bodies import create_body, update_body
from destination_kustomer.custom_attributes import SUFFIX_RULES
from destination_kustomer.lookups import Existing
from destination_kustomer.mapping import MappedRecord
from destination_kustomer.objects import COMPANY, CUSTOMER, kobject

from kustomer_simulator.write_contract import CUSTOM_SUFFIXES, body_violation, item_schema


def _strict(rule: Any) -> Any:
    """A rule without what the destination never sends (nulls) and without descriptions."""
    if isinstance(rule, dict):
        out = {k: _strict(v) for k, v in rule.items() if k != "description"}
        if isinstance(out.get("type"), list):
            kinds = [kind for kind in out["type"] if kind != "null"]
            out["type"] = kinds[0] if len(kinds) == 1 else kinds
        if isinstance(out.get("enum"), list):
            out["enum"] = [value for value in out["enum"] if value is not None]
        return out
    if isinstance(rule, list):
        return [_strict(item) for item in rule]
    return rule


@pytest.mark.parametrize("kind", ["customer", "company", "kobject"])
@pytest.mark.parametrize("operation", ["create", "update", "bulk_create", "bulk_update"])
def test_every_attribute_the_destination_writes_has_the_simulators_rule(kind, operation):
    published = item_schema(kind, operation)["properties"]
    create_only = {"kobject": {"customer", "company"}}.get(kind, set())
    for name, rule in standard_attributes(kind).items():
        if name == EMAIL or (name in create_only and "update" in operation):
            continue
        assert name in published, f"{kind} {operation} does not take {name}"
        assert _strict(published[name]) == _strict(rule), f"{kind}.{name}"


def test_custom_attribute_rules_agree():
    assert {suffix: _strict(rule) for suffix, rule in CUSTOM_SUFFIXES.items()} == {
        suffix: _strict(rule) for suffix, rule in SUFFIX_RULES.items()
    }


FOUND = Existing(
    "c-1",
    {"emails": [{"email": "old@x.test", "type": "home", "verified": True, "id": None}], "custom": {"tierStr": "gold"}},
    {"company": {"data": {"type": "company", "id": "co-1"}}},
)
CASES = [
    (CUSTOMER, MappedRecord("crm-1", {"externalId": "crm-1", "email": "new@x.test", "tags": ["vip"]}, {"ltvNum": 3})),
    (
        COMPANY,
        MappedRecord("acme", {"externalId": "acme", "name": "Acme Inc", "domains": [{"domain": "acme.test"}]}, {}),
    ),
    (
        kobject("order"),
        MappedRecord("o-1", {"externalId": "o-1", "title": "Order", "customer": "c-1"}, {"totalNum": 1}),
    ),
]


@pytest.mark.parametrize("target, record", CASES)
def test_the_bodies_the_destination_builds_are_accepted_by_the_published_schema(target, record):
    created = create_body(record, target)
    updated = update_body(record, target, FOUND)
    assert body_violation(target.kind, "create", created) is None
    assert body_violation(target.kind, "update", updated) is None
    assert body_violation(target.kind, "bulk_create", [created, created]) is None
    assert body_violation(target.kind, "bulk_update", [{"id": "x", **updated}]) is None
