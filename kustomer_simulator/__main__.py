"""Command line: ``python -m kustomer_simulator serve --port 8099 --seed 7 --scale 50000``."""

import argparse
import gc
import json
import ssl
import sys
import time
from dataclasses import fields
from typing import Dict, FrozenSet, List, Mapping, Optional, Tuple

from kustomer_simulator.audit import ID_MODES
from kustomer_simulator.faults import Fault
from kustomer_simulator.merges import MERGE_SIDES
from kustomer_simulator.org import KLASS_STATUSES, MERGE_AUDIT_ABOUT, MERGE_AUDIT_VERBS, MERGE_AUDITS, Org, OrgSettings
from kustomer_simulator.org_tables import CHILD_UPDATES
from kustomer_simulator.roles import TOKEN_ROLES
from kustomer_simulator.routes.audit import INCLUDE_MODES, PAGING_MODES
from kustomer_simulator.routes.conversations import ATTACHMENT_IDS
from kustomer_simulator.search import (
    CREATED_AT_DEFAULTS,
    FIELD_BEHAVIOURS,
    ROUTING_BEHAVIOURS,
    ROUTING_SEARCH_DEFAULTS,
    SearchLimits,
)
from kustomer_simulator.server import DEFAULT_TOKEN, ServerSettings, Simulator
from kustomer_simulator.timefmt import parse_iso_ms
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


