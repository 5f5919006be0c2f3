"""Both readings of Kustomer's request schemas -- the destination's (what it checks records against and discover
announces) and the simulator's (what it refuses with 400) -- are held to the published facts in
``published_write_schemas.txt``, each rule restated in one line of this file's notation (``facts``). Neither is
compared with the other, so they cannot be wrong together. Every body the destination builds is also one the
simulator's contract accepts."""

import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

import pytest
from destination_kustomer.attributes import EMAIL, standard_attributes
from destination_kustomer.bodies import create_body, update_body
from destination_kustomer.lookups import Existing
from destination_kustomer.mapping import MappedRecord
from destination_kustomer.objects import COMPANY, CUSTOMER, kobject
from kustomer_http.custom_attributes import SUFFIXES

from kustomer_simulator.write_contract import (
    KINDS,
    OPERATIONS,
    body_violation,
    custom_suffix_rules,
    item_schema,
    request_schema,
)

FIXTURE = Path(__file__).with_name("published_write_schemas.txt")
# Where a bulk item is looser than the single bodies, the destination keeps the single bodies' rule (a record may go
# either way): (kind, operation, attribute).
LOOSER_IN_BULK = {("kobject", "bulk_update", "title")}
CREATE_ONLY = {"kobject": {"customer", "company"}}  # the destination sends them on creates only


def facts(rule: Mapping[str, Any]) -> str:
    """A JSON schema rule in the fixture's notation: its type (``?``: or null), then each constraint it sets --
    ``one of a/b``, ``chars min..max``, ``format f``, ``pattern p``, ``from a to b``, ``items min..max``,
    ``distinct``, ``keys ..n``, ``keys by suffix``, ``each (item)``, ``{name*: rule; …}`` (``*``: required) and
    ``closed`` (no other keys). Descriptions and examples are no facts."""
    kinds = rule.get("type", "any")
    kinds = list(kinds) if isinstance(kinds, list) else [kinds]
    nullable = rule.get("nullable") is True or "null" in kinds
    out = ["|".join(kind for kind in kinds if kind != "null") + ("?" if nullable else "")]
    if "enum" in rule:
        out.append("one of " + "/".join(str(value) for value in rule["enum"] if value is not None))
    if "minLength" in rule or "maxLength" in rule:
        out.append(f"chars {rule.get('minLength', 0)}..{rule.get('maxLength', '')}")
    if "format" in rule:
        out.append(f"format {rule['format']}")
    if "pattern" in rule:
        out.append(f"pattern {rule['pattern']}")
    if "minimum" in rule or "maximum" in rule:
        out.append(f"from {rule.get('minimum', '')} to {rule.get('maximum', '')}")
    if "minItems" in rule or "maxItems" in rule:
        out.append(f"items {rule.get('minItems', 0)}..{rule.get('maxItems', '')}")
    if rule.get("uniqueItems"):
        out.append("distinct")
    if "maxProperties" in rule:
        out.append(f"keys ..{rule['maxProperties']}")
    if "patternProperties" in rule:
        out.append("keys by suffix")
    if "items" in rule:
        out.append(f"each ({facts(rule['items'])})")
    if rule.get("properties"):
        required = set(rule.get("required", ()))
        inner = "; ".join(
            f"{k}{'*' if k in required else ''}: {facts(v)}" for k, v in sorted(rule["properties"].items())
        )
        out.append("{" + inner + "}")
    if rule.get("additionalProperties") is False and "patternProperties" not in rule:
        out.append("closed")
    return " ".join(out)


def _not_null(fact: str) -> str:
    """A fact as a writer that never sends null holds it."""
    return re.sub(r"\?(?=[ ;)}]|$)", "", fact)


def _published() -> Tuple[Dict[Tuple[str, str], Dict[str, str]], Dict[str, str]]:
    """The fixture: per (kind, operation) each attribute's facts (and ``(body)``: the body's own), and the facts of
    each custom attribute suffix."""
    bodies: Dict[Tuple[str, str], Dict[str, str]] = {}
    suffixes: Dict[str, str] = {}
    section: Dict[str, str] = {}
    for line in FIXTURE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        heading = re.fullmatch(r"\[(\w+) (\w+)\].*", line)
        if heading:
            section = (
                suffixes if heading.groups() == ("custom", "suffixes") else bodies.setdefault(heading.groups(), {})
            )
            continue
        name, _, fact = line.partition(": ")
        section[name] = fact
    return bodies, suffixes


