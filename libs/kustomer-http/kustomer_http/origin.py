"""Where the API key may go: one origin (scheme, host, port), checked the way the HTTP stack will read it.

``requests`` prepares a URL with urllib3's parser but picks the connection pool with the standard library's
``urlparse``. A URL the two read differently (plain http to ``evil\\@127.0.0.1``) could pass a check made with one
parser and be sent with the other, so every URL is read with both, and only one that both place on the
configured origin -- with no user info, backslash, whitespace or control character -- may carry the key.
"""

import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f\\]")


class UnsafeUrl(ValueError):
    """A URL the API key must not be sent to; the message says why and never quotes the URL's path or query."""


def path_segment(value: str) -> str:
    """``value`` (an id from an answer, a key from a record) as one segment of a URL path, every character that
    could end the segment or start a query encoded (``/ ? # %`` and the rest); raises UnsafeUrl for a value no
    encoding keeps in its place: empty, ``.`` or ``..`` (the HTTP stack resolves those against the path)."""
    if value in ("", ".", ".."):
        raise UnsafeUrl(f"would not stay one segment of the path ({value!r})")
    return quote(value, safe="")


@dataclass(frozen=True)
class Origin:
    """The scheme, host and port every request of a sync must go to."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> "Origin":
        """The origin of an absolute http(s) URL; raises UnsafeUrl if the URL is ambiguous or not http(s)."""
        if not isinstance(url, str) or _UNSAFE_CHARACTERS.search(url):
            raise UnsafeUrl("contains a space, a backslash or a control character")
        try:
            modern = parse_url(url)
            classic = urlsplit(url)
            classic_port = classic.port
        except (LocationParseError, ValueError):
            raise UnsafeUrl("is not a valid URL (check the host and the port, 1-65535)") from None
        if modern.auth is not None or "@" in classic.netloc:
            raise UnsafeUrl("carries a user name or password (user@host); remove it")
        scheme = (modern.scheme or "").lower()
        if scheme not in DEFAULT_PORTS:
            raise UnsafeUrl("is not an http:// or https:// URL")  # ignore-https-check: names the schemes
        host = (modern.host or "").lower().strip("[]")
        if not host:
            raise UnsafeUrl("has no host")
        origin = cls(scheme, host, modern.port or DEFAULT_PORTS[scheme])
        classic_scheme = classic.scheme.lower()
        classic_view = (
            classic_scheme,
            (classic.hostname or "").lower(),
            classic_port or DEFAULT_PORTS.get(classic_scheme),
        )
        if classic_view != (origin.scheme, origin.host, origin.port):
            raise UnsafeUrl("is read differently by the URL parsers of the HTTP client")
        return origin

    @property
    def url(self) -> str:
        """The origin as a URL without a trailing slash, e.g. https://api.kustomerapp.com."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"

    def admits(self, url: str) -> bool:
        """Whether a request to ``url`` would reach exactly this origin."""
        try:
            return Origin.of(url) == self
        except UnsafeUrl:
            return False

    def resolve(self, link: object) -> str:
        """The absolute URL of a link from Kustomer or from saved state; raises UnsafeUrl if it leaves this origin.

        Kustomer's links are paths (``/v1/...``), joined onto this origin; an absolute link is accepted only
        when it names this origin. A scheme-relative link (``//host/...``) is never accepted.
        """
        if not isinstance(link, str) or not link.strip():
            raise UnsafeUrl("is empty or not text")
        if link.startswith("/") and not link.startswith("//"):
            candidate = self.url + link
        elif link.startswith(("http://", "https://")):  # ignore-https-check: the origin check decides
            candidate = link
        else:
            raise UnsafeUrl("is neither a path starting with a single '/' nor an absolute http(s) URL")
        other = Origin.of(candidate)
        if other != self:
            raise UnsafeUrl(f"points to {other.difference(self)}")
        return candidate

    def difference(self, expected: "Origin") -> str:
        """How this origin differs from ``expected``, in words; a foreign host is not quoted (it could carry
        anything, the key included)."""
        if self.host != expected.host:
            return f"another host (not {expected.host})"
        if self.scheme != expected.scheme:
            return f"{self.scheme}:// (not {expected.scheme}://)"
        return f"port {self.port} (not {expected.port}) of {expected.host}"
