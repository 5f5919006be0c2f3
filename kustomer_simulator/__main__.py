"""Command line: ``python -m kustomer_simulator serve --port 8099 --seed 7 --scale 50000``."""

import argparse
import gc
import json
import ssl
import sys
import time
from dataclasses import fields
from typing import Any, List, Optional, Type, TypeVar

from kustomer_simulator.faults import Fault
from kustomer_simulator.flag_values import parse_tokens
from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.search_limits import SearchLimits
from kustomer_simulator.serve_flags import FLAGS
from kustomer_simulator.server import DEFAULT_TOKEN, ServerSettings, Simulator
from kustomer_simulator.timefmt import parse_iso_ms
from kustomer_simulator.writes import WriteSettings


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
    for flag in FLAGS:
        flag.add_to(serve)
    return parser


Settings = TypeVar("Settings")


def from_flags(settings: Type[Settings], args: argparse.Namespace, **given: Any) -> Settings:
    """The ``settings`` dataclass with each field set by the flag of its name (``given`` ones as given; a field no
    flag sets keeps its default)."""
    flags = vars(args)
    named = {f.name: flags[f.name] for f in fields(settings) if f.name in flags and f.name not in given}
    return settings(**named, **given)


def org_settings(args: argparse.Namespace) -> OrgSettings:
    """What decides the generated org, from the command line."""
    return from_flags(
        OrgSettings,
        args,
        anchor_ms=parse_iso_ms(args.anchor) if args.anchor else None,
        tie_clusters=args.ties,
        klasses=args.klasses[0],
        klass_status=args.klasses[1],
        counts={name: int(n) for name, _, n in (c.partition("=") for c in args.count)},
    )


def server_settings(args: argparse.Namespace) -> ServerSettings:
    """The behaviour of the API around the data, from the command line."""
    tokens, grants = parse_tokens(args.token or [DEFAULT_TOKEN])
    return from_flags(
        ServerSettings,
        args,
        tokens=tokens,
        grants=grants,
        retry_after=not args.no_retry_after,
        search=from_flags(SearchLimits, args),
        writes=from_flags(WriteSettings, args),
    )


def main(argv: Optional[List[str]] = None) -> int:
    """Run the CLI."""
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    org = Org(org_settings(args))
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
    sim = Simulator(org, server_settings(args), host=args.host, port=args.port)
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
