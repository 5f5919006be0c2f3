"""Routes any valid key may call: the current token and the current user."""

from kustomer_simulator.org import MACHINE_USER
from kustomer_simulator.roles import listed_roles
from kustomer_simulator.routes.base import Reply, Request, json_reply
from kustomer_simulator.timefmt import iso_ms, now_ms


def current_token(request: Request) -> Reply:
    """GET /v1/auth/tokens/current: the token record, listing the roles the key holds (as ``--token-roles`` says)."""
    settings = request.settings
    roles = listed_roles(
        settings.tokens.get(request.token, ()), settings.grants.get(request.token), settings.token_roles
    )
    record = {
        "type": "auth_token",
        "id": f"{abs(hash(request.token)) % 16**24:024x}",
        "attributes": {
            "name": "simulated API key",
            "roles": roles,
            "lastTokenChars": request.token[-4:],
            "lastAccessedAt": iso_ms(now_ms()),
        },
    }
    return json_reply({"data": record})


def current_user(request: Request) -> Reply:
    """GET /v1/users/current: the machine user behind every API key."""
    with request.org.lock:
        return json_reply({"data": request.org.collections["users"].render(MACHINE_USER)}, 1)
