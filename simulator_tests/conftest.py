"""Fixtures for the simulator's own tests."""

from typing import Iterator

import pytest
import requests

from kustomer_simulator.server import ServerSettings, Simulator
from kustomer_simulator.testing import TEST_TOKEN, running_simulator

LIMITED_TOKEN = "kst-limited-token"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    """A small org with a tie cluster bigger than a search page; one token lacks the SLA role."""
    settings = ServerSettings(
        tokens={TEST_TOKEN: frozenset(), LIMITED_TOKEN: frozenset({"org.permission.sla.read"})},
        org_per_minute=0,
        search_per_minute=0,
    )
    with running_simulator(server_settings=settings, scale=6000, tie_clusters=[700], seed=11) as simulator:
        yield simulator


@pytest.fixture
def http() -> requests.Session:
    """A session carrying the test token."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TEST_TOKEN}"
    return session


def search_body(context: str = "customer", since: str = "2000-01-01T00:00:00.000Z", **extra) -> dict:
    """A search for records updated since ``since``, ascending."""
    field = f"{context}_updated_at"
    return {"and": [{field: {"gte": since}}], "sort": [{field: "asc"}], "queryContext": context, **extra}
