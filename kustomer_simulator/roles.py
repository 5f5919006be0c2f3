"""The roles each resource needs, and whether a token holds one.

Every resource accepts any one of a set of roles (OpenAPI role tables: a legacy and a permission-set name, some
more); the first is the one this simulator names in refusals. For ``customers``, ``companies`` and ``kobjects``,
``<resource>.create`` and ``.update`` are the write roles.

A token is configured one of two ways (``--token``): by the roles it *lacks* (``TOKEN:role,...``: it holds every
other first-named role), or by the roles it *holds* (``TOKEN=role,...``). A held role grants every role it is an
umbrella of -- ``org`` grants every ``org.…`` role, ``org.permission.customer`` grants
``org.permission.customer.read``, ``.create`` and ``.update`` -- as Kustomer's reference shows users holding just
``["org"]`` and Fivetran Activations documents keys holding ``org.permission.customer``. What the token record
(``GET /v1/auth/tokens/current``) lists is ``--token-roles``: the roles as held, umbrellas included
(``umbrella``), or every first-named role they grant (``listed``).
"""

from typing import Iterable, List, Mapping, Optional, Sequence, Tuple

ROLES: Mapping[str, Tuple[str, ...]] = {
    "search": (
        "org.user.search.read",
        "org.admin.search.read",
        "org.permission.search.create",
        "org.permission.search.update",
    ),
    "users": ("org.user.read",),
    "teams": ("org.permission.team.read",),
    "tags": ("org.permission.tag.read",),
    "shortcuts": ("org.permission.shortcut.read",),
    "brands": ("org.permission.brand.read",),
    "queues": ("org.permission.queue.read",),
    "klasses": ("org.admin.klass.read", "org.user.klass.read", "org.permission.klass.read"),
    "companies": ("org.permission.company.read", "org.user.company.read"),
    "customers": ("org.permission.customer.read", "org.user.customer.read"),
    "customer_merges": ("org.permission.customer_merge.read", "org.admin.customer.merge.read"),
    "conversations": ("org.permission.conversation.read", "org.user.conversation.read"),
    "messages": ("org.permission.message.read", "org.user.message.read"),
    "notes": ("org.permission.note.read", "org.user.note.read"),
    "satisfaction": ("org.permission.satisfaction.read",),
    "slas": ("org.permission.sla.read", "org.user.sla.read"),
    "business_schedules": ("org.permission.schedule.read",),
    "metadata": ("org.admin.metadata.read", "org.user.metadata.read", "org.permission.metadata.read"),
    "kobjects": ("org.user.kobject.read", "org.permission.kobject.read"),
    "routing": ("org.user.routing.read",),
    "work_sessions": ("org.user.routing.read",),
    "work_items": ("org.user.routing.read",),
    "audit_logs": ("org.permission.audit_logs.read", "org.user.audit_logs.read"),
    "snoozes": ("org.permission.snooze.read",),
    "cards": ("org.permission.apps.read",),
    "team_routing_settings": ("org.permission.routing.read", "org.user.routing.read"),
    "routing_statuses": ("org.permission.routing_status.read", "org.permission.routing.read", "org.user.routing.read"),
    "queue_rules": ("org.permission.queue_rule.read", "org.permission.routing.read", "org.user.routing.read"),
    "conversation_events": ("org.permission.event.read", "org.user.event.read"),
    "message_attachments": ("org.permission.attachment.read", "org.user.attachment.read"),
    "customers.create": ("org.permission.customer.create", "org.user.customer.write"),
    "customers.update": ("org.permission.customer.update", "org.user.customer.write"),
    "companies.create": ("org.permission.company.create", "org.user.company.write"),
    "companies.update": ("org.permission.company.update", "org.user.company.write"),
    "kobjects.create": ("org.permission.kobject.create", "org.user.kobject.write"),
    "kobjects.update": ("org.permission.kobject.update", "org.user.kobject.write"),
    "bulk": ("org.permission.bulk.read", "org.user.bulk.read"),
}
TOKEN_ROLES = ("umbrella", "listed")  # --token-roles: what the token record lists
# The roles Fivetran Activations tells users to give its Kustomer key (its setup guide), for tests of such a key.
FIVETRAN_ACTIVATIONS_ROLES = (
    "org.admin.klass.read",
    "org.user.kobject.read",
    "org.admin.metadata.read",
    "org.admin.search.read",
    "org.user.customer.write",
    "org.user.kobject.write",
    "org.permission.customer",
    "org.permission.company",
)


def grants(held: str, role: str) -> bool:
    """Whether holding ``held`` grants ``role``: the same role, or an umbrella of it (a prefix ending at a dot)."""
    return role == held or role.startswith(held + ".")


def first_named() -> List[str]:
    """Every role this simulator names in refusals, sorted."""
    return sorted({accepted[0] for accepted in ROLES.values()})


def missing_role(resource: str, denied: Iterable[str], held: Optional[Sequence[str]]) -> Optional[str]:
    """The role a token lacks to reach ``resource`` (None when it may): with ``held`` roles, none of them grants any
    role the resource accepts; otherwise the resource's first-named role is among those ``denied``."""
    accepted = ROLES[resource]
    if held is None:
        return accepted[0] if accepted[0] in set(denied) else None
    return None if any(grants(h, role) for h in held for role in accepted) else accepted[0]


def listed_roles(denied: Iterable[str], held: Optional[Sequence[str]], token_roles: str) -> List[str]:
    """What the token record lists: under ``umbrella`` the roles as held (a token lacking nothing holds ``org``),
    under ``listed`` every first-named role the token has."""
    denied = set(denied)
    if token_roles == "umbrella":
        if held is not None:
            return list(held)
        if not denied:
            return ["org"]
    if held is not None:
        return [role for role in first_named() if any(grants(h, role) for h in held)]
    return [role for role in first_named() if role not in denied]
