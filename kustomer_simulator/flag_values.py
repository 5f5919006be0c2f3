"""How ``serve`` reads the flags whose value is more than one word: API keys, klasses, per-context search settings."""

import argparse
from typing import Dict, FrozenSet, List, Mapping, Tuple

from kustomer_simulator.org import KLASS_STATUSES
from kustomer_simulator.search_limits import (
    CREATED_AT_DEFAULTS,
    FIELD_BEHAVIOURS,
    ROUTING_BEHAVIOURS,
    ROUTING_SEARCH_DEFAULTS,
)


def int_list(text: str) -> List[int]:
    """``1000,5000``: the numbers, in order."""
    return [int(x) for x in text.split(",") if x.strip()]


def parse_tokens(specs: List[str]) -> Tuple[Dict[str, FrozenSet[str]], Dict[str, Tuple[str, ...]]]:
    """``TOKEN``, ``TOKEN:role,role`` (roles the token lacks) or ``TOKEN=role,role`` (the roles it holds, umbrella
    roles such as ``org`` included): the tokens by the roles they lack, and those defined by what they hold."""
    tokens: Dict[str, FrozenSet[str]] = {}
    grants: Dict[str, Tuple[str, ...]] = {}
    for spec in specs:
        if "=" in spec.partition(":")[0]:
            token, _, held = spec.partition("=")
            grants[token] = tuple(r for r in held.split(",") if r)
        else:
            token, _, denied = spec.partition(":")
            tokens[token] = frozenset(r for r in denied.split(",") if r)
    return tokens, grants


def _per_context(text: str, defaults: Mapping[str, str], choices: Tuple[str, ...] = FIELD_BEHAVIOURS) -> Dict[str, str]:
    """``honoured`` (every context) or ``a=honoured,b=rejected`` (the rest keep their defaults)."""
    behaviours = dict(defaults)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        context, _, behaviour = part.rpartition("=")
        if behaviour not in choices:
            raise argparse.ArgumentTypeError(f"{behaviour!r} is not one of {', '.join(choices)}")
        if context:
            behaviours[context] = behaviour
        else:
            behaviours = {key: behaviour for key in behaviours}
    return behaviours


def parse_created_at(text: str) -> Dict[str, str]:
    """How standard search treats ``<object>_created_at``, per object (``customer=honoured,company=rejected``)."""
    return _per_context(text, CREATED_AT_DEFAULTS)


def parse_routing_search(text: str) -> Dict[str, str]:
    """How search treats the routing contexts' time fields (``ignored``, or ``work_item=honoured,...``)."""
    unknown = {p.partition("=")[0].strip() for p in text.split(",") if "=" in p} - set(ROUTING_SEARCH_DEFAULTS)
    if unknown:
        raise argparse.ArgumentTypeError(f"{sorted(unknown)}: the routing contexts are work_item and work_session")
    return _per_context(text, ROUTING_SEARCH_DEFAULTS, ROUTING_BEHAVIOURS)


def parse_klasses(text: str) -> Tuple[Tuple[str, ...], Dict[str, str]]:
    """``order,legacy_case:existing_only``: the klass names, and the status of those not enabled."""
    names, statuses = [], {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, status = part.partition(":")
        if status and status not in KLASS_STATUSES:
            raise argparse.ArgumentTypeError(f"klass status {status!r} is not one of {', '.join(KLASS_STATUSES)}")
        names.append(name)
        if status:
            statuses[name] = status
    return tuple(names), statuses


def spelled(behaviours: Mapping[str, str]) -> str:
    """Per-context settings as the command line spells them (``a=honoured,b=rejected``): a flag's default."""
    return ",".join(f"{key}={value}" for key, value in behaviours.items())
