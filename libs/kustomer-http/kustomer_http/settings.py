"""What every Kustomer connector's config has in common, validated once: the key, the host, the request limits.

A connector's ``spec.yaml`` is the one place its rules are written: the bounds and defaults of numeric fields
and the pattern of dates are read from it (``SpecRules``), so the error a user sees quotes the same numbers the
Airbyte UI shows. Every mistake becomes one config_error naming the field and the fix.
"""

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from kustomer_http import redaction
from kustomer_http.errors import config_error
from kustomer_http.origin import Origin, UnsafeUrl
from kustomer_http.timestamps import parse_timestamp

REGION_HOSTS = {
    "us": "https://api.kustomerapp.com",
    "eu": "https://api.prod2.kustomerapp.com",
    "in": "https://api.prod4.kustomerapp.com",
}
LOOPBACK_NAMES = {"localhost"}
SEARCH_LIMIT_PER_MINUTE = 100  # Kustomer's search budget for API keys (a connector that never searches keeps it)
# Kustomer was founded in 2015; earlier dates are accepted, but nothing before the Unix epoch can name a record.
EARLIEST_DATE = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ORG_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ORG_IN_URL = re.compile(r"^([a-z0-9-]+)\.(?:api\.)?kustomerapp\.com$")


class SpecRules:
    """The rules of a connector's config fields, as its spec declares them."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._properties: Mapping[str, Any] = spec["connectionSpecification"]["properties"]

    def property(self, name: str) -> Mapping[str, Any]:
        """One property of the spec."""
        return self._properties[name]

    def has(self, name: str) -> bool:
        """Whether the spec declares ``name``."""
        return name in self._properties

    def number(self, config: Mapping[str, Any], name: str) -> Any:
        """A numeric field within the spec's minimum and maximum (its default when absent; None without one)."""
        rule = self.property(name)
        value = config.get(name)
        if value is None:
            return rule.get("default")
        whole = rule.get("type") == "integer"
        kinds = (int,) if whole else (int, float)
        low, high = rule.get("minimum"), rule.get("maximum")
        if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
            kind = "a whole number" if whole else "a number"
            raise config_error(f"'{name}' must be {kind} from {low:g} to {high:g}; got {value!r}.")
        return value

    def flag(self, config: Mapping[str, Any], name: str) -> bool:
        """A boolean field (its default when absent)."""
        value = config.get(name, self.property(name).get("default", False))
        if not isinstance(value, bool):
            raise config_error(f"'{name}' must be true or false; got {value!r}.")
        return value

    def date(self, config: Mapping[str, Any], name: str, now: datetime) -> Optional[datetime]:
        """A past UTC date-time in the spec's pattern (None when empty)."""
        value = config.get(name)
        if not value:
            return None
        rule = self.property(name)
        example = rule.get("examples", ["2025-01-01T00:00:00Z"])[0]
        if not isinstance(value, str) or not re.fullmatch(rule["pattern"], value.strip()):
            raise config_error(
                f"'{name}' must be a UTC date-time like {rule['pattern_descriptor']}, e.g. {example}; got {value!r}."
            )
        moment = parse_timestamp(value, name)
        if moment < EARLIEST_DATE:
            raise config_error(f"'{name}' {value!r} is before 1970; use a date after your Kustomer org was created.")
        if moment > now:
            raise config_error(f"'{name}' {value!r} is in the future; use a past date (or leave it empty).")
        return moment


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach Kustomer: the key, the origin, and the limits every request and budget obeys."""

    api_token: str
    base_url: str
    request_timeout_seconds: float
    rate_limit_window_seconds: float
    api_utilization_percent: int
    search_requests_per_minute: int

    @property
    def origin(self) -> Origin:
        """The only scheme, host and port the API key may be sent to."""
        return Origin.of(self.base_url)


def api_token(config: Mapping[str, Any]) -> str:
    """The API key, checked for the mistakes pasting makes.

    It is registered for masking first, before it is checked and before any other field is (pasted into another
    field as well, it is masked there too, and ``key_nowhere_else`` refuses that field).
    """
    token = config.get("api_token")
    if isinstance(token, str):
        redaction.register(token)
    if token is not None and not isinstance(token, str):
        raise config_error("'api_token' must be the API key as text; paste it again from Kustomer.")
    if not isinstance(token, str) or not token.strip():
        raise config_error(
            "'api_token' is empty. Create an API key in Kustomer (Settings > Security > API Keys) and paste it."
        )
    if any(ch.isspace() for ch in token):
        raise config_error(
            "'api_token' contains spaces or line breaks. Paste the API key again as one line, without spaces."
        )
    if not all("!" <= ch <= "~" and ch not in '"\\' for ch in token):
        raise config_error(
            "'api_token' contains characters an API key never has (quotes, backslashes, letters with accents, "
            "typographic quotes or other non-ASCII text). Copy the key again from Kustomer and paste it as plain text."
        )
    if len(token) < redaction.MIN_TOKEN_LENGTH:
        raise config_error(
            f"'api_token' is {len(token)} characters long: too short for a Kustomer API key, which is a long token "
            f"(a JWT, beginning with 'eyJ'; the connector accepts {redaction.MIN_TOKEN_LENGTH} characters or more). "
            "Copy the whole key from Kustomer (it is shown once, when created; if you no longer have it, create a new "
            "one in Settings > Security > API Keys) and paste it."
        )
    if not redaction.maskable(token):
        raise config_error(
            "'api_token' holds only digits, the characters {}[],:+-. and the letters of true, false and null, which "
            "a Kustomer API key never does. Copy the key again from Kustomer (Settings > Security > API Keys) and "
            "paste it."
        )
    return token


def key_nowhere_else(config: Mapping[str, Any]) -> None:
    """A config_error naming the first field other than ``api_token`` that holds the key in any form (the key
    pasted into the wrong field): checked before those fields, so no error about them ever quotes it."""
    for where, text in _texts(config, ""):
        if where != "'api_token'" and redaction.holds_key(text):
            raise config_error(f"{where} holds the API key; the key belongs in 'api_token' only. Remove it from there.")


def _texts(value: Any, path: str) -> Iterator[Tuple[str, str]]:
    """Every text in a config with the field it is in (``'field'``, ``'list[0].field'``); a field's name is checked
    before the name is used to say where."""
    if isinstance(value, str):
        yield f"'{path}'", value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield (f"a field name in '{path}'" if path else "a field name of the config"), str(name)
            where = f"{path}.{name}" if path else str(name)
            yield from _texts(item, where)
    elif isinstance(value, list):
        for n, item in enumerate(value):
            yield from _texts(item, f"{path}[{n}]")


def organization_from(value: str) -> str:
    """The org subdomain from a name or a pasted Kustomer URL (https://acme.kustomerapp.com/app/...)."""
    text = value.strip().lower()
    if "://" in text or ".kustomerapp.com" in text:
        try:
            host = urlsplit(text if "://" in text else f"https://{text}").hostname or ""
        except ValueError:
            host = ""
        match = _ORG_IN_URL.match(host)
        if not match or match.group(1) == "api":
            raise config_error(
                f"'organization' {value!r} is not a Kustomer URL of the form https://<org>.kustomerapp.com; "
                "enter just the org name (the part before .kustomerapp.com)."
            )
        text = match.group(1)
    if not _ORG_NAME.match(text):
        raise config_error(
            f"'organization' {value!r} is not a valid org name: use letters, digits and dashes only "
            "(the part before .kustomerapp.com), or leave it empty and pick a region."
        )
    return text


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _api_url(value: Any) -> str:
    if not isinstance(value, str):
        raise config_error(f"'api_url' must be text such as https://api.kustomerapp.com; got {value!r}.")
    text = value.strip()
    try:
        origin = Origin.of(text)
    except UnsafeUrl as reason:
        raise config_error(f"'api_url' {reason}. Use a plain URL such as https://api.kustomerapp.com.") from None
    parts = urlsplit(text)
    if parts.path.rstrip("/") not in ("", "/v1") or parts.query or parts.fragment:
        raise config_error(
            "'api_url' must be the API's address without a path, query or fragment, e.g. https://api.kustomerapp.com."
        )
    if origin.scheme == "http" and not _is_loopback(origin.host):
        raise config_error(
            "'api_url' must use https (plain http is allowed only for loopback hosts such as 127.0.0.1)."
        )
    return origin.url


def base_url(config: Mapping[str, Any]) -> str:
    """The API's origin from ``api_url``, else ``organization``, else ``region``."""
    if config.get("api_url"):
        return _api_url(config["api_url"])
    organization = config.get("organization")
    if organization:
        if not isinstance(organization, str):
            raise config_error(f"'organization' must be text such as acme; got {organization!r}.")
        return f"https://{organization_from(organization)}.api.kustomerapp.com"
    region = config.get("region", "us")
    if not isinstance(region, str) or region not in REGION_HOSTS:
        raise config_error(f"'region' must be one of {', '.join(REGION_HOSTS)}; got {region!r}.")
    return REGION_HOSTS[region]


def connection_settings(config: Mapping[str, Any], rules: SpecRules) -> ConnectionSettings:
    """The shared fields of a raw config, validated (the key first, then that no other field holds it); a
    config_error names the first bad field and its fix."""
    token = api_token(config)
    key_nowhere_else(config)
    return ConnectionSettings(
        api_token=token,
        base_url=base_url(config),
        request_timeout_seconds=float(rules.number(config, "request_timeout_seconds")),
        rate_limit_window_seconds=float(rules.number(config, "rate_limit_window_seconds")),
        api_utilization_percent=rules.number(config, "api_utilization_percent"),
        search_requests_per_minute=rules.number(config, "search_requests_per_minute")
        if rules.has("search_requests_per_minute")
        else SEARCH_LIMIT_PER_MINUTE,
    )