BODIES, SUFFIX_FACTS = _published()


def _body_facts(schema: Mapping[str, Any]) -> str:
    """What a body (or a bulk item) says of itself: its required keys and whether it is closed."""
    required = ",".join(sorted(schema.get("required", ()))) or "-"
    return f"requires {required}" + ("; closed" if schema.get("additionalProperties") is False else "; open")


def test_the_fixture_covers_every_body_the_simulator_serves():
    assert set(BODIES) == {(kind, operation) for kind in KINDS for operation in OPERATIONS}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_the_simulators_schema_states_the_published_facts(kind, operation):
    published = dict(BODIES[(kind, operation)])
    schema = request_schema(kind, operation)
    item = schema.get("items", schema)
    assert _body_facts(item) == published.pop("(body)")
    if operation.startswith("bulk_"):
        assert facts({k: v for k, v in schema.items() if k != "items"}) == published.pop("(array)")
    assert {name: facts(rule) for name, rule in item["properties"].items()} == published


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_attribute_the_destination_writes_states_the_published_facts(kind, operation):
    published = BODIES[(kind, operation)]
    for name, rule in standard_attributes(kind).items():
        if name == EMAIL or (name in CREATE_ONLY.get(kind, ()) and "update" in operation):
            continue
        assert name in published, f"{kind} {operation} does not take {name}"
        if (kind, operation, name) in LOOSER_IN_BULK:
            single = BODIES[(kind, operation.removeprefix("bulk_"))][name]
            assert facts(rule) == _not_null(single) != _not_null(published[name]), f"{kind}.{name}"
            continue
        assert facts(rule) == _not_null(published[name]), f"{kind} {operation} {name}"


def test_custom_attribute_suffixes_state_the_published_facts():
    published = {suffix.name for suffix in SUFFIXES if suffix.published}
    assert published == set(SUFFIX_FACTS)  # Tree is the one suffix seen but not published
    assert {name: facts(rule) for name, rule in custom_suffix_rules(tree=False).items()} == SUFFIX_FACTS
    writer = {suffix.name: facts(suffix.write_rule()) for suffix in SUFFIXES if suffix.published}
    assert writer == {name: _not_null(fact) for name, fact in SUFFIX_FACTS.items()}
    assert "Tree" in custom_suffix_rules(tree=True) and "Tree" not in custom_suffix_rules(tree=False)


def test_the_notation_restates_a_rule_exactly():
    rule = {"type": ["string", "null"], "minLength": 1, "maxLength": 256, "description": "x"}
    assert facts(rule) == "string? chars 1..256" and _not_null(facts(rule)) == "string chars 1..256"
    listed = {"type": "array", "maxItems": 10, "uniqueItems": True, "items": {"type": "object", "required": ["a"]}}
    listed["items"]["properties"] = {"a": {"type": "string", "nullable": True}, "b": {"type": "boolean"}}
    assert facts(listed) == "array items 0..10 distinct each (object {a*: string?; b: boolean})"
    assert facts(item_schema("company", "update")["properties"]["externalId"]) == "string? chars 0..256"


FOUND = Existing(
    "c-1",
    {"emails": [{"email": "old@x.test", "type": "home", "verified": True, "id": None}], "custom": {"tierStr": "gold"}},
    {"company": {"data": {"type": "company", "id": "co-1"}}},
)
CASES: List[Tuple[Any, MappedRecord]] = [
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
def test_the_bodies_the_destination_builds_are_accepted_by_the_simulators_contract(target, record):
    created = create_body(record, target)
    updated = update_body(record, target, FOUND)
    assert body_violation(target.kind, "create", created) is None
    assert body_violation(target.kind, "update", updated) is None
    assert body_violation(target.kind, "bulk_create", [created, created]) is None
    assert body_violation(target.kind, "bulk_update", [{"id": "x", **updated}]) is None
