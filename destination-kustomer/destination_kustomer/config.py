"""Turn the raw destination config into a validated ``DestinationConfig`` (or a config_error naming the field).

The rules (bounds, defaults, the object pattern) are read from ``spec.yaml``; the key and host rules are shared
with every Kustomer connector (``kustomer_http.settings``).
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from typing import Any, Mapping, Optional, Tuple

import yaml
from kustomer_http.errors import config_error
from kustomer_http.settings import ConnectionSettings, SpecRules, connection_settings

from destination_kustomer.objects import matching_keys_of

RETIRED_MAX_FAILED = (
    "'max_failed_records' is no longer used: 'max_failed_percent' (a share of each stream's records, default 10) "
    "replaced it, and a stream of which nothing could be written always fails the sync. Remove it from the config."
)


@dataclass(frozen=True)
class StreamMapping:
    """The Kustomer object a stream writes, and the field that finds the existing one."""

    object: str
    matching_key: Optional[str]


@dataclass(frozen=True)
class DestinationConfig(ConnectionSettings):
    """Everything the writes need, already checked."""

    batch_size: int
    dry_run: bool
    max_failed_percent: int
    lookup_by_search: bool
    send_imported_at: bool
    stream_mappings: Mapping[str, StreamMapping]
    pending_bulk_jobs: Tuple[str, ...] = ()


@lru_cache(maxsize=None)
def spec() -> Mapping[str, Any]:
    """The destination's spec (spec.yaml is the one place its rules are written)."""
    return yaml.safe_load(files("destination_kustomer").joinpath("spec.yaml").read_text(encoding="utf-8"))


def spec_rules() -> SpecRules:
    """The rules of the spec's fields."""
    return SpecRules(spec())


def object_name_rule() -> Tuple[str, str]:
    """The pattern every object name follows (customer, company, kobject.<klass>) and how it is shown to users."""
    rule = spec_rules().property("stream_mappings")["items"]["properties"]["object"]
    return rule["pattern"], rule["pattern_descriptor"]


def parse_config(config: Mapping[str, Any]) -> DestinationConfig:
    """Validate ``config``; raises a config_error naming the first bad field and its fix."""
    rules = spec_rules()
    shared = connection_settings(config, rules)
    return DestinationConfig(
        **shared.__dict__,
        batch_size=rules.number(config, "batch_size"),
        dry_run=rules.flag(config, "dry_run"),
        max_failed_percent=rules.number(config, "max_failed_percent"),
        lookup_by_search=rules.flag(config, "lookup_by_search"),
        send_imported_at=rules.flag(config, "send_imported_at"),
        stream_mappings=_stream_mappings(config.get("stream_mappings"), rules),
        pending_bulk_jobs=_pending_jobs(config.get("pending_bulk_jobs"), rules),
    )


def _pending_jobs(raw: Any, rules: SpecRules) -> Tuple[str, ...]:
    """The bulk jobs earlier syncs left running (written by the destination itself, see ``jobs_in_flight``)."""
    rule = rules.property("pending_bulk_jobs")
    longest, most = rule["items"]["maxLength"], rule["maxItems"]
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > most:
        got = f"{len(raw)} ids" if isinstance(raw, list) else type(raw).__name__
        raise config_error(f"'pending_bulk_jobs' must be a list of at most {most} bulk job ids; got {got}.")
    for n, job_id in enumerate(raw):
        if not isinstance(job_id, str) or not 0 < len(job_id) <= longest:
            raise config_error(
                f"'pending_bulk_jobs[{n}]' must be the id of a Kustomer bulk job (1 to {longest} characters), as the "
                "destination wrote it; remove entries you did not copy from its error."
            )
    return tuple(raw)


def _stream_mappings(raw: Any, rules: SpecRules) -> Mapping[str, StreamMapping]:
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise config_error("'stream_mappings' must be a list of {stream, object, matching_key} entries.")
    pattern, shown = object_name_rule()
    mappings = {}
    for n, entry in enumerate(raw):
        where = f"'stream_mappings[{n}]'"
        if not isinstance(entry, Mapping):
            raise config_error(f"{where} must be an object with 'stream' and 'object'.")
        stream, target, key = entry.get("stream"), entry.get("object"), entry.get("matching_key")
        if not isinstance(stream, str) or not stream:
            raise config_error(f"{where}.stream must be the name of a stream in the catalog.")
        if stream in mappings:
            raise config_error(f"{where}.stream: the stream '{stream}' is mapped twice; keep one entry.")
        if not isinstance(target, str) or not re.fullmatch(pattern, target):
            raise config_error(f"{where}.object must be {shown}; got {target!r}.")
        allowed = matching_keys_of(target)
        if key is not None and key not in allowed:
            raise config_error(f"{where}.matching_key: a {target} is matched by {' or '.join(allowed)}; got {key!r}.")
        mappings[stream] = StreamMapping(target, key)
    return mappings
