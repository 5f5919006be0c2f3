"""Finding the objects of a batch of records, with both budgets at once: customers partly by search (20 keys a
request, on the search budget) and the rest by exact ``GET`` (on the org budget), several requests in flight; a
key search did not find is confirmed by ``GET`` before anything is created, and a key this sync created is looked
up by ``GET`` only (search trails fresh creates). Other objects are found by ``GET`` alone."""

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Set, Union

from destination_kustomer.errors import RecordFailed
from destination_kustomer.lookups import Existing, Lookups, folded
from destination_kustomer.mapping import MappedRecord
from destination_kustomer.progress import StreamReport
from destination_kustomer.search_lookups import MAX_KEYS, SearchLookups, SearchShare

Found = Union[Existing, None, RecordFailed]  # the object, a miss, or why the lookup failed


class Finder:
    """The lookups of one stream's records."""

    def __init__(
        self,
        key: str,
        lookups: Lookups,
        pool: ThreadPoolExecutor,
        report: StreamReport,
        search: Optional[SearchLookups] = None,
        share: Optional[SearchShare] = None,
    ) -> None:
        self.key = key
        self.lookups = lookups
        self.pool = pool
        self.report = report
        self.search = search
        self.share = share
        self._created: Set[str] = set()  # keys this sync created (search may not see them yet)

    def created(self, record: MappedRecord) -> None:
        """Remember that this sync created the record's object."""
        self._created.add(folded(self.key, record.key))

    def find(self, records: Sequence[MappedRecord], exact: bool = False) -> List[Found]:
        """The object of each record, in order (``exact``: by GET alone, e.g. to see what a create did)."""
        keys = [folded(self.key, record.key) for record in records]
        by_search_ok = self.search is not None and not exact
        searchable = [n for n, key in enumerate(keys) if key not in self._created] if by_search_ok else []
        chosen = searchable[: self.share.keys_to_search(len(searchable))] if self.share else []
        searches = [chosen[n : n + MAX_KEYS] for n in range(0, len(chosen), MAX_KEYS)]
        by_search = {n for group in searches for n in group}
        pending: Dict[int, Future] = {
            n: self.pool.submit(self._get, record) for n, record in enumerate(records) if n not in by_search
        }
        asked = [(group, self.pool.submit(self._search, [records[n].key for n in group])) for group in searches]
        found: Dict[int, Found] = {}
        for group, future in asked:
            answer = future.result()
            for n in group:
                if answer is not None and keys[n] in answer:
                    found[n] = answer[keys[n]]
                else:  # not found by search, or the answer was not used: the exact lookup decides
                    pending[n] = self.pool.submit(self._get, records[n])
        found.update({n: future.result() for n, future in pending.items()})
        self.report.add(lookups=len(pending))
        return [found[n] for n in range(len(records))]

    def _get(self, record: MappedRecord) -> Found:
        try:
            return self.lookups.find(self.key, record.key)
        except RecordFailed as failed:
            return failed

    def _search(self, values: List[str]) -> Optional[Dict[str, Existing]]:
        assert self.search is not None and self.share is not None
        answer = self.search.find(values)
        misses = len(values) - (len(answer) if answer is not None else 0)  # each then looked up by GET
        self.report.add(
            search_lookups=1, searched_keys=len(values), search_misses=misses, search_distrusted=int(answer is None)
        )
        if answer is not None:
            self.share.record(len(values), len(answer))
        return answer