def _int_list(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_tokens(specs: List[str]) -> Tuple[Dict[str, FrozenSet[str]], Dict[str, Tuple[str, ...]]]:
    """``TOKEN``, ``TOKEN:role,role`` (roles the token lacks) or ``TOKEN=role,role`` (the roles it holds, umbrella
    roles such as ``org`` included): the tokens by the roles they lack, and those defined by what they hold."""
    tokens: Dict[str, FrozenSet[str]] = {}
    grants: Dict[str, Tuple[str, ...]] = {}
    for spec in specs:
        if "=" in spec.partition(":")[0]:
            token, _, held = spec.partition("=")
            grants[token] = tuple(r for r in held.split(",") if r)
        else:
            token, _, denied = spec.partition(":")
            tokens[token] = frozenset(r for r in denied.split(",") if r)
    return tokens, grants


def _per_context(text: str, defaults: Mapping[str, str], choices: Tuple[str, ...] = FIELD_BEHAVIOURS) -> Dict[str, str]:
    """``honoured`` (every context) or ``a=honoured,b=rejected`` (the rest keep their defaults)."""
    behaviours = dict(defaults)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        context, _, behaviour = part.rpartition("=")
        if behaviour not in choices:
            raise argparse.ArgumentTypeError(f"{behaviour!r} is not one of {', '.join(choices)}")
        if context:
            behaviours[context] = behaviour
        else:
            behaviours = {key: behaviour for key in behaviours}
    return behaviours


def parse_created_at(text: str) -> Dict[str, str]:
    """How standard search treats ``<object>_created_at``, per object (``customer=honoured,company=rejected``)."""
    return _per_context(text, CREATED_AT_DEFAULTS)


def parse_routing_search(text: str) -> Dict[str, str]:
    """How search treats the routing contexts' time fields (``ignored``, or ``work_item=honoured,...``)."""
    unknown = {p.partition("=")[0].strip() for p in text.split(",") if "=" in p} - set(ROUTING_SEARCH_DEFAULTS)
    if unknown:
        raise argparse.ArgumentTypeError(f"{sorted(unknown)}: the routing contexts are work_item and work_session")
    return _per_context(text, ROUTING_SEARCH_DEFAULTS, ROUTING_BEHAVIOURS)


def parse_klasses(text: str) -> Tuple[Tuple[str, ...], Dict[str, str]]:
    """``order,legacy_case:existing_only``: the klass names, and the status of those not enabled."""
    names, statuses = [], {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, status = part.partition(":")
        if status and status not in KLASS_STATUSES:
            raise argparse.ArgumentTypeError(f"klass status {status!r} is not one of {', '.join(KLASS_STATUSES)}")
        names.append(name)
        if status:
            statuses[name] = status
    return tuple(names), statuses


def _spelled(behaviours: Mapping[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in behaviours.items())


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser; ``serve --help`` lists every switch with its default."""
    parser = argparse.ArgumentParser(prog="python -m kustomer_simulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="serve a simulated Kustomer org over HTTP",
        description="Every behaviour Kustomer's evidence leaves open is a switch; each default is the strict reading "
        "(docs/kustomer-api-model.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = serve.add_argument
    add("--host", default="127.0.0.1", help="address to listen on")
    add("--port", type=int, default=8099, help="port to listen on")
    add("--seed", type=int, default=7, help="seed of the generated org")
    add("--scale", type=int, default=50_000, help="records across the searchable resources")
    add("--anchor", help="ISO date the data ends at (None: today, UTC midnight)")
    add("--ties", type=_int_list, default="", help="tie cluster sizes, e.g. 1000,5000")
    add("--deleted-fraction", type=float, default=0.01, help="share of searchable records soft-deleted")
    add(
        "--klasses",
        type=parse_klasses,
        default="order,subscription",
        help="custom object klasses, each NAME or NAME:STATUS (enabled, existing_only, disabled; e.g. "
        "order,legacy_case:existing_only,old_survey:disabled)",
    )
    add(
        "--token",
        action="append",
        default=[],
        help="TOKEN, TOKEN:denied.role,... or TOKEN=held.role,... (umbrella roles such as org count; repeatable; "
        f"none given: {DEFAULT_TOKEN})",
    )
    add(
        "--token-roles",
        choices=list(TOKEN_ROLES),
        default="umbrella",
        help="what GET /v1/auth/tokens/current lists: the roles as held (umbrella roles such as org), or every "
        "fine-grained role they grant",
    )
    add("--org-per-minute", type=int, default=1000, help="org-wide requests per minute (0 disables)")
    add("--search-per-minute", type=int, default=100, help="searches per minute (0 disables)")
    add("--minute-seconds", type=float, default=60.0, help="length of a rate-limit 'minute'")
    add("--reset-mode", choices=["epoch", "seconds", "absent"], default="epoch", help="what x-ratelimit-reset holds")
    add("--no-retry-after", action="store_true", help="send 429s without Retry-After")
    add("--past-window", choices=["error", "empty"], default="error", help="a search page past the result window")
    add("--list-over-max", choices=["clamp", "error"], default="clamp", help="a list pageSize above its maximum")
    add("--missing-role-status", type=int, choices=[401, 403], default=403, help="the status for a missing role")
    add(
        "--created-at",
        type=parse_created_at,
        default=_spelled(CREATED_AT_DEFAULTS),
        help="how search treats <object>_created_at: honoured|ignored|rejected, for all or per object",
    )
    add("--total", choices=["exact", "capped"], default="exact", help="meta.total exact or capped at 10k")
    add("--index-lag-seconds", type=float, default=0.0, help="writes reach search this much later")
    for flag, settings, text in AUDIT_SWITCHES:
        add(flag, choices=list(settings), default=settings[0], help=text)
    add(
        "--merge-pending-seconds",
        type=float,
        default=5.0,
        help="how long a customer merge record reads status pending before success",
    )
    add(
        "--conversation-time-sort",
        choices=list(FIELD_BEHAVIOURS),
        default="ignored",
        help="whether search sorts by conversation_time_created_at (undocumented)",
    )
    add(
        "--routing-search",
        type=parse_routing_search,
        default=_spelled(ROUTING_SEARCH_DEFAULTS),
        help="how search treats work_item_/work_session_ updated_at and created_at: "
        f"{'|'.join(ROUTING_BEHAVIOURS)} (filter-only: filter honoured, sort ignored; sort-rejected: a sort is 400; "
        "no-updated-at: as filter-only, records without updatedAt), for both contexts or per context "
        "(e.g. work_item=honoured,work_session=rejected)",
    )
    add(
        "--work-item-updates",
        choices=["touch", "silent"],
        default="silent",
        help="whether a work item's change also updates its conversation (undocumented)",
    )
    add(
        "--conversation-child-updates",
        choices=list(CHILD_UPDATES),
        default=CHILD_UPDATES[0],
        help="whether a new event or attachment of a conversation also moves its updatedAt (undocumented)",
    )
    add(
        "--attachment-ids",
        choices=list(ATTACHMENT_IDS),
        default=ATTACHMENT_IDS[0],
        help="whether a conversation's listed attachments carry an id (the published example: only in links.self)",
    )
    add(
        "--audit-bounds",
        choices=["inclusive", "exclusive"],
        default="inclusive",
        help="whether the audit log's filter[start]/filter[end] include their own instant (undocumented)",
    )
    add(
        "--audit-date-field",
        choices=["publishedAt", "createdAt"],
        default="publishedAt",
        help="the entry time filter[start]/filter[end] compare (undocumented)",
    )
    add(
        "--audit-publish-lag-seconds",
        type=float,
        default=8.0,
        help="an audit entry's createdAt precedes its publishedAt (and id time) by up to this much",
    )
    add(
        "--audit-next-links",
        choices=["bare", "filtered"],
        default="bare",
        help="whether the audit log's links carry only count and before/after (as published) or the filters too",
    )
    add(
        "--work-session-defaults",
        choices=["true", "false"],
        default="true",
        help="what an absent user= and active= on GET /v1/routing/work-sessions mean (undocumented)",
    )
    add(
        "--users-default",
        choices=["active", "all"],
        default="active",
        help="what GET /v1/users lists without deleted= (undocumented)",
    )
    add(
        "--disabled-klass-objects",
        choices=["served", "refused"],
        default="served",
        help="whether a disabled klass's custom objects are still listed and searched, or refused with 403",
    )
    add(
        "--merges-listed-for",
        choices=list(MERGE_SIDES),
        default="source",
        help="the merges GET /v1/customers/{id}/merges lists: where the customer is the source, or either side",
    )
    add(
        "--merged-lookup",
        type=int,
        choices=[200, 404],
        default=200,
        help="what GET /v1/customers/{id} answers for a customer merged away",
    )
    add_write_switches(add)
    add("--history-days", type=int, default=330, help="days of history the generated org spans")
    add("--count", action="append", default=[], help="records of one stream, e.g. customers=250000 (repeatable)")
    add("--mutate-every", type=int, default=0, help="update records every N requests (0: never)")
    add("--mutate-count", type=int, default=1, help="records updated per searchable stream each time")
    add("--fault", action="append", default=[], help='JSON, e.g. {"kind":"status","count":3} (repeatable)')
    add("--prerender", action="store_true", help="serialize every record before serving (benchmarks)")
    add("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    add("--tls-key", help="the certificate's private key (PEM)")
    return parser


AUDIT_SWITCHES = (  # the audit log's and merges' switches with a fixed set of settings, the first the default
    ("--merge-audit", MERGE_AUDITS, "whether a customer merge also writes a delete entry for the one merged away"),
    ("--merge-audit-verb", MERGE_AUDIT_VERBS, "the eventVerb of the audit entry a customer merge writes"),
    (
        "--merge-audit-about",
        MERGE_AUDIT_ABOUT,
        "the customer a merge's audit entry is about: the one merged away (source) or the one kept (target)",
    ),
    (
        "--audit-include",
        INCLUDE_MODES,
        "how the audit log's filter[include] adds object types: OR-ed at the top level (skipping the date filter), "
        "under the other filters, or ignored",
    ),
    (
        "--audit-paging",
        PAGING_MODES,
        "which of before/after an audit-log request may carry: each requires the other (the reference's text), "
        "either, or one alone (the published links)",
    ),
    (
        "--audit-ids",
        ID_MODES,
        "when an audit entry's id is minted: when it is stored, seconds after and not in publish order "
        "(insertion), or when it is published",
    ),
)
CHOICE_SWITCHES = (  # the write switches with a fixed set of settings: (WriteSettings field, settings, help)
    ("bulk_mode", BULK_MODES, "bulk requests queued or run at once"),
    ("bulk_job_end", BULK_JOB_ENDS, "what a bulk job comes to: complete, failed after half its items, or stuck"),
    ("bulk_results", BULK_RESULTS, "a bulk job's batches one a page (links.next to the next) or all on one page"),
    ("duplicate_external_id", DUPLICATE_EXTERNAL_IDS, "a create naming a taken externalId: a second record, or 409"),
    ("customer_emails", CUSTOMER_EMAILS, "an email held by one customer only (409 otherwise), or by any number"),
    ("email_case", EMAIL_CASES, "emails the same in any case (lookups, unique emails), or only as spelled"),
    ("custom_tree", CUSTOM_TREES, "custom attributes named ...Tree (in no published suffix list): 400, or text"),
    ("lookup_miss", LOOKUP_MISSES, "a lookup by externalId or email that finds nothing: 200 with empty data, or 404"),
    ("client_ref", CLIENT_REFS, "_clientRef on bulk items: refused by closed item schemas, or accepted and echoed"),
    ("custom_update", CUSTOM_UPDATES, "an update's custom object sets only the attributes it names, or replaces all"),
    (
        "sensitive_values",
        SENSITIVE_VALUES,
        "sensitive attributes masked in every answer (a mask written back is stored)",
    ),
    ("agent_edits", AGENT_EDITS, "an agent edits each record once right after a lookup by key answered it, or never"),
    ("stale_rev", STALE_REVS, "an update naming a rev the record has moved past: 409, or applied"),
    (
        "company_lookup",
        COMPANY_LOOKUPS,
        "companies?externalId= lists every externalId it prefixes (paged), or the exact",
    ),
)


def add_write_switches(add) -> None:
    """The switches of the write side (kustomer_simulator.writes.WriteSettings says what each means)."""
    defaults = WriteSettings()
    for name, settings, text in CHOICE_SWITCHES:
        add(f"--{name.replace('_', '-')}", choices=settings, default=getattr(defaults, name), help=text)
    add("--bulk-seconds", type=float, default=defaults.bulk_seconds, help="how long an asynchronous bulk job takes")
    add(
        "--bulk-late-seconds",
        type=float,
        default=defaults.bulk_late_seconds,
        help="the first bulk job of each collection and operation stays queued this much longer (0: none late)",
    )
    add("--max-body-bytes", type=int, default=defaults.max_body_bytes, help="413 past this body size (0: no limit)")
    add(
        "--kobject-creates-per-customer",
        type=int,
        default=defaults.kobject_creates_per_customer,
        help="custom objects created per minute per customer before 429 (importedAt exempts; 0: no limit)",
    )


def write_settings(args: argparse.Namespace) -> WriteSettings:
    """The write switches parsed from the command line."""
    return WriteSettings(**{switch.name: getattr(args, switch.name) for switch in fields(WriteSettings)})


def main(argv: Optional[List[str]] = None) -> int:
    """Run the CLI."""
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    org = Org(
        OrgSettings(
            seed=args.seed,
            scale=args.scale,
            anchor_ms=parse_iso_ms(args.anchor) if args.anchor else None,
            tie_clusters=args.ties,
            deleted_fraction=args.deleted_fraction,
            klasses=args.klasses[0],
            klass_status=args.klasses[1],
            counts={name: int(n) for name, _, n in (c.partition("=") for c in args.count)},
            merge_audit=args.merge_audit,
            merge_audit_verb=args.merge_audit_verb,
            merge_audit_about=args.merge_audit_about,
            merge_pending_seconds=args.merge_pending_seconds,
            audit_ids=args.audit_ids,
            work_item_updates=args.work_item_updates,
            conversation_child_updates=args.conversation_child_updates,
            history_days=args.history_days,
            audit_publish_lag_seconds=args.audit_publish_lag_seconds,
        )
    )
    built = time.perf_counter() - started
    # The org lives as long as this process: keep the cyclic GC from re-scanning its arrays on every render.
    gc.collect()
    gc.freeze()
    if args.prerender:
        for coll in org.collections.values():
            coll.prerender()
        print(
            f"kustomer-simulator: pre-rendered every record in {time.perf_counter() - started - built:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    tokens, grants = parse_tokens(args.token or [DEFAULT_TOKEN])
    settings = ServerSettings(
        tokens=tokens,
        grants=grants,
        token_roles=args.token_roles,
        org_per_minute=args.org_per_minute,
        search_per_minute=args.search_per_minute,
        minute_seconds=args.minute_seconds,
        reset_mode=args.reset_mode,
        retry_after=not args.no_retry_after,
        list_over_max=args.list_over_max,
        missing_role_status=args.missing_role_status,
        audit_bounds=args.audit_bounds,
        audit_date_field=args.audit_date_field,
        audit_next_links=args.audit_next_links,
        audit_include=args.audit_include,
        audit_paging=args.audit_paging,
        work_session_defaults=args.work_session_defaults,
        users_default=args.users_default,
        disabled_klass_objects=args.disabled_klass_objects,
        merges_listed_for=args.merges_listed_for,
        merged_lookup=args.merged_lookup,
        attachment_ids=args.attachment_ids,
        search=SearchLimits(
            past_window=args.past_window,
            created_at=args.created_at,
            total=args.total,
            index_lag_seconds=args.index_lag_seconds,
            conversation_time_sort=args.conversation_time_sort,
            routing_search=args.routing_search,
        ),
        writes=write_settings(args),
    )
    sim = Simulator(org, settings, host=args.host, port=args.port)
    for spec in args.fault:
        sim.faults.add(Fault(**json.loads(spec)))
    if args.mutate_every:
        sim.mutate_during = {"every": args.mutate_every, "count": args.mutate_count}
    scheme = "http"
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        sim.wrap_socket(lambda listening: context.wrap_socket(listening, server_side=True))
        scheme = "https"
    total = sum(c.count for c in org.collections.values())
    print(
        f"kustomer-simulator: {total:,} records generated in {built:.2f}s; "
        f"serving {scheme}://{args.host}:{sim.url.rsplit(':', 1)[1]}",
        file=sys.stderr,
        flush=True,
    )
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
