"""Klasses (``GET /v1/klasses?status=``) and the custom objects of one klass (``GET /v1/klasses/{name}``)."""

from typing import FrozenSet

from kustomer_simulator.org import KLASS_STATUSES
from kustomer_simulator.routes.base import ApiError, Reply, Request, collection_or_404, serve_list


def refused_klasses(request: Request) -> FrozenSet[str]:
    """The disabled klasses whose objects are refused (none unless ``--disabled-klass-objects refused``)."""
    if request.settings.disabled_klass_objects != "refused":
        return frozenset()
    org = request.org
    return frozenset(k for k in org.settings.klasses if org.klass_status(k) == "disabled")


def klass_refused(klass: str) -> ApiError:
    """The 403 for a request of a disabled klass's objects."""
    return ApiError(403, "forbidden", "Forbidden", f"the klass {klass} is disabled")


def klasses(request: Request) -> Reply:
    """The klasses of one status (``status``: enabled, the documented default, existing_only or disabled)."""
    status = request.choice("status", KLASS_STATUSES, "enabled")
    org = request.org
    coll = org.collections["klasses"]

    def indexes():
        return (i for i in coll.live_indexes() if org.klass_status(org.settings.klasses[i]) == status)

    return serve_list(request, coll, indexes, filters=("status",))


def kobjects(request: Request) -> Reply:
    """A klass's custom objects (403 for a disabled klass under ``--disabled-klass-objects refused``)."""
    klass = request.params["name"]
    coll = collection_or_404(request, f"kobjects_{klass}")
    if klass in refused_klasses(request):
        raise klass_refused(klass)
    return serve_list(request, coll, coll.live_indexes)
