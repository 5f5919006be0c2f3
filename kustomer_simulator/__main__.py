"""Command line: ``python -m kustomer_simulator serve --port 8099 --seed 7 --scale 50000``."""

import argparse
import gc
import json
import ssl
import sys
import time
from typing import Dict, FrozenSet, List, Optional

from kustomer_simulator.faults import Fault
from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.search import CREATED_AT_BEHAVIOURS, CREATED_AT_DEFAULTS, SORT_BEHAVIOURS, SearchLimits
from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.timefmt import parse_iso_ms


def _int_list(text: str) -> List[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_tokens(specs: List[str]) -> Dict[str, FrozenSet[str]]:
    """``TOKEN`` or ``TOKEN:role,role`` (roles the token lacks)."""
    tokens: Dict[str, FrozenSet[str]] = {}
    for spec in specs:
        token, _, denied = spec.partition(":")
        tokens[token] = frozenset(r for r in denied.split(",") if r)
    return tokens


def parse_created_at(text: str) -> Dict[str, str]:
    """``honoured`` (every object) or ``customer=honoured,company=rejected`` (the rest keep their defaults)."""
    behaviours = dict(CREATED_AT_DEFAULTS)
    for part in (p.strip() for p in text.split(",") if p.strip()):
        context, _, behaviour = part.rpartition("=")
        if behaviour not in CREATED_AT_BEHAVIOURS:
            raise argparse.ArgumentTypeError(f"{behaviour!r} is not one of {', '.join(CREATED_AT_BEHAVIOURS)}")
        if context:
            behaviours[context] = behaviour
        else:
            behaviours = {key: behaviour for key in behaviours}
    return behaviours


def build_parser() -> argparse.ArgumentParser:
    """The CLI's argument parser."""
    parser = argparse.ArgumentParser(prog="python -m kustomer_simulator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve a simulated Kustomer org over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8099)
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--scale", type=int, default=50_000, help="records across the searchable resources")
    serve.add_argument("--anchor", help="ISO date the data ends at (default: today, UTC midnight)")
    serve.add_argument("--ties", type=_int_list, default=[], help="tie cluster sizes, e.g. 1000,5000")
    serve.add_argument("--deleted-fraction", type=float, default=0.01)
    serve.add_argument("--klasses", default="order,subscription")
    serve.add_argument("--token", action="append", default=[], help="TOKEN or TOKEN:denied.role,... (repeatable)")
    serve.add_argument("--org-per-minute", type=int, default=1000, help="0 disables")
    serve.add_argument("--search-per-minute", type=int, default=100, help="0 disables")
    serve.add_argument("--minute-seconds", type=float, default=60.0, help="length of a rate-limit 'minute'")
    serve.add_argument("--reset-mode", choices=["epoch", "seconds", "absent"], default="epoch")
    serve.add_argument("--no-retry-after", action="store_true")
    serve.add_argument("--past-window", choices=["error", "empty"], default="error")
    serve.add_argument("--list-over-max", choices=["clamp", "error"], default="clamp")
    serve.add_argument("--missing-role-status", type=int, choices=[401, 403], default=403)
    serve.add_argument(
        "--created-at",
        type=parse_created_at,
        default=dict(CREATED_AT_DEFAULTS),
        help="how search treats <object>_created_at: honoured|ignored|rejected, for all or per object "
        "(e.g. customer=honoured,company=rejected)",
    )
    serve.add_argument(
        "--total", choices=["exact", "capped"], default="exact", help="meta.total exact or capped at 10k"
    )
    serve.add_argument("--index-lag-seconds", type=float, default=0.0, help="writes reach search this much later")
    serve.add_argument(
        "--merge-audit",
        choices=["delete", "merge-only"],
        default="delete",
        help="what a customer merge writes to the audit log besides its merge entry",
    )
    serve.add_argument(
        "--conversation-time-sort",
        choices=list(SORT_BEHAVIOURS),
        default="ignored",
        help="whether search sorts by conversation_time_created_at (undocumented)",
    )
    serve.add_argument(
        "--work-item-updates",
        choices=["touch", "silent"],
        default="touch",
        help="whether a work item's change also updates its conversation (undocumented)",
    )
    serve.add_argument(
        "--audit-bounds",
        choices=["inclusive", "exclusive"],
        default="inclusive",
        help="whether the audit log's filter[start]/filter[end] include their own instant (undocumented)",
    )
    serve.add_argument("--history-days", type=int, default=330, help="days of history the generated org spans")
    serve.add_argument("--count", action="append", default=[], help="records of one stream, e.g. customers=250000")
    serve.add_argument("--mutate-every", type=int, default=0, help="update records every N requests (0: never)")
    serve.add_argument("--mutate-count", type=int, default=1, help="records updated per searchable stream each time")
    serve.add_argument("--fault", action="append", default=[], help='JSON, e.g. {"kind":"status","count":3}')
    serve.add_argument("--prerender", action="store_true", help="serialize every record before serving (benchmarks)")
    serve.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    serve.add_argument("--tls-key", help="the certificate's private key (PEM)")
    return parser


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
            klasses=tuple(k for k in args.klasses.split(",") if k),
            counts={name: int(n) for name, _, n in (c.partition("=") for c in args.count)},
            merge_audit=args.merge_audit,
            work_item_updates=args.work_item_updates,
            history_days=args.history_days,
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
    settings = ServerSettings(
        tokens=parse_tokens(args.token or ["sim-token"]),
        org_per_minute=args.org_per_minute,
        search_per_minute=args.search_per_minute,
        minute_seconds=args.minute_seconds,
        reset_mode=args.reset_mode,
        retry_after=not args.no_retry_after,
        list_over_max=args.list_over_max,
        missing_role_status=args.missing_role_status,
        audit_bounds=args.audit_bounds,
        search=SearchLimits(
            past_window=args.past_window,
            created_at=args.created_at,
            total=args.total,
            index_lag_seconds=args.index_lag_seconds,
            conversation_time_sort=args.conversation_time_sort,
        ),
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
