"""Fixtures for the simulator's own tests."""

from typing import Any, Callable, Iterator, List

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


@pytest.fixture
def simulators() -> Iterator[Callable[..., Simulator]]:
    """A factory of small orgs served with the given settings (scale 2,000-3,000), all stopped after the test."""
    started: List[Any] = []

    def start(settings: ServerSettings, scale: int, seed: int) -> Simulator:
        context = running_simulator(server_settings=settings, scale=scale, seed=seed)
        started.append(context)
        return context.__enter__()

    yield start
    for context in started:
        context.__exit__(None, None, None)
