"""Turn the raw connector config into a validated ``KustomerConfig`` (or a config_error naming the field).

The rules (bounds, defaults, the date pattern) are read from ``spec.yaml``; the key and host rules are shared
with every Kustomer connector (``kustomer_http.settings``).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from importlib.resources import files
from typing import Any, Dict, Mapping, Optional

import yaml
from kustomer_http.settings import ConnectionSettings, SpecRules, connection_settings

DEFAULT_HISTORY = timedelta(days=365)  # where a sync starts without start_date (spec.yaml says the same)


@dataclass(frozen=True)
class KustomerConfig(ConnectionSettings):
    """Everything the streams need, already checked."""

    start_date: datetime
    page_size: Optional[int]
    lookback: timedelta
    include_deleted: bool
    sync_deletes: bool
    search_lag: timedelta
    audit_publish_lag: timedelta
    max_concurrent_streams: int


def spec_document() -> Dict[str, Any]:
    """spec.yaml, parsed afresh (a caller may change what it gets) with libyaml where PyYAML has it: a tenth of the
    time of its pure-Python parser, which the CDK's default ``spec`` uses."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(files("source_kustomer").joinpath("spec.yaml").read_text(encoding="utf-8"), Loader=loader)


@lru_cache(maxsize=None)
def spec_rules() -> SpecRules:
    """The connector's spec (spec.yaml is the one place its rules are written)."""
    return SpecRules(spec_document())


def spec_property(name: str) -> Mapping[str, Any]:
    """One property of the connector's spec."""
    return spec_rules().property(name)


def parse_config(config: Mapping[str, Any], now: Optional[datetime] = None) -> KustomerConfig:
    """Validate ``config``; raises a config_error naming the first bad field and its fix."""
    now = now or datetime.now(timezone.utc)
    rules = spec_rules()
    shared = connection_settings(config, rules)
    start = rules.date(config, "start_date", now) or now - DEFAULT_HISTORY
    return KustomerConfig(
        **shared.__dict__,
        start_date=start,
        page_size=rules.number(config, "page_size"),
        lookback=timedelta(minutes=rules.number(config, "lookback_window_minutes")),
        include_deleted=rules.flag(config, "include_deleted"),
        sync_deletes=rules.flag(config, "sync_deletes"),
        search_lag=timedelta(seconds=rules.number(config, "search_lag_seconds")),
        audit_publish_lag=timedelta(seconds=rules.number(config, "audit_publish_lag_seconds")),
        max_concurrent_streams=rules.number(config, "max_concurrent_streams"),
    )
