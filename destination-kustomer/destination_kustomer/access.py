"""Whether the API key may do what the writes need: ``GET /v1/auth/tokens/current`` (any valid key may call it)
lists the roles it holds, and each write needs one role of each kind -- to look objects up, to create and to
update them, to follow bulk jobs, to read custom attribute definitions and (for custom objects) klasses."""

import logging
from dataclasses import dataclass
from typing import FrozenSet, Iterable, List, Optional, Tuple

from kustomer_http.connection import TOKEN_PATH, KustomerClient, listed_roles
from kustomer_http.errors import config_error, server_trouble
from kustomer_http.responses import AUTH_MESSAGE, response_json

from destination_kustomer.errors import stop_if_key_refused
from destination_kustomer.objects import BULK_READ, KLASS_READ, METADATA_READ, KustomerObject

logger = logging.getLogger("airbyte")
NEEDS = {"upsert": ("read", "create", "update"), "update": ("read", "update"), "soft_delete": ("read", "update")}


@dataclass(frozen=True)
class Requirement:
    """One role the writes need (any of ``roles``), and what for."""

    roles: Tuple[str, ...]
    purpose: str


def requirements(work: Iterable[Tuple[KustomerObject, str]], bulk: bool, dry_run: bool) -> List[Requirement]:
    """The roles writing ``(object, operation)`` pairs takes; a dry run only looks up."""
    needed = [Requirement(METADATA_READ, "to read which custom attributes the org defines")]
    kinds = set()
    for target, operation in work:
        kinds.add(target.kind)
        for need in ("read",) if dry_run else NEEDS[operation]:
            verb = "look up" if need == "read" else need
            needed.append(Requirement(getattr(target.roles, need), f"to {verb} {target.name} records"))
    if "kobject" in kinds:
        needed.append(Requirement(KLASS_READ, "to list the org's custom object klasses"))
    if bulk and not dry_run:
        needed.append(Requirement(BULK_READ, "to follow bulk writes to their result"))
    return list({(r.roles, r.purpose): r for r in needed}.values())


def held_roles(client: KustomerClient) -> Optional[FrozenSet[str]]:
    """The roles the key holds (None when Kustomer's answer lists none); a config_error for an invalid key."""
    response = client.get(client.api_url(TOKEN_PATH))
    if response.status_code == 401:
        raise config_error(AUTH_MESSAGE)
    if not response.ok:
        raise server_trouble(
            f"Kustomer answered HTTP {response.status_code} when asked about the API key; try again later."
        )
    roles = listed_roles(response_json(response))
    return frozenset(roles) if roles is not None else None


def lacking_roles(
    client: KustomerClient, work: Iterable[Tuple[KustomerObject, str]], bulk: bool, dry_run: bool
) -> Optional[str]:
    """What to add to the key, requirement by requirement (None when it holds every role the work needs, or when
    Kustomer's token record lists no roles to check)."""
    held = held_roles(client)
    if held is None:
        logger.warning("Kustomer's token record lists no roles; the key's roles were not checked.")
        return None
    lacking = [r for r in requirements(work, bulk, dry_run) if not held.intersection(r.roles)]
    if not lacking:
        return None
    wanted = "; ".join(f"{' or '.join(r.roles)} ({r.purpose})" for r in lacking)
    return f"The API key lacks roles the writes need: {wanted}. Add them in Kustomer (Settings > Security > API Keys)."


def cheap_reads(client: KustomerClient, klasses: bool) -> None:
    """Read one custom attribute definition (and one page of klasses): the writes need both; the sync would stop
    at once if Kustomer refused them."""
    reads = [("metadata/customer", METADATA_READ, "to read custom attribute definitions")]
    if klasses:
        reads.append(("klasses?status=enabled&page=1&pageSize=1", KLASS_READ, "to list custom object klasses"))
    for path, roles, purpose in reads:
        response = client.get(client.api_url(path))
        stop_if_key_refused(client, response, purpose, roles)
        if not response.ok:  # a server error is Kustomer's trouble; another refusal, the host's
            raise (server_trouble if response.status_code >= 500 else config_error)(
                f"Kustomer answered HTTP {response.status_code} to GET /v1/{path}; try again later, and check "
                "'region', 'organization' or 'api_url' if it persists."
            )
