"""The simulator's admin endpoints (``/__admin/...``): what tests, the demo and the benchmark do to a running
simulator -- read the ground truth, queue faults, change records, read the stats. No auth; loopback only."""

import json
from typing import TYPE_CHECKING, Any, Mapping, Optional, Tuple

import orjson

from kustomer_simulator.faults import Fault
from kustomer_simulator.timefmt import parse_iso_ms

if TYPE_CHECKING:
    from kustomer_simulator.server import Simulator


def admin_reply(sim: "Simulator", method: str, path: str, query: Mapping[str, str], body: bytes) -> Tuple[int, bytes]:
    """The status and JSON body answering an admin request."""
    try:
        payload = json.loads(body) if body else {}
        result = admin_action(sim, method, path, query, payload)
    except (KeyError, ValueError, TypeError) as exc:
        return 400, orjson.dumps({"error": str(exc)})
    if result is None:
        return 404, orjson.dumps({"error": f"no admin route {method} {path}"})
    return 200, orjson.dumps(result)


def admin_action(sim: "Simulator", method: str, path: str, query: Mapping[str, str], payload: Any) -> Optional[Any]:
    """Admin endpoints used by tests, the demo and the benchmark (no auth, loopback only)."""
    org = sim.org
    if path == "/__admin/truth" and method == "GET":
        since = parse_iso_ms(query["since"]) if query.get("since") else None
        until = parse_iso_ms(query["until"]) if query.get("until") else None
        pairs = org.truth(query["stream"], since, until, query.get("include_deleted") in ("1", "true"))
        return {"stream": query["stream"], "records": [[i, u] for i, u in pairs]}
    if path == "/__admin/streams" and method == "GET":
        return {"search": org.search_streams, "all": sorted(org.collections)}
    if path == "/__admin/faults":
        if method == "DELETE":
            sim.faults.clear()
            sim.expired_tokens.clear()
            return {"cleared": True}
        if method == "POST":
            faults = payload if isinstance(payload, list) else [payload]
            for spec in faults:
                sim.faults.add(Fault(**spec))
            return {"queued": len(faults)}
        if method == "GET":
            return {"fired": dict(sim.faults.fired)}
    if path == "/__admin/mutate" and method == "POST":
        return {"ids": org.mutate(payload["stream"], int(payload.get("count", 1)))}
    if path == "/__admin/delete" and method == "POST":
        hard = {"soft": False, "hard": True}[payload.get("mode", "soft")]
        return {"ids": org.delete(payload["stream"], int(payload.get("count", 1)), hard)}
    if path == "/__admin/merge" and method == "POST":
        return {"merged": [{"source": s, "target": t} for s, t in org.merge(int(payload.get("count", 1)))]}
    if path == "/__admin/audit" and method == "POST":
        first, last = org.audit_burst(
            int(payload.get("count", 1)),
            payload.get("object_type", "customer"),
            payload.get("verb", "update"),
            int(payload.get("per_second", 1)),
            parse_iso_ms(payload["at"]) if payload.get("at") else None,
            int(payload.get("misdated", 0)),
            payload.get("misdating", "published_early"),
        )
        return {"appended": int(payload.get("count", 1)), "first": first, "last": last}
    if path == "/__admin/mutate-during" and method == "POST":
        sim.mutate_during = payload or None
        return {"mutate_during": sim.mutate_during}
    if path == "/__admin/stats":
        if method == "DELETE":
            sim.stats.reset()
            return {"reset": True}
        return sim.stats.snapshot()
    if path == "/__admin/rate-limits" and method == "POST":
        sim.set_rate_limits(
            int(payload.get("org_per_minute", sim.budgets.org_per_minute)),
            int(payload.get("search_per_minute", sim.budgets.search_per_minute)),
            float(payload.get("minute_seconds", sim.budgets.minute_seconds)),
        )
        return {
            "org_per_minute": sim.budgets.org_per_minute,
            "search_per_minute": sim.budgets.search_per_minute,
            "minute_seconds": sim.budgets.minute_seconds,
        }
    return None
