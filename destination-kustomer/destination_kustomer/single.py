"""One record, one request: ``POST /v1/{path}`` creates, ``PUT /v1/{path}/{id}`` updates (for customers the same
as PATCH: only what the body names changes). Kustomer's answer is the record's outcome; a create goes through a
client that never sends it twice (``OutcomeUnknown`` says when its outcome is not known)."""

from typing import Any, Mapping, Sequence

import requests
from kustomer_http.connection import KustomerClient
from kustomer_http.origin import UnsafeUrl, path_segment

from destination_kustomer.errors import RecordFailed, refused_reason, stop_if_key_refused
from destination_kustomer.objects import KustomerObject


class Conflict(RecordFailed):
    """Kustomer refused a create with 409: an object with the record's key (or one of its unique values) exists."""


class SingleWrites:
    """Creates and updates of one object: creates through a client that never sends one twice, updates through one
    that retries (both get 409/413/422 back as answers)."""

    def __init__(self, creates: KustomerClient, updates: KustomerClient, target: KustomerObject) -> None:
        self.creates = creates
        self.updates = updates
        self.target = target

    def create(self, body: Mapping[str, Any]) -> None:
        """Create one object; ``Conflict`` for a 409, ``RecordFailed`` with Kustomer's reason for another refusal,
        ``OutcomeUnknown`` when it may or may not have been created."""
        response = self.creates.send("POST", self.creates.api_url(self.target.path), body=body)
        if response.status_code == 409:
            raise Conflict(refused_reason(response))
        self._settle(response, "create", self.target.roles.create)

    def update(self, object_id: str, body: Mapping[str, Any]) -> None:
        """Update the object ``object_id``; ``RecordFailed`` with Kustomer's reason when it refuses the record."""
        try:
            path = f"{self.target.path}/{path_segment(object_id)}"
        except UnsafeUrl as unsafe:
            raise RecordFailed(f"Kustomer's lookup answered an id that {unsafe}; the record was not written") from None
        response = self.updates.send("PUT", self.updates.api_url(path), body=body)
        self._settle(response, "update", self.target.roles.update)

    def _settle(self, response: requests.Response, verb: str, roles: Sequence[str]) -> None:
        if response.ok:
            return
        stop_if_key_refused(self.updates, response, f"to {verb} {self.target.name} records", roles)
        raise RecordFailed(refused_reason(response))
