"""Helpers for tests and scripts: start a simulator in-process on a free loopback port."""

from contextlib import contextmanager
from typing import Any, Iterator, Optional

from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.server import ServerSettings, Simulator

# Anchor the data at a fixed instant so tests are reproducible whatever today is.
TEST_ANCHOR_MS = 1_780_000_000_000  # 2026-05-28T20:26:40Z
TEST_TOKEN = "kst-test-token-Zq8x-not-a-secret-7Kq2Vx9Lm"
# A key with '+', '/' and '=' (the security tests' echoes): its percent-encoded forms differ from it, and a query
# parser reads its '+' as a space.
ECHO_TOKEN = "kst-echo+key/with=reserved~characters-not-a-secret-7Kq2"


@contextmanager
def running_simulator(
    org_settings: Optional[OrgSettings] = None, server_settings: Optional[ServerSettings] = None, **org_kwargs: Any
) -> Iterator[Simulator]:
    """A started simulator (port chosen by the OS); stopped on exit."""
    if org_settings is None:
        org_kwargs.setdefault("anchor_ms", TEST_ANCHOR_MS)
        org_settings = OrgSettings(**org_kwargs)
    server_settings = server_settings or ServerSettings(tokens={TEST_TOKEN: frozenset()})
    with Simulator(Org(org_settings), server_settings) as sim:
        yield sim


ACCEPTANCE_PORT = 18765
ACCEPTANCE_TOKEN = "kst-acceptance-token-not-a-secret-7Kq2Vx9L"


@contextmanager
def acceptance_simulator() -> Iterator[Simulator]:
    """The org behind integration_tests/*.json: fixed port, token, seed and anchor; no rate limits."""
    settings = ServerSettings(tokens={ACCEPTANCE_TOKEN: frozenset()}, org_per_minute=0, search_per_minute=0)
    org = OrgSettings(seed=7, scale=2000, anchor_ms=TEST_ANCHOR_MS, tie_clusters=[600])
    with Simulator(Org(org), settings, port=ACCEPTANCE_PORT) as sim:
        yield sim
