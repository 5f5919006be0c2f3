"""Whether the API key may do what the writes need, settled by asking -- as the source does -- never by refusing a
key whose roles carry other names.

Each need (look each object up, create and update it, follow bulk jobs, look customers up by search) is settled
the first of three ways that answers:

1. the key's token record (``GET /v1/auth/tokens/current``, which any valid key may read) lists a role granting it:
   one the OpenAPI role tables name for it, or an umbrella of one -- ``org`` grants every ``org.…`` role,
   ``org.permission.customer`` grants ``org.permission.customer.read``, ``.create`` and ``.update``;
2. else one harmless request proves it: a lookup of a key no object has, a poll of a bulk job that does not
   exist, a search for one result;
3. else (creating and updating have no harmless request) the first real write tells: a 401/403 stops the sync with
   one error naming the need and the roles that grant it (``errors.role_error``).

A refused lookup stops the sync at once with that error; without bulk reads the records are written one request
each, and without search customers are looked up one by one -- each said once, at WARN.
"""

import logging
from dataclasses import dataclass
from typing import Callable, FrozenSet, Iterable, List, Optional, Tuple

import requests
from kustomer_http.connection import TOKEN_PATH, KustomerClient, listed_roles
from kustomer_http.definitions import KLASS_READ
from kustomer_http.errors import config_error, server_trouble
from kustomer_http.responses import AUTH_MESSAGE, response_json

from destination_kustomer.errors import role_error, stop_if_key_refused
from destination_kustomer.objects import BULK_READ, CUSTOMER, METADATA_READ, SEARCH_READ, KustomerObject

logger = logging.getLogger("airbyte")
NEEDS = {"upsert": ("read", "create", "update"), "update": ("read", "update"), "soft_delete": ("read", "update")}
PROBE_KEY = "airbyte-access-check-0"  # a key no object has: its lookup writes nothing and finds nothing
PROBE_JOB = "0" * 24  # a bulk job that does not exist: polling it answers 404 to a key that may read bulk jobs
Ask = Callable[[KustomerClient], requests.Response]


@dataclass(frozen=True)
class Need:
    """Something the writes do: the roles that grant it, the harmless request that proves it (None: only a real
    write can tell), and whether the writes go on without it."""

    what: str  # e.g. "look up customer records"
    roles: Tuple[str, ...]
    ask: Optional[Ask] = None
    optional: bool = False


@dataclass(frozen=True)
class Access:
    """What the key was found to allow beyond its required needs, and the needs only a real write can settle."""

    bulk: bool
    search: bool
    unsettled: Tuple[Need, ...] = ()

    def note(self) -> Optional[str]:
        """What the token record could not settle (None when it settled everything)."""
        if not self.unsettled:
            return None
        listed = "; ".join(f"to {need.what}: {' or '.join(need.roles)}" for need in self.unsettled)
        return (
            f"The key's token record lists no role known to grant these, and no harmless request can prove them "
            f"({listed}); the first write will tell, and stop the sync with one error if Kustomer refuses it."
        )


def grants(held: str, role: str) -> bool:
    """Whether holding ``held`` grants ``role``: the same role, or an umbrella of it (a prefix ending at a dot)."""
    return role == held or role.startswith(held + ".")


def _lookup(target: KustomerObject) -> Ask:
    path, params = target.lookup_path(target.matching_keys[0], PROBE_KEY)
    return lambda client: client.get(client.api_url(path), params)


def _bulk_poll(client: KustomerClient) -> requests.Response:
    return client.get(client.api_url(f"bulk/{PROBE_JOB}"))


def _one_search(client: KustomerClient) -> requests.Response:
    body = {"or": [{"customer_externalId": {"equals": PROBE_KEY}}], "queryContext": "customer"}
    return client.search(body, page=1, page_size=1)


def needs(work: Iterable[Tuple[KustomerObject, str]], bulk: bool, search: bool, dry_run: bool) -> List[Need]:
    """What writing ``(object, operation)`` pairs takes; a dry run only looks up."""
    found: List[Need] = []
    for target, operation in work:
        for need in ("read",) if dry_run else NEEDS[operation]:
            roles = getattr(target.roles, need)
            if need == "read":  # a klass not named yet ("*": check without mappings) cannot be asked about
                ask = _lookup(target) if target.klass != "*" else None
                found.append(Need(f"look up {target.name} records", roles, ask))
            else:
                found.append(Need(f"{need} {target.name} records", roles))
    if bulk and not dry_run:
        found.append(Need("follow bulk writes to their result", BULK_READ, _bulk_poll, optional=True))
    if search and any(target.kind == CUSTOMER.kind for target, _ in work):
        found.append(Need("look customers up by search", SEARCH_READ, _one_search, optional=True))
    return list({need.what: need for need in found}.values())


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


def settle(
    client: KustomerClient, work: Iterable[Tuple[KustomerObject, str]], bulk: bool, search: bool, dry_run: bool
) -> Access:
    """Settle every need of the work; a refused lookup raises the error naming its roles."""
    held = held_roles(client) or frozenset()
    refused: List[Tuple[str, ...]] = []
    unsettled: List[Need] = []
    for need in needs(list(work), bulk, search, dry_run):
        if any(grants(role, wanted) for role in held for wanted in need.roles):
            continue
        if need.ask is None:
            unsettled.append(need)
            continue
        response = need.ask(client)
        if response.status_code not in (401, 403):
            continue  # answered (a miss, a 404 job, a page) or not settled: the real request will tell
        if not need.optional:
            raise role_error(client, response, f"to {need.what}", need.roles)
        refusal = client.refusal(response)
        refused.append(need.roles)
        instead = "each record is written with its own request" if need.roles == BULK_READ else "by GET, one by one"
        logger.warning(
            f"The API key may not {need.what} (HTTP {response.status_code}"
            f"{f': {refusal.reason}' if refusal else ''}); the writes go on without it: {instead}. Give the key "
            f"one of the roles {', '.join(need.roles)} to {need.what}."
        )
    return Access(
        bulk=bulk and not dry_run and BULK_READ not in refused,
        search=search and SEARCH_READ not in refused,
        unsettled=tuple(unsettled),
    )


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
