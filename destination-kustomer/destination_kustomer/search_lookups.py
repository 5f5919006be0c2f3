"""Customers looked up many at a time through ``POST /v1/customers/search`` -- ``customer_externalId`` or
``customer_email`` criteria joined by ``or`` (at most ``MAX_KEYS``: the published request schema caps ``or`` at 20
items) -- on the search budget, while the lookups by ``GET`` spend the org budget: both at once.

Every answer is verified before it is used: one page held it all, each object returned carries a key that was
asked, and no key is held by two objects; an answer that fails is not used at all (its keys are looked up by
``GET``). Search trails writes and sees only what changed in the last two years, so a key it does not find is
not taken as missing: the caller confirms it with the exact ``GET`` before creating anything.

``SearchShare`` decides how many of a batch's keys go to search: as many as the search budget carries, the rest
by ``GET`` where the org budget has room for them -- in proportion to what each budget can carry, given the share
of searched keys that search did not find (each costs a ``GET`` too).
"""

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Sequence

from kustomer_http.connection import KustomerClient
from kustomer_http.responses import response_json

from destination_kustomer.lookups import Existing, existing, folded, keys_of
from destination_kustomer.objects import EMAIL, EXTERNAL_ID

logger = logging.getLogger("airbyte")
MAX_KEYS = 20
PAGE_SIZE = 100  # more than MAX_KEYS objects can answer (emails shared); a full page is not trusted
SEARCH_FIELDS = {EXTERNAL_ID: "customer_externalId", EMAIL: "customer_email"}
WRITE_COST = 0.1  # org-budget requests a record's write costs in bulk (its share of a job, its polls and pages)


class SearchLookups:
    """The lookups by search of one stream's customers, by its matching key."""

    def __init__(self, client: KustomerClient, key: str) -> None:
        self.client = client
        self.key = key
        self._warned = False

    def find(self, values: Sequence[str]) -> Optional[Dict[str, Existing]]:
        """The customers search found for ``values``, by the value (an email in lower case); a value absent was not
        found (or is held by two customers). None when the answer cannot be trusted."""
        body = {"or": [{SEARCH_FIELDS[self.key]: {"equals": value}} for value in values], "queryContext": "customer"}
        response = self.client.search(body, page=1, page_size=PAGE_SIZE)
        if not response.ok:
            return self._distrust(f"it answered HTTP {response.status_code}")
        document = response_json(response)
        data = document.get("data")
        links = document.get("links")
        if not isinstance(data, list) or len(data) >= PAGE_SIZE or (isinstance(links, dict) and links.get("next")):
            return self._distrust("its answer was not one complete page")
        asked = {folded(self.key, value) for value in values}
        found: Dict[str, Existing] = {}
        twice = set()
        for item in data:
            customer = existing(item)
            held = keys_of(customer.attributes, self.key) & asked if customer else set()
            if not held:
                return self._distrust(f"it answered a customer holding none of the {self.key}s asked")
            for value in held:
                if value in found and found[value].id != customer.id:
                    twice.add(value)
                found[value] = customer
        return {value: customer for value, customer in found.items() if value not in twice}

    def _distrust(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning(
                f"A lookup by search was not used because {why}; its customers were looked up one by one instead "
                "(said once per stream)."
            )
        return None


@dataclass
class SearchShare:
    """How many of a batch's keys to look up by search: ``searches`` per window on the search budget, the org
    budget's share (known once Kustomer stated its limit) for the rest."""

    searches: int
    org_share: Callable[[], int]
    keys: int = 0
    misses: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, asked: int, found: int) -> None:
        """Count a search's keys and those it found."""
        with self._lock:
            self.keys += asked
            self.misses += asked - found

    def keys_to_search(self, waiting: int) -> int:
        """Of ``waiting`` keys, how many to search (the rest go by GET). One search replaces up to ``MAX_KEYS``
        GETs, but each key it misses costs a GET as well: past a 95 % miss rate (an initial load) searching saves
        nothing, and only one search a batch goes on measuring."""
        if waiting < 2:
            return 0
        with self._lock:
            miss_rate = (self.misses + 1) / (self.keys + 2)
        if miss_rate > 0.95:
            return min(waiting, MAX_KEYS)
        capacity = MAX_KEYS * self.searches  # keys the search budget carries per window
        per_key = 1 / MAX_KEYS + miss_rate + WRITE_COST  # org requests a searched key costs, its write included
        spare = self.org_share() - capacity * per_key
        if spare <= 0:
            return waiting
        by_get = spare / (1 + WRITE_COST)
        return round(waiting * capacity / (capacity + by_get))
