"""Following Kustomer's next links safely: no page twice, a bounded number of pages, one clear error otherwise."""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional, Set
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.redaction import quotable
from kustomer_http.responses import response_json

if TYPE_CHECKING:
    from kustomer_http.connection import KustomerClient

MAX_LIST_PAGES = 10_000


def path_of(url: str) -> str:
    """The path and query of a URL."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@dataclass
class LinkTrail:
    """The pages one list has read in this command: no page twice, at most ``max_pages``."""

    what: str
    visited: Set[str] = field(default_factory=set)
    max_pages: int = MAX_LIST_PAGES

    def enter(self, url: str) -> None:
        """Record the page about to be read; a repeat or one page too many stops the list."""
        if url in self.visited:
            path = path_of(url)
            raise list_error(
                f"Kustomer's {self.what} links back to a page already read "
                f"({path if quotable(path) else 'a link not quoted: it could carry the API key'})"
            )
        if len(self.visited) >= self.max_pages:
            raise list_error(f"Kustomer's {self.what} is longer than {self.max_pages:,} pages")
        self.visited.add(url)


def list_error(what: str) -> AirbyteTracedException:
    """The error that stops a paged read instead of letting it loop."""
    message = f"{what}; the connector stopped instead of looping. The next run starts the list again."
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)


def linked_pages(client: "KustomerClient", first: str, trail: LinkTrail) -> Iterator[requests.Response]:
    """Every page from ``first`` on, following ``links.next`` on the origin, each page once (``trail``).

    The caller reads each response before the next is fetched and stops by leaving the loop; a page without a
    next link (an error body has none) ends it.
    """
    url: Optional[str] = client.link_url(first)
    while url:
        trail.enter(url)
        response = client.get(url)
        yield response
        links: Any = response_json(response).get("links")
        link = links.get("next") if isinstance(links, Mapping) else None
        url = client.link_url(link) if link else None
