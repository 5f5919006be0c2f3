"""The flags of ``python -m kustomer_simulator serve``: one row each, in the order ``serve --help`` lists them.

A flag sets the settings field of its name (``--bulk-mode`` sets ``WriteSettings.bulk_mode``, ``--total`` sets
``SearchLimits.total``; ``__main__`` builds the settings so). Every behaviour Kustomer's evidence leaves open is a
flag whose default is the strict reading; ``docs/architecture.md`` section 4 maps each to its api-model row, and
``unit_tests/test_behaviour_map.py`` fails on a flag that is in neither the map nor its list of non-behaviours.
"""

import argparse
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple

from kustomer_simulator.audit import ID_MODES
from kustomer_simulator.flag_values import int_list, parse_created_at, parse_klasses, parse_routing_search, spelled
from kustomer_simulator.merges import MERGE_SIDES
from kustomer_simulator.org import MERGE_AUDIT_ABOUT, MERGE_AUDIT_VERBS, MERGE_AUDITS
from kustomer_simulator.org_tables import CHILD_UPDATES
from kustomer_simulator.roles import TOKEN_ROLES
from kustomer_simulator.routes.audit import INCLUDE_MODES, PAGING_MODES
from kustomer_simulator.routes.conversations import ATTACHMENT_IDS
from kustomer_simulator.search_limits import (
    CREATED_AT_DEFAULTS,
    FIELD_BEHAVIOURS,
    ROUTING_BEHAVIOURS,
    ROUTING_SEARCH_DEFAULTS,
)
from kustomer_simulator.server import DEFAULT_TOKEN
from kustomer_simulator.writes import (
    AGENT_EDITS,
    BULK_JOB_ENDS,
    BULK_MODES,
    BULK_RESULTS,
    CLIENT_REFS,
    COMPANY_LOOKUPS,
    CUSTOM_TREES,
    CUSTOM_UPDATES,
    CUSTOMER_EMAILS,
    DUPLICATE_EXTERNAL_IDS,
    EMAIL_CASES,
    LOOKUP_MISSES,
    SENSITIVE_VALUES,
    STALE_REVS,
    WriteSettings,
)


