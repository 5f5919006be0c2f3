"""One record, one request: ``POST /v1/{path}`` creates, ``PUT /v1/{path}/{id}`` updates (for customers the same
as PATCH: only what the body names changes). Kustomer's answer is the record's outcome."""

from typing import Any, Mapping

from kustomer_http.connection import KustomerClient

from destination_kustomer.errors import RecordFailed, is_key_refusal, refused_reason, role_error
from destination_kustomer.objects import KustomerObject


class SingleWrites:
    """Creates and updates of one object, through one client (one that gets 409/413/422 back as answers)."""

    def __init__(self, client: KustomerClient, target: KustomerObject) -> None:
        self.client = client
        self.target = target

    def create(self, body: Mapping[str, Any]) -> None:
        """Create one object; ``RecordFailed`` with Kustomer's reason when it refuses the record."""
        response = self.client.send("POST", self.client.api_url(self.target.path), body=body)
        self._settle(response, "create", self.target.roles.create)

    def update(self, object_id: str, body: Mapping[str, Any]) -> None:
        """Update the object ``object_id``; ``RecordFailed`` with Kustomer's reason when it refuses the record."""
        response = self.client.send("PUT", self.client.api_url(f"{self.target.path}/{object_id}"), body=body)
        self._settle(response, "update", self.target.roles.update)

    def _settle(self, response: Any, verb: str, roles: Any) -> None:
        if response.ok:
            return
        if is_key_refusal(response):
            raise role_error(self.client, response, f"to {verb} {self.target.name} records", roles)
        raise RecordFailed(refused_reason(response))
