"""Where an org's DuckDB file lives, and the stamp that keeps two orgs out of one file.

PyAirbyte keeps the sync state in the cache itself, so one file per org is also one state per org. Each file
records the org it holds (the API's origin, or ``SIMULATED`` for the demo's own simulated org) in a small table;
a run for another org refuses to touch it.
"""

import re
import subprocess
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

SIMULATED = "simulator"  # the demo's own simulated org: a new one each run, so its file starts empty each run
STAMP_TABLE = "_demo_org"
PYAIRBYTE_STATE_TABLE = "_airbyte_state"  # where PyAirbyte's DuckDB cache keeps each stream's state
DB_NAME = "kustomer.duckdb"
# The connector's own reading of a config's host (Region, Organization or API URL), run in the connector's venv.
ORIGIN_OF_CONFIG = (
    "import json, sys\n"
    "from kustomer_http.settings import base_url\n"
    "try:\n"
    "    print(base_url(json.load(open(sys.argv[1]))))\n"
    "except Exception as error:\n"
    "    sys.exit(getattr(error, 'message', None) or str(error))\n"
)


class UnreadableFile(Exception):
    """The file is not a DuckDB file, or another process holds it."""


def connector_origin(python: Path, config_path: Path) -> str:
    """The origin (``https://acme.api.kustomerapp.com``) the connector would send ``config_path``'s key to.

    Raises ValueError with the connector's own words when the config names no valid host.
    """
    done = subprocess.run([str(python), "-c", ORIGIN_OF_CONFIG, str(config_path)], capture_output=True, text=True)
    if done.returncode != 0:
        raise ValueError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no host in the config")
    return done.stdout.strip()


def slug(org: str) -> str:
    """A directory name for an org: its host, and its port when not the scheme's default (``127.0.0.1-8099``)."""
    if org == SIMULATED:
        return SIMULATED
    parts = urlsplit(org)
    name = parts.hostname or "org"
    if parts.port:
        name += f"-{parts.port}"
    return re.sub(r"[^a-z0-9.-]+", "-", name.lower())


def db_path(output_dir: Path, org: str) -> Path:
    """``<output_dir>/<slug>/kustomer.duckdb``."""
    return output_dir / slug(org) / DB_NAME


def _first_value(db: Path, table: str, sql: str) -> Optional[Any]:
    """The first value ``sql`` finds, None when there is no file or no ``table`` in it."""
    if not db.exists():
        return None
    import duckdb

    try:
        with duckdb.connect(str(db), read_only=True) as con:
            tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            row = con.execute(sql).fetchone() if table in tables else None
    except duckdb.Error as error:
        raise UnreadableFile(str(error).splitlines()[0]) from None
    return row[0] if row else None


def stamped_org(db: Path) -> Optional[str]:
    """The org a DuckDB file was written for (None: no file, or a file without a stamp)."""
    return _first_value(db, STAMP_TABLE, f"SELECT org FROM {STAMP_TABLE}")


def has_sync_state(db: Path) -> bool:
    """Whether PyAirbyte saved a stream's state in the file: the next sync is then incremental where it can be."""
    return bool(_first_value(db, PYAIRBYTE_STATE_TABLE, f"SELECT count(*) FROM {PYAIRBYTE_STATE_TABLE}"))


def claim(db: Path, org: str) -> None:
    """A new DuckDB file at ``db``, stamped with ``org`` (an existing file is left as it is)."""
    import duckdb

    if db.exists():
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(db)) as con:
        con.execute(f"CREATE TABLE {STAMP_TABLE} (org VARCHAR NOT NULL)")
        con.execute(f"INSERT INTO {STAMP_TABLE} VALUES (?)", [org])


def forget(db: Path) -> None:
    """Delete an org's file (and DuckDB's write-ahead log beside it): the next sync starts over."""
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
