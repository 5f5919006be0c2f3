"""A search body's criteria and sort as predicates and value getters over an org's records.

Fields modelled: ``<object>_updated_at`` and ``<object>_created_at`` (a conversation time has only
``conversation_time_created_at``), treated as ``SearchLimits`` says, and a customer's keys ``customer_externalId`` /
``customer_email`` with ``equals`` (found as the lookups by key find them: a writer's lookup by search); any other
field is answered 400 ("not modelled"), so a test never passes on a criterion the simulator silently ignored.
"""

from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional, Set

from kustomer_simulator.collection import Collection
from kustomer_simulator.org import Org
from kustomer_simulator.search_limits import (
    ROUTING_FIELD,
    ROUTING_SEARCH_DEFAULTS,
    TIME_FIELDS,
    SearchLimits,
    time_field,
)
from kustomer_simulator.timefmt import parse_iso_ms
from kustomer_simulator.writes import KEY_SEARCH_FIELDS

OPERATORS = ("gte", "gt", "lte", "lt", "equals")
Predicate = Callable[[Collection, int], bool]


class SearchError(Exception):
    """A request Kustomer would answer with 400."""


def as_list(value: Any) -> List[Any]:
    """``and``/``or``/``not``/``sort`` may be one object or a list; an object holds one item per key."""
    if isinstance(value, Mapping):
        return [{key: item} for key, item in value.items()]
    return list(value or [])


@dataclass
class Query:
    """The criteria of one search over objects of field prefix ``prefix``."""

    prefix: str
    limits: SearchLimits
    archive: bool = False
    org: Optional[Org] = None

    def key_holders(self, name: str, value: Any) -> Optional[Set[int]]:
        """For a criterion on a customer's key (``customer_externalId`` / ``customer_email``, with ``equals``): the
        customers holding it, found as the lookups by key find them; None for any other criterion."""
        if self.prefix != "customer" or name not in KEY_SEARCH_FIELDS or self.org is None:
            return None
        operand = value.get("equals") if isinstance(value, Mapping) and len(value) == 1 else None
        if not isinstance(operand, str) or not operand:
            raise SearchError(f"the simulator models {name} with one 'equals' and a text only")
        return set(self.org.store.holders(self.org.collections["customers"], KEY_SEARCH_FIELDS[name], operand))

    def candidates(self, or_clauses: List[Any]) -> Optional[Set[int]]:
        """The only records an ``or`` made wholly of key criteria can match (None: any record may)."""
        found: Set[int] = set()
        for clause in or_clauses:
            if not isinstance(clause, Mapping) or len(clause) != 1:
                return None
            ((name, value),) = clause.items()
            holders = self.key_holders(name, value)
            if holders is None:
                return None
            found |= holders
        return found if or_clauses else None

    def behaviour(self, name: str, sorting: bool) -> str:
        """honoured | ignored | rejected: how this search treats a criterion on (or a sort by) field ``name``."""
        created = f"{self.prefix}_created_at"
        if self.prefix in ROUTING_SEARCH_DEFAULTS and name in (time_field(self.prefix), created):
            criterion, sort = ROUTING_FIELD[self.limits.routing_behaviour(self.prefix)]
            return sort if sorting else criterion
        if name == time_field(self.prefix):
            return self.limits.conversation_time_sort if sorting and self.prefix in TIME_FIELDS else "honoured"
        if name == created and self.prefix not in TIME_FIELDS:
            return "honoured" if self.archive else self.limits.created_at_behaviour(self.prefix)
        raise SearchError(f"the simulator does not model the search field {name!r}")

    def field(self, name: str, sorting: bool = False) -> Optional[Callable[[Collection, int], int]]:
        """The value getter of a search field; None when the field is ignored here."""
        behaviour = self.behaviour(name, sorting)
        if behaviour == "rejected":
            if sorting:
                raise SearchError(f"sorting by {name} is unavailable for {self.prefix}")
            raise SearchError(f"{name} is not a searchable attribute for {self.prefix}")
        if behaviour == "ignored":
            return None
        if name == time_field(self.prefix):
            return lambda c, i: c.updated_ms[i]
        return lambda c, i: c.created_ms[i]

    def clause(self, clause: Any) -> Predicate:
        """The predicate of one criterion (``{field: {op: date}}``, a key criterion, or a nested and/or/not)."""
        if not isinstance(clause, Mapping) or len(clause) != 1:
            raise SearchError(f"malformed criterion {clause!r}")
        ((key, value),) = clause.items()
        if key in ("and", "or", "not"):
            return self.group(key, value)
        holders = self.key_holders(key, value)
        if holders is not None:
            return lambda c, i: i in holders
        getter = self.field(key)
        if not isinstance(value, Mapping) or not value:
            raise SearchError(f"criterion {key!r} needs an operator")
        checks = []
        for op, operand in value.items():
            if op not in OPERATORS:
                raise SearchError(f"unsupported operator {op!r}")
            try:
                checks.append((op, parse_iso_ms(operand)))
            except (TypeError, ValueError, AttributeError):
                raise SearchError(f"{key}.{op} is not a date: {operand!r}") from None
        if getter is None:
            return lambda c, i: True
        return lambda c, i: all(_compare(op, getter(c, i), ms) for op, ms in checks)

    def group(self, kind: str, clauses: Any) -> Predicate:
        """The predicate of an ``and``, ``or`` (empty: every record) or ``not`` of ``clauses``."""
        predicates = [self.clause(c) for c in as_list(clauses)]
        if kind == "and":
            return lambda c, i: all(p(c, i) for p in predicates)
        if kind == "or":
            return lambda c, i: any(p(c, i) for p in predicates) if predicates else True
        return lambda c, i: not any(p(c, i) for p in predicates)


def _compare(op: str, left: int, right: int) -> bool:
    return {
        "gte": left >= right,
        "gt": left > right,
        "lte": left <= right,
        "lt": left < right,
        "equals": left == right,
    }[op]
