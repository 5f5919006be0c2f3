"""Write a configured catalog for ``source-kustomer read``: discover, then every stream (or the ones named),
incremental + deduped where the stream supports it, full refresh + overwrite otherwise.

Usage: .venv/bin/python scripts/configured_catalog.py --config config.json [--streams customers,users]
       [--full-refresh] > configured_catalog.json
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterable, Optional, Set

ROOT = Path(__file__).resolve().parent.parent


class CatalogError(Exception):
    """What went wrong, in one line."""


def configure(catalog: Dict[str, Any], streams: Optional[Set[str]] = None, incremental: bool = True) -> Dict[str, Any]:
    """A configured catalog of ``catalog``'s streams (``streams`` only, when given): incremental + append_dedup
    on the stream's default cursor where supported (and ``incremental``), else full refresh + overwrite."""
    configured = []
    for stream in catalog["streams"]:
        if streams is not None and stream["name"] not in streams:
            continue
        inc = incremental and "incremental" in stream["supported_sync_modes"]
        configured.append(
            {
                "stream": stream,
                "sync_mode": "incremental" if inc else "full_refresh",
                "destination_sync_mode": "append_dedup" if inc else "overwrite",
                "cursor_field": stream.get("default_cursor_field") if inc else None,
                "primary_key": stream.get("source_defined_primary_key") or [["id"]],
            }
        )
    return {"streams": configured}


def discover(config_path: Path) -> Dict[str, Any]:
    """The connector's catalog for ``config_path`` (``python main.py discover``, as Airbyte runs it)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "discover", "--config", str(config_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for message in messages:
        if message.get("type") == "CATALOG":
            return message["catalog"]
    errors = [m["trace"]["error"]["message"] for m in messages if m.get("type") == "TRACE" and "error" in m["trace"]]
    raise CatalogError(errors[0] if errors else f"discover found no catalog (exit {done.returncode})")


def chosen(names: Optional[str], catalog: Dict[str, Any]) -> Optional[Set[str]]:
    """The streams named in ``--streams a,b`` (None: all); an unknown name is an error listing the known ones."""
    if not names:
        return None
    wanted = {name.strip() for name in names.split(",") if name.strip()}
    known = {stream["name"] for stream in catalog["streams"]}
    unknown = wanted - known
    if unknown:
        raise CatalogError(f"no stream {', '.join(sorted(unknown))}; the config's streams: {', '.join(sorted(known))}")
    return wanted


def main(argv: Optional[Iterable[str]] = None) -> int:
    """Print the configured catalog as JSON; exit 1 with one line on stderr when discover fails."""
    parser = argparse.ArgumentParser(prog="scripts/configured_catalog.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the connector config (JSON)")
    parser.add_argument("--streams", help="comma-separated stream names (default: every stream)")
    parser.add_argument("--full-refresh", action="store_true", help="full refresh for every stream")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        catalog = discover(args.config)
        configured = configure(catalog, chosen(args.streams, catalog), incremental=not args.full_refresh)
    except CatalogError as error:
        print(f"configured_catalog: {error}", file=sys.stderr)
        return 1
    print(json.dumps(configured, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
