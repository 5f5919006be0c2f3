"""What masking the API key costs on the record hot path: the CPU time ``kustomer_http.redaction.redact`` takes
over every line a typical 100,000-record read prints.

The lines are real: the connector reads a 100,000-record simulated org (every stream, no limits) and its stdout is
kept. The key is then registered and every line redacted, a few times over (the fastest pass is reported, as the
machine is shared); none of the lines holds the key, as in a normal sync. A second pass puts one form of the key
into one line in a hundred, to show what a line that does hold it costs.

Usage: ``.venv/bin/python -m benchmarks.redaction_cost [--scale 100000] [--repeats 5] [--lines FILE]
[--key benchmark|jwt]`` (``jwt``: a key shaped like Kustomer's, about 200 characters; with
``--lines``, the read's lines are kept in FILE, and read from it when it exists: two versions of the redaction
can be compared on the same lines).
"""

import argparse
import base64
import json
import subprocess
import time
from pathlib import Path
from random import Random
from typing import List

from kustomer_http import redaction

from benchmarks.processes import ROOT, TOKEN, WORK, our_catalog, our_command, simulator, unlimited


def read_lines(scale: int) -> List[str]:
    """Every line a full read of a ``scale``-record org prints."""
    WORK.mkdir(parents=True, exist_ok=True)
    with simulator(scale, limits=False) as url:
        config = unlimited(url)
        command = our_command(config, our_catalog(config, None), "redaction")
        done = subprocess.run(command, capture_output=True, cwd=ROOT, check=True, text=True)
    return done.stdout.splitlines()


def fastest(repeats: int, lines: List[str]) -> float:
    """The CPU seconds of the fastest of ``repeats`` passes of ``redact`` over ``lines``."""
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        for line in lines:
            redaction.redact(line)
        best = min(best, time.process_time() - started)
    return best


def jwt_shaped_key() -> str:
    """A key shaped like Kustomer's (a signed JWT: header, claims, signature), fixed for the comparison."""
    random = Random(7)
    claims = {"org": f"{random.getrandbits(96):024x}", "user": f"{random.getrandbits(96):024x}", "exp": None}
    signature = base64.urlsafe_b64encode(random.randbytes(32)).decode().rstrip("=")
    parts = [{"alg": "HS256", "typ": "JWT"}, claims]
    encoded = [base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=") for part in parts]
    return ".".join([*encoded, signature])


def with_key_forms(lines: List[str], key: str) -> List[str]:
    """``lines`` with the key, base64-encoded inside a longer blob, in one line in a hundred."""
    blob = base64.b64encode(b"x" + key.encode() + b"tail").decode()
    return [line.replace('"id":"', f'"id":"{blob}', 1) if n % 100 == 0 else line for n, line in enumerate(lines)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lines", type=Path, help="where the read's lines are kept")
    parser.add_argument("--key", choices=("benchmark", "jwt"), default="benchmark", help="the key masked")
    args = parser.parse_args()
    if args.lines and args.lines.exists():
        lines = args.lines.read_text().splitlines()
    else:
        lines = read_lines(args.scale)
        if args.lines:
            args.lines.write_text("\n".join(lines) + "\n")
    records = sum(line.startswith('{"type":"RECORD"') for line in lines)
    size = sum(len(line) for line in lines)
    key = TOKEN if args.key == "benchmark" else jwt_shaped_key()
    redaction.register(key)
    print(f"lines: {len(lines):,} ({records:,} records, {size / 2**20:.1f} MiB, {size / len(lines):.0f} chars a line)")
    print(f"key: {len(key)} characters, {len(redaction.token_forms(key))} literal forms searched in every line")
    for label, corpus in (("no line holds the key", lines), ("1 line in 100 holds it", with_key_forms(lines, key))):
        seconds = fastest(args.repeats, corpus)
        print(
            f"{label}: {seconds:.3f} CPU s in all, {seconds / len(corpus) * 1e6:.2f} us a line, "
            f"{seconds / records * 1e5:.3f} s per 100k records"
        )


if __name__ == "__main__":
    main()
