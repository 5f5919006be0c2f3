"""One record, one request: ``POST /v1/{path}`` creates, the object's partial update (``PATCH`` for customers,
``PUT`` for companies and custom objects) updates. Kustomer's answer is the record's outcome; a create goes through
a client that never sends it twice (``OutcomeUnknown`` says when its outcome is not known)."""

from typing import Any, Mapping, Optional, Sequence

import requests
from kustomer_http.connection import KustomerClient
from kustomer_http.origin import UnsafeUrl, path_segment
from kustomer_http.rate_policy import retry_after_seconds
from kustomer_http.responses import response_json

from destination_kustomer.errors import RecordFailed, refused_reason, stop_if_key_refused
from destination_kustomer.objects import KustomerObject

OBJECT_WAIT_SECONDS = 60.0  # how long an object limit lasts when Kustomer does not say (its limits are per minute)


class Conflict(RecordFailed):
    """Kustomer refused a write with 409: for a create, an object with the record's key (or one of its unique
    values) exists; for an update, the ``rev`` sent is stale -- or a unique value is another object's."""


class ObjectLimited(RecordFailed):
    """Kustomer refused a write with a 429 that concerns its object alone (a per-object limit): it may be sent
    again after ``wait`` seconds, while other objects are written."""

    def __init__(self, reason: str, wait: float) -> None:
        super().__init__(reason)
        self.wait = wait


def object_limited(response: requests.Response, window_seconds: float) -> ObjectLimited:
    """The refusal a per-object 429 means, waiting what Retry-After says (else one rate-limit window)."""
    hinted = retry_after_seconds(response.headers)
    wait = window_seconds if hinted is None else min(max(hinted, 0.0), window_seconds)
    return ObjectLimited(refused_reason(response), wait)


class SingleWrites:
    """Creates and updates of one object: creates through a client that never sends one twice, updates through one
    that retries (both get 409/413/422 and a per-object 429 back as answers)."""

    def __init__(self, creates: KustomerClient, updates: KustomerClient, target: KustomerObject) -> None:
        self.creates = creates
        self.updates = updates
        self.target = target
        self.window = creates.connection.config.rate_limit_window_seconds

    def create(self, body: Mapping[str, Any]) -> Optional[str]:
        """Create one object; its id (None when the answer names none). ``Conflict`` for a 409, ``ObjectLimited``
        for a per-object 429, ``RecordFailed`` with Kustomer's reason for another refusal, ``OutcomeUnknown`` when
        it may or may not have been created."""
        response = self.creates.send("POST", self.creates.api_url(self.target.path), body=body)
        self._settle(response, "create", self.target.roles.create)
        data = response_json(response).get("data")
        return data.get("id") if isinstance(data, Mapping) and isinstance(data.get("id"), str) else None

    def update(self, object_id: str, body: Mapping[str, Any]) -> None:
        """Update the object ``object_id`` with what ``body`` names; the same refusals as ``create``."""
        try:
            path = self.target.record_path(path_segment(object_id))
        except UnsafeUrl as unsafe:
            raise RecordFailed(f"Kustomer's lookup answered an id that {unsafe}; the record was not written") from None
        response = self.updates.send(self.target.update_method, self.updates.api_url(path), body=body)
        self._settle(response, "update", self.target.roles.update)

    def _settle(self, response: requests.Response, verb: str, roles: Sequence[str]) -> None:
        if response.ok:
            return
        stop_if_key_refused(self.updates, response, f"to {verb} {self.target.name} records", roles)
        if response.status_code == 409:
            raise Conflict(refused_reason(response))
        if response.status_code == 429:
            raise object_limited(response, self.window)
        raise RecordFailed(refused_reason(response))
