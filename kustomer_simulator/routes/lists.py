"""Plain lists (``GET /v1/{resource}``), users with their ``deleted`` filter, and lists of a record's children."""

from kustomer_simulator.routes.base import LIST_PAGE_MAX, Handler, Reply, Request, bad_request, serve_list

USERS_PAGE_MAX = 500  # users and teams are listed up to 500 a page


def plain(name: str, max_size: int = LIST_PAGE_MAX) -> Handler:
    """The handler listing every live record of collection ``name``."""

    def handler(request: Request) -> Reply:
        coll = request.org.collections[name]
        return serve_list(request, coll, coll.live_indexes, max_size)

    handler.__doc__ = f"GET the {name} list."
    return handler


def users(request: Request) -> Reply:
    """GET /v1/users: ``deleted=true`` lists only deactivated users, ``deleted=false`` only active ones; without
    ``deleted`` (undocumented) active ones or all of them, as ``--users-default`` says."""
    deleted = request.query.get("deleted")
    if deleted is None:
        deleted = "false" if request.settings.users_default == "active" else None
    elif deleted not in ("true", "false"):
        raise bad_request("deleted must be true or false")
    org = request.org
    coll = org.collections["users"]

    def indexes():
        return (
            i for i in coll.live_indexes() if deleted is None or (i in org.deactivated_users) == (deleted == "true")
        )

    return serve_list(request, coll, indexes, USERS_PAGE_MAX, filters=("deleted",))


def children(request: Request, child: str, relation: str, parent: str) -> Reply:
    """The live ``child`` records whose ``relation`` is the ``parent`` record named by the path's ``id``."""
    org = request.org
    coll = org.collections[child]
    parent_id = request.params["id"]

    def indexes():
        if org.collections[parent].index_of(parent_id) is None:
            return iter(())
        return (i for i in coll.live_indexes() if coll.render(i)["relationships"][relation]["data"]["id"] == parent_id)

    return serve_list(request, coll, indexes)