@dataclass(frozen=True)
class Flag:
    """One flag: its name, help, default (None: argparse's own) and how its value is read."""

    name: str
    help: str
    default: Any = None
    type: Optional[Callable[[str], Any]] = None
    choices: Optional[Sequence[Any]] = None
    action: Optional[str] = None

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Declare the flag on ``parser``."""
        options = {"default": self.default, "type": self.type, "choices": self.choices, "action": self.action}
        parser.add_argument(self.name, help=self.help, **{k: v for k, v in options.items() if v is not None})


def one_of(name: str, settings: Sequence[Any], help: str, default: Any = None) -> Flag:
    """A flag taking one of ``settings``; the default is the first unless ``default`` says otherwise."""
    return Flag(name, help, settings[0] if default is None else default, choices=settings)


_WRITES = WriteSettings()


def write_switch(name: str, settings: Sequence[Any], help: str) -> Flag:
    """A flag of the write side taking one of ``settings`` (``WriteSettings`` says what each means and its default)."""
    return Flag(f"--{name.replace('_', '-')}", help, getattr(_WRITES, name), choices=settings)


FLAGS: Tuple[Flag, ...] = (
    Flag("--host", "address to listen on", "127.0.0.1"),
    Flag("--port", "port to listen on", 8099, type=int),
    Flag("--seed", "seed of the generated org", 7, type=int),
    Flag("--scale", "records across the searchable resources", 50_000, type=int),
    Flag("--anchor", "ISO date the data ends at (None: today, UTC midnight)"),
    Flag("--ties", "tie cluster sizes, e.g. 1000,5000", "", type=int_list),
    Flag("--deleted-fraction", "share of searchable records soft-deleted", 0.01, type=float),
    Flag(
        "--klasses",
        "custom object klasses, each NAME or NAME:STATUS (enabled, existing_only, disabled; e.g. "
        "order,legacy_case:existing_only,old_survey:disabled)",
        "order,subscription",
        type=parse_klasses,
    ),
    Flag(
        "--token",
        "TOKEN, TOKEN:denied.role,... or TOKEN=held.role,... (umbrella roles such as org count; repeatable; "
        f"none given: {DEFAULT_TOKEN})",
        [],
        action="append",
    ),
    Flag(
        "--token-roles",
        "what GET /v1/auth/tokens/current lists: the roles as held (umbrella roles such as org), or every "
        "fine-grained role they grant",
        "umbrella",
        choices=list(TOKEN_ROLES),
    ),
    Flag("--org-per-minute", "org-wide requests per minute (0 disables)", 1000, type=int),
    Flag("--search-per-minute", "searches per minute (0 disables)", 100, type=int),
    Flag("--minute-seconds", "length of a rate-limit 'minute'", 60.0, type=float),
    one_of("--reset-mode", ["epoch", "seconds", "absent"], "what x-ratelimit-reset holds"),
    Flag("--no-retry-after", "send 429s without Retry-After", action="store_true"),
    one_of("--past-window", ["error", "empty"], "a search page past the result window"),
    one_of("--list-over-max", ["clamp", "error"], "a list pageSize above its maximum"),
    Flag("--missing-role-status", "the status for a missing role", 403, type=int, choices=[401, 403]),
    Flag(
        "--created-at",
        "how search treats <object>_created_at: honoured|ignored|rejected, for all or per object",
        spelled(CREATED_AT_DEFAULTS),
        type=parse_created_at,
    ),
    one_of("--total", ["exact", "capped"], "meta.total exact or capped at 10k"),
    Flag("--index-lag-seconds", "writes reach search this much later", 0.0, type=float),
    one_of(
        "--merge-audit",
        list(MERGE_AUDITS),
        "whether a customer merge also writes a delete entry for the one merged away",
    ),
    one_of("--merge-audit-verb", list(MERGE_AUDIT_VERBS), "the eventVerb of the audit entry a customer merge writes"),
    one_of(
        "--merge-audit-about",
        list(MERGE_AUDIT_ABOUT),
        "the customer a merge's audit entry is about: the one merged away (source) or the one kept (target)",
    ),
    one_of(
        "--audit-include",
        list(INCLUDE_MODES),
        "how the audit log's filter[include] adds object types: OR-ed at the top level (skipping the date filter), "
        "under the other filters, or ignored",
    ),
    one_of(
        "--audit-paging",
        list(PAGING_MODES),
        "which of before/after an audit-log request may carry: each requires the other (the reference's text), "
        "either, or one alone (the published links)",
    ),
    one_of(
        "--audit-ids",
        list(ID_MODES),
        "when an audit entry's id is minted: when it is stored, seconds after and not in publish order "
        "(insertion), or when it is published",
    ),
    Flag(
        "--merge-pending-seconds",
        "how long a customer merge record reads status pending before success",
        5.0,
        type=float,
    ),
    one_of(
        "--conversation-time-sort",
        list(FIELD_BEHAVIOURS),
        "whether search sorts by conversation_time_created_at (undocumented)",
        default="ignored",
    ),
    Flag(
        "--routing-search",
        "how search treats work_item_/work_session_ updated_at and created_at: "
        f"{'|'.join(ROUTING_BEHAVIOURS)} (filter-only: filter honoured, sort ignored; sort-rejected: a sort is 400; "
        "no-updated-at: as filter-only, records without updatedAt), for both contexts or per context "
        "(e.g. work_item=honoured,work_session=rejected)",
        spelled(ROUTING_SEARCH_DEFAULTS),
        type=parse_routing_search,
    ),
    one_of(
        "--work-item-updates",
        ["touch", "silent"],
        "whether a work item's change also updates its conversation (undocumented)",
        default="silent",
    ),
    one_of(
        "--conversation-child-updates",
        list(CHILD_UPDATES),
        "whether a new event or attachment of a conversation also moves its updatedAt (undocumented)",
    ),
    one_of(
        "--attachment-ids",
        list(ATTACHMENT_IDS),
        "whether a conversation's listed attachments carry an id (the published example: only in links.self)",
    ),
    one_of(
        "--audit-bounds",
        ["inclusive", "exclusive"],
        "whether the audit log's filter[start]/filter[end] include their own instant (undocumented)",
    ),
    one_of(
        "--audit-date-field",
        ["publishedAt", "createdAt"],
        "the entry time filter[start]/filter[end] compare (undocumented)",
    ),
    Flag(
        "--audit-publish-lag-seconds",
        "an audit entry's createdAt precedes its publishedAt (and id time) by up to this much",
        8.0,
        type=float,
    ),
    one_of(
        "--audit-next-links",
        ["bare", "filtered"],
        "whether the audit log's links carry only count and before/after (as published) or the filters too",
    ),
    one_of(
        "--work-session-defaults",
        ["true", "false"],
        "what an absent user= and active= on GET /v1/routing/work-sessions mean (undocumented)",
    ),
    one_of("--users-default", ["active", "all"], "what GET /v1/users lists without deleted= (undocumented)"),
    one_of(
        "--disabled-klass-objects",
        ["served", "refused"],
        "whether a disabled klass's custom objects are still listed and searched, or refused with 403",
    ),
    one_of(
        "--merges-listed-for",
        list(MERGE_SIDES),
        "the merges GET /v1/customers/{id}/merges lists: where the customer is the source, or either side",
    ),
    Flag(
        "--merged-lookup",
        "what GET /v1/customers/{id} answers for a customer merged away",
        200,
        type=int,
        choices=[200, 404],
    ),
    write_switch("bulk_mode", BULK_MODES, "bulk requests queued or run at once"),
    write_switch(
        "bulk_job_end", BULK_JOB_ENDS, "what a bulk job comes to: complete, failed after half its items, or stuck"
    ),
    write_switch(
        "bulk_results", BULK_RESULTS, "a bulk job's batches one a page (links.next to the next) or all on one page"
    ),
    write_switch(
        "duplicate_external_id", DUPLICATE_EXTERNAL_IDS, "a create naming a taken externalId: a second record, or 409"
    ),
    write_switch(
        "customer_emails", CUSTOMER_EMAILS, "an email held by one customer only (409 otherwise), or by any number"
    ),
    write_switch("email_case", EMAIL_CASES, "emails the same in any case (lookups, unique emails), or only as spelled"),
    write_switch(
        "custom_tree", CUSTOM_TREES, "custom attributes named ...Tree (in no published suffix list): 400, or text"
    ),
    write_switch(
        "lookup_miss", LOOKUP_MISSES, "a lookup by externalId or email that finds nothing: 200 with empty data, or 404"
    ),
    write_switch(
        "client_ref", CLIENT_REFS, "_clientRef on bulk items: refused by closed item schemas, or accepted and echoed"
    ),
    write_switch(
        "custom_update", CUSTOM_UPDATES, "an update's custom object sets only the attributes it names, or replaces all"
    ),
    write_switch(
        "sensitive_values",
        SENSITIVE_VALUES,
        "sensitive attributes masked in every answer (a mask written back is stored)",
    ),
    write_switch(
        "agent_edits", AGENT_EDITS, "an agent edits each record once right after a lookup by key answered it, or never"
    ),
    write_switch("stale_rev", STALE_REVS, "an update naming a rev the record has moved past: 409, or applied"),
    write_switch(
        "company_lookup",
        COMPANY_LOOKUPS,
        "companies?externalId= lists every externalId it prefixes (paged), or the exact",
    ),
    Flag("--bulk-seconds", "how long an asynchronous bulk job takes", _WRITES.bulk_seconds, type=float),
    Flag(
        "--bulk-late-seconds",
        "the first bulk job of each collection and operation stays queued this much longer (0: none late)",
        _WRITES.bulk_late_seconds,
        type=float,
    ),
    Flag("--max-body-bytes", "413 past this body size (0: no limit)", _WRITES.max_body_bytes, type=int),
    Flag(
        "--kobject-creates-per-customer",
        "custom objects created per minute per customer before 429 (importedAt exempts; 0: no limit)",
        _WRITES.kobject_creates_per_customer,
        type=int,
    ),
    Flag("--history-days", "days of history the generated org spans", 330, type=int),
    Flag("--count", "records of one stream, e.g. customers=250000 (repeatable)", [], action="append"),
    Flag("--mutate-every", "update records every N requests (0: never)", 0, type=int),
    Flag("--mutate-count", "records updated per searchable stream each time", 1, type=int),
    Flag("--fault", 'JSON, e.g. {"kind":"status","count":3} (repeatable)', [], action="append"),
    Flag("--prerender", "serialize every record before serving (benchmarks)", action="store_true"),
    Flag("--tls-cert", "serve HTTPS with this certificate (PEM)"),
    Flag("--tls-key", "the certificate's private key (PEM)"),
)
