"""What every route shares: the request it answers, its reply, Kustomer's error body, paging and list pages."""

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar
from urllib.parse import quote

import orjson

from kustomer_simulator.collection import Collection
from kustomer_simulator.roles import missing_role

if TYPE_CHECKING:
    from kustomer_simulator.org import Org
    from kustomer_simulator.server import ServerSettings, Simulator

Reply = Tuple[int, bytes, int]  # status, body, records served
LIST_PAGE_MAX = 100


def error_body(status: int, code: str, title: str, detail: str) -> bytes:
    """Kustomer's error document."""
    return orjson.dumps({"errors": [{"status": status, "code": code, "title": title, "detail": detail}]})


class ApiError(Exception):
    """A request answered with an error status instead of data."""

    def __init__(self, status: int, code: str, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail = status, code, title, detail
        self.headers: Dict[str, str] = {}  # sent with the error (e.g. Retry-After)

    def reply(self) -> Reply:
        """The error as a reply."""
        return self.status, error_body(self.status, self.code, self.title, self.detail), 0


def bad_request(detail: str) -> ApiError:
    """A 400, as Kustomer answers a request it rejects."""
    return ApiError(400, "bad_request", "Bad Request", detail)


def not_found(path: str) -> ApiError:
    """A 404 naming the path."""
    return ApiError(404, "not_found", "Not Found", path)


@dataclass
class Request:
    """One API request, authenticated, with the named segments of its route's path."""

    sim: "Simulator"
    method: str
    path: str
    query: Mapping[str, str]
    body: bytes
    token: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def org(self) -> "Org":
        """The org being served."""
        return self.sim.org

    @property
    def settings(self) -> "ServerSettings":
        """The server's switches."""
        return self.sim.settings

    def require(self, resource: str) -> None:
        """Refuse a token that lacks ``resource``'s role (403, or 401 under ``--missing-role-status 401``)."""
        settings = self.settings
        role = missing_role(resource, settings.tokens.get(self.token, ()), settings.grants.get(self.token))
        if role is not None:
            status = self.settings.missing_role_status
            title = "Forbidden" if status == 403 else "Unauthorized"
            raise ApiError(status, title.lower(), title, f"this API key lacks the role {role}")

    def choice(self, name: str, choices: Sequence[str], default: Optional[str] = None) -> Optional[str]:
        """A query parameter that takes one of ``choices`` (400 for anything else); ``default`` when absent."""
        value = self.query.get(name, default)
        if value is not None and value not in choices:
            raise bad_request(f"{name} must be one of {', '.join(choices)}")
        return value


Handler = Callable[[Request], Reply]


@dataclass
class Route:
    """One row of the route table: method, path template (``{name}`` matches one path segment), handler, and the
    resource whose read role the token needs (None: any valid key). ``search`` routes spend the search budget."""

    method: str
    path: str
    handler: Handler
    resource: Optional[str]
    search: bool = False

    def __post_init__(self) -> None:
        self._pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")

    def match(self, path: str) -> Optional[Dict[str, str]]:
        """The named segments of ``path`` if this route's template matches it."""
        found = self._pattern.match(path)
        return found.groupdict() if found else None


def json_reply(doc: object, records: int = 0) -> Reply:
    """A 200 carrying ``doc``."""
    return 200, orjson.dumps(doc), records


def paging(query: Mapping[str, str]) -> Tuple[int, int]:
    """``page`` and ``pageSize`` (default 1 and 100; 400 unless positive integers)."""
    try:
        page = int(query.get("page", 1))
        size = int(query.get("pageSize", LIST_PAGE_MAX))
    except ValueError:
        raise bad_request("page and pageSize must be integers") from None
    if page < 1 or size < 1:
        raise bad_request("page and pageSize must be positive")
    return page, size


def list_paging(request: Request, max_size: int) -> Tuple[int, int]:
    """A list's page and pageSize; a pageSize above the list's maximum is clamped or refused (``--list-over-max``)."""
    page, size = paging(request.query)
    if size > max_size:
        if request.settings.list_over_max == "error":
            raise bad_request(f"pageSize must be <= {max_size}")
        size = max_size
    return page, size


def page_body(records: List[bytes], links: Mapping[str, object], meta: Mapping[str, object]) -> bytes:
    """A JSON:API page assembled from already serialized records."""
    return (
        b'{"data":['
        + b",".join(records)
        + b'],"links":'
        + orjson.dumps(links)
        + b',"meta":'
        + orjson.dumps(meta)
        + b"}"
    )


def list_page(
    request: Request, page: int, size: int, data: List[bytes], more: bool, filters: Sequence[str] = ()
) -> Reply:
    """A list page; its links carry the request's ``filters`` parameters, as Kustomer's list examples' links do."""
    kept = "".join(f"&{name}={quote(request.query[name])}" for name in filters if name in request.query)

    def link(n: int) -> str:
        return f"{request.path}?page={n}&pageSize={size}{kept}"

    links = {
        "self": link(page),
        "first": link(1),
        "prev": link(page - 1) if page > 1 else None,
        "next": link(page + 1) if more else None,
    }
    return 200, page_body(data, links, {"page": page, "pageSize": size}), len(data)


def serve_list(
    request: Request,
    coll: Collection,
    indexes: Callable[[], Iterable[int]],
    max_size: int = LIST_PAGE_MAX,
    filters: Sequence[str] = (),
) -> Reply:
    """One page of the records of ``coll`` that ``indexes()`` yields (called under the org's lock), in that order."""
    page, size = list_paging(request, max_size)
    start = (page - 1) * size
    chosen: List[int] = []
    more = False
    with request.org.lock:
        for n, i in enumerate(indexes()):
            if n >= start + size:
                more = True
                break
            if n >= start:
                chosen.append(i)
        data = [coll.render_json(i) for i in chosen]
    return list_page(request, page, size, data, more, filters)


Found = TypeVar("Found")


def found_or_404(request: Request, found: Optional[Found]) -> Found:
    """What the request's path names, ``found``; 404 when there is none (``found`` is None)."""
    if found is None:
        raise not_found(request.path)
    return found


def record_reply(request: Request, coll: Collection, i: Optional[int]) -> Reply:
    """One record of ``coll`` (404 when ``i`` is None)."""
    return json_reply({"data": coll.render(found_or_404(request, i))}, 1)


def collection_or_404(request: Request, name: Optional[str]) -> Collection:
    """The collection ``name`` (a klass's custom objects), or 404 when the org has none by that name."""
    return found_or_404(request, request.org.collections.get(name or ""))
