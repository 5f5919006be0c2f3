"""Turn the raw connector config into a validated ``KustomerConfig`` (or a config_error naming the field)."""

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib.resources import files
from typing import Any, Mapping, Optional
from urllib.parse import urlsplit

import yaml

from source_kustomer.errors import config_error
from source_kustomer.origin import Origin, UnsafeUrl
from source_kustomer.timestamps import parse_timestamp

REGION_HOSTS = {
    "us": "https://api.kustomerapp.com",
    "eu": "https://api.prod2.kustomerapp.com",
    "in": "https://api.prod4.kustomerapp.com",
}
MAX_PAGE_SIZE = 500
LOOPBACK_NAMES = {"localhost"}
_ORG_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ORG_IN_URL = re.compile(r"^([a-z0-9-]+)\.(?:api\.)?kustomerapp\.com$")


@dataclass(frozen=True)
class KustomerConfig:
    """Everything the streams need, already checked."""

    api_token: str
    base_url: str
    start_date: datetime
    page_size: Optional[int]
    search_requests_per_minute: int
    api_utilization_percent: int
    lookback: timedelta
    include_deleted: bool
    sync_deletes: bool
    request_timeout_seconds: float
    rate_limit_window_seconds: float
    search_lag: timedelta

    @property
    def origin(self) -> Origin:
        """The only scheme, host and port the API key may be sent to."""
        return Origin.of(self.base_url)


@lru_cache(maxsize=None)
def spec_property(name: str) -> Mapping[str, Any]:
    """One property of the connector's spec (spec.yaml is the one place its rules are written)."""
    spec = yaml.safe_load(files("source_kustomer").joinpath("spec.yaml").read_text(encoding="utf-8"))
    return spec["connectionSpecification"]["properties"][name]


def _start_date(value: Any, now: datetime) -> datetime:
    rule = spec_property("start_date")
    if not isinstance(value, str) or not re.fullmatch(rule["pattern"], value.strip()):
        raise config_error(
            f"'start_date' must be a UTC date-time like {rule['pattern_descriptor']}, e.g. {rule['examples'][0]}; "
            f"got {value!r}."
        )
    start = parse_timestamp(value, "start_date")
    if start > now:
        raise config_error(f"'start_date' {value!r} is in the future; use a past date (or leave it empty).")
    return start


def _int_field(config: Mapping[str, Any], field: str, default: Optional[int], low: int, high: int) -> Optional[int]:
    value = config.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise config_error(f"'{field}' must be a whole number from {low} to {high}; got {value!r}.")
    return value


def _token(config: Mapping[str, Any]) -> str:
    token = config.get("api_token")
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
    if not all("!" <= ch <= "~" for ch in token):
        raise config_error(
            "'api_token' contains characters an API key never has (letters with accents, typographic quotes or "
            "other non-ASCII text). Copy the key again from Kustomer and paste it as plain text."
        )
    return token


def organization_from(value: str) -> str:
    """The org subdomain from a name or a pasted Kustomer URL (https://acme.kustomerapp.com/app/...)."""
    text = value.strip().lower()
    if "://" in text or ".kustomerapp.com" in text:
        host = urlsplit(text if "://" in text else f"https://{text}").hostname or ""
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


def _base_url(config: Mapping[str, Any]) -> str:
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


def parse_config(config: Mapping[str, Any], now: Optional[datetime] = None) -> KustomerConfig:
    """Validate ``config``; raises a config_error naming the first bad field and its fix."""
    now = now or datetime.now(timezone.utc)
    token = _token(config)
    base_url = _base_url(config)
    start = _start_date(config["start_date"], now) if config.get("start_date") else now - timedelta(days=365)
    include_deleted, sync_deletes = config.get("include_deleted", False), config.get("sync_deletes", False)
    for field, value in (("include_deleted", include_deleted), ("sync_deletes", sync_deletes)):
        if not isinstance(value, bool):
            raise config_error(f"'{field}' must be true or false; got {value!r}.")
    timeout = config.get("request_timeout_seconds", 60)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 600:
        raise config_error(f"'request_timeout_seconds' must be a number from 1 to 600; got {timeout!r}.")
    window = config.get("rate_limit_window_seconds", 60)
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0.5 <= window <= 3600:
        raise config_error(f"'rate_limit_window_seconds' must be a number from 0.5 to 3600; got {window!r}.")
    return KustomerConfig(
        api_token=token,
        base_url=base_url,
        start_date=start,
        page_size=_int_field(config, "page_size", None, 1, MAX_PAGE_SIZE),
        search_requests_per_minute=_int_field(config, "search_requests_per_minute", 90, 1, 100),
        api_utilization_percent=_int_field(config, "api_utilization_percent", 80, 1, 100),
        lookback=timedelta(minutes=_int_field(config, "lookback_window_minutes", 0, 0, 60 * 24 * 30)),
        include_deleted=include_deleted,
        sync_deletes=sync_deletes,
        request_timeout_seconds=float(timeout),
        rate_limit_window_seconds=float(window),
        search_lag=timedelta(seconds=_int_field(config, "search_lag_seconds", 60, 0, 3600)),
    )
