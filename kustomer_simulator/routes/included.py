"""Configuration records by id with the records they include: an SLA with its versions, a business schedule with its
holidays (``included``, as the OpenAPI's examples show them)."""

from typing import List

from kustomer_simulator.collection import Collection
from kustomer_simulator.routes.base import Reply, Request, found_or_404, json_reply

SLA_VERSIONS = ("active", "all")  # GetSlaById's versions parameter


def _included(records: List[dict]) -> object:
    """``included`` as Kustomer shows it: one resource as an object (GetSlaById's example), several as a list."""
    return records[0] if len(records) == 1 else records


def _found(request: Request, coll: Collection) -> int:
    """The index of the record the path's ``id`` names (404 when there is none)."""
    return found_or_404(request, coll.index_of(request.params["id"]))


def sla(request: Request) -> Reply:
    """GET /v1/slas/{id}: the SLA; with ``versions=all`` every version in ``included`` (named in
    ``relationships.versions``), with ``versions=active`` the newest only."""
    versions = request.choice("versions", SLA_VERSIONS)
    org = request.org
    slas, all_versions = org.collections["slas"], org.collections["sla_versions"]
    with org.lock:
        i = _found(request, slas)
        record = slas.render(i)
        document: dict = {"data": record}
        if versions is not None:
            owned = org.tables.versions.of(i)
            record["relationships"]["versions"] = {
                "data": [{"type": "sla_version", "id": all_versions.record_id(k)} for k in owned]
            }
            record["attributes"]["currentVersion"] = len(owned)
            chosen = owned if versions == "all" else owned[-1:]
            document["included"] = _included([all_versions.render(k) for k in chosen])
    return json_reply(document, 1)


def schedule(request: Request) -> Reply:
    """GET /v1/schedules/{id}: the business schedule; with ``include=holidays`` its holidays in ``included`` (a
    list, as the published example shows even one)."""
    include = request.choice("include", ("holidays",))
    org = request.org
    schedules, holidays = org.collections["business_schedules"], org.collections["business_holidays"]
    with org.lock:
        i = _found(request, schedules)
        document: dict = {"data": schedules.render(i)}
        if include:
            document["included"] = [holidays.render(k) for k in org.tables.holidays.of(i)]
    return json_reply(document, 1)
