"""Records Kustomer serves only inside another record's answer: an SLA's versions (``GET /v1/slas/{id}?versions=all``)
and a business schedule's holidays (``GET /v1/schedules/{id}?include=holidays``), in the answer's ``included``.

Each sync lists the parents (the parent list's paginator: loop guard, size cap) and asks for each parent by id,
within ``MAX_CHILD_REQUESTS`` requests. ``included`` is read as Kustomer publishes it: an object when it holds one
record (GetSlaById's example), a list otherwise (GetScheduleById's). Where the parent names every included record
(an SLA's ``relationships.versions``), each named one must be there: a missing one stops the stream with one clear
error, never a silent gap. A parent gone between the list and its own request (404) has nothing to include. Read
in full every sync: these records carry no time to filter by, and there are few.
"""

import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, List, Mapping, MutableMapping, Optional
from urllib.parse import quote

from airbyte_cdk.models import AirbyteMessage
from kustomer_http.connection import KustomerConnection
from kustomer_http.pages import list_error
from kustomer_http.responses import error_detail, response_json

from source_kustomer.streams.base import StatelessStream, flatten
from source_kustomer.streams.children import MAX_CHILD_REQUESTS, BudgetedClient, BudgetSpent, RequestBudget
from source_kustomer.streams.lists import KustomerListStream, ListSpec

Record = MutableMapping[str, Any]


@dataclass(frozen=True)
class IncludedSpec:
    """Records included in each parent's answer: stream name, the parent list, what to ask each parent for, the
    included type, and the parent relationship naming every one of them (if Kustomer gives one)."""

    name: str
    parent: ListSpec
    params: Mapping[str, str]
    included_type: str
    named_by: Optional[str] = None


def included_resources(document: Mapping[str, Any], type_: str) -> List[Any]:
    """The resources of ``type_`` in an answer's ``included`` (an object or a list)."""
    included = document.get("included")
    resources = [included] if isinstance(included, Mapping) else included if isinstance(included, list) else []
    return [r for r in resources if isinstance(r, Mapping) and r.get("type") == type_]


def named_ids(parent: Mapping[str, Any], relationship: str) -> List[str]:
    """The ids a parent's relationship names (``{"data": [{"type", "id"}, ...]}``)."""
    related = parent.get("relationships", {}).get(relationship) if isinstance(parent, Mapping) else None
    data = related.get("data") if isinstance(related, Mapping) else None
    return [item["id"] for item in data or [] if isinstance(item, Mapping) and isinstance(item.get("id"), str)]


class IncludedStream(StatelessStream):
    """Every record included in the answers for each parent of one list."""

    def __init__(self, spec: IncludedSpec, connection: KustomerConnection) -> None:
        self.spec = spec
        super().__init__(connection)

    @property
    def name(self) -> str:
        return self.spec.name

    def read_part(self, part: Mapping[str, Any]) -> Iterable[Any]:
        """For every parent listed, the records its answer includes."""
        budget = RequestBudget(MAX_CHILD_REQUESTS)
        client = BudgetedClient(self.client, budget)
        parents = KustomerListStream(self.spec.parent, self.connection)  # its records and pages are its own
        listed = 0
        for parent in parents.read_part({}):
            if isinstance(parent, AirbyteMessage):
                continue  # the list's own position is not this stream's state
            try:
                yield from self._included(client, parent)
            except BudgetSpent:
                what = f"the {self.name} of {listed:,} {self.spec.parent.name}"
                raise budget.reached(self.name, what, None) from None
            listed += 1

    def _included(self, client: BudgetedClient, parent: Record) -> Iterator[Record]:
        """The records one parent's answer includes; the answer goes before the first is handed on."""
        for record in self._answer(client, str(parent.get("id"))):
            if not isinstance(record.get("id"), str) or not record["id"]:
                self.report_malformed(record, "it has no id")
                continue
            self.progress.records += 1
            yield record

    def _answer(self, client: BudgetedClient, parent_id: str) -> List[Record]:
        """The records included in the answer for one parent, checked against what the parent names."""
        url = self.client.api_url(f"{self.spec.parent.path}/{quote(parent_id, safe='')}")
        response = client.get(url, self.spec.params)
        refusal = self.client.refusal(response)
        if refusal is not None:
            raise refusal
        if response.status_code == 404:
            self.logger.info(f"Stream '{self.name}': {self.spec.parent.name} {parent_id} is gone (HTTP 404).")
            return []
        if response.status_code >= 400:
            raise list_error(
                f"Kustomer answered HTTP {response.status_code} ({error_detail(response)}) for "
                f"{self.spec.parent.name} {parent_id}, asked for its {self.name}"
            )
        self.progress.page(time.monotonic())
        document = response_json(response)
        resources = included_resources(document, self.spec.included_type)
        records = [flatten(dict(resource)) for resource in resources]
        if self.spec.named_by:
            data = document.get("data")
            missing = sorted(set(named_ids(data, self.spec.named_by)) - {r.get("id") for r in records})
            if missing:
                raise list_error(
                    f"Kustomer's answer for {self.spec.parent.name} {parent_id} names {len(missing)} "
                    f"{self.spec.included_type} records it does not include ({', '.join(missing[:5])}), though "
                    f"{self.spec.params} asked for all of them"
                )
        return records
