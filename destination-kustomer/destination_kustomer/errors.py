"""The two ways a write goes wrong: one record Kustomer refuses (reported, counted, the sync goes on) and a refusal
of the API key itself (the sync stops with one error naming the role to add)."""

from typing import Sequence

import requests
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.connection import KustomerClient
from kustomer_http.errors import config_error
from kustomer_http.responses import error_detail


class RecordFailed(Exception):
    """One record cannot be written; ``reason`` says why (Kustomer's words where it gave them)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def refused_reason(response: requests.Response) -> str:
    """Kustomer's refusal of one record, e.g. ``HTTP 409: a customer with externalId 'x' already exists``."""
    return f"Kustomer answered HTTP {response.status_code}: {error_detail(response)}"


def stop_if_key_refused(
    client: KustomerClient, response: requests.Response, purpose: str, roles: Sequence[str]
) -> None:
    """Stop the sync with ``role_error`` when Kustomer refused the API key (401/403) rather than the record."""
    if response.status_code in (401, 403):
        raise role_error(client, response, purpose, roles)


def role_error(
    client: KustomerClient, response: requests.Response, purpose: str, roles: Sequence[str]
) -> AirbyteTracedException:
    """The error that stops the sync when Kustomer refuses the key ``purpose`` (e.g. "to create customers"); an
    invalid key raises the shared 401 error instead."""
    refusal = client.refusal(response)
    detail = f": {refusal.reason}" if refusal else ""
    return config_error(
        f"Kustomer refused the API key {purpose} (HTTP {response.status_code}{detail}). Give the key one of the roles "
        f"{', '.join(roles)} -- or a role they fall under, such as {roles[0].rsplit('.', 1)[0]} -- (Settings > "
        "Security > API Keys) and run the sync again; nothing after the last checkpoint was lost."
    )
