"""The probe's questions about search (``POST /v1/customers/search``): is ``<object>_created_at`` (and each routing
context's time field) sortable and filterable; are conversation times sorted; is ``meta.total`` above 10,000 exact
or capped; what happens past page 100; how large may a page be; are a disabled klass's objects served; how precise
are the timestamps served."""

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Dict, List, Mapping, Optional, Tuple

import requests
from kustomer_http.timestamps import earlier, instant, kustomer_time

from source_kustomer.probe.answers import document, page_size, records, resources
from source_kustomer.probe.budget import REFUSED, Finding, ProbeClient
from source_kustomer.probe.lists_and_roles import ListQuestions

WINDOW_PAGE, WINDOW_PAGE_SIZE = 101, 100
CONTEXTS = ("customer", "conversation", "message", "note", "company")
_FRACTION = re.compile(r"T\d\d:\d\d:\d\d(?:\.(\d+))?")


@dataclass(frozen=True)
class TimeField:
    """A search field asked to sort (desc) and filter (``gt`` a pivot); ``flag`` is the switch it settles."""

    context: str
    prefix: str
    attribute: str  # the record attribute the field holds: createdAt or updatedAt
    flag: Optional[str]  # None: reported only

    @property
    def name(self) -> str:
        """The search field, e.g. ``customer_created_at``."""
        return f"{self.prefix}_{'created' if self.attribute == 'createdAt' else 'updated'}_at"

    def switch(self, answer: str) -> Optional[str]:
        """The switch setting for this field's context (joined per context in ``simulator_args``)."""
        return f"{self.flag} {self.prefix}={answer}" if self.flag else None


class SearchQuestions:
    """Questions asked with searches since long before ``start_date``; the totals, ids and updatedAt values of the
    pages read are kept for later questions."""

    def __init__(self, client: ProbeClient, lists: ListQuestions) -> None:
        self.client = client
        self.lists = lists  # the klasses found
        self.since = kustomer_time(earlier(client.connection.config.start_date, timedelta(days=3650)))
        self.totals: Dict[str, int] = {}
        self.ids: Dict[str, List[str]] = {}  # record ids seen, by search context
        self.samples: List[str] = []  # updatedAt values seen

    def body(self, context: str, prefix: str, sort: Tuple[str, str], *extra: Mapping[str, Any]) -> Dict[str, Any]:
        """A search of ``context`` since long before ``start_date``, sorted by ``sort``, narrowed by ``extra``."""
        criteria = [{f"{prefix}_updated_at": {"gte": self.since}}, *extra]
        return {"and": criteria, "sort": [{sort[0]: sort[1]}], "queryContext": context}

    def created_at_fields(self) -> List[TimeField]:
        """``<object>_created_at`` of every searched object, custom objects through the first enabled klass."""
        contexts = [(context, context) for context in CONTEXTS]
        contexts += [(f"kobject_{name}", "kobject") for name in self.lists.klasses.get("enabled", [])[:1]]
        return [TimeField(context, prefix, "createdAt", "--created-at") for context, prefix in contexts]

    def sort_and_filter(self, question: str, field: TimeField) -> List[Finding]:
        """Is ``field`` sorted by (desc) and filtered by (``gt`` a pivot)? honoured, ignored or rejected."""
        first = self.client.search(self.body(field.context, field.prefix, (field.name, "desc")))
        refusal = self._search_refusal(question, first, field)
        if refusal is not None:
            return [refusal]
        found = self._remember(field.context, first)
        values = [v for v in (instant(r.get(field.attribute)) for r in found) if v is not None]
        if len(set(values)) < 2:
            last = self.client.last
            return [Finding(question, "inconclusive", f"{last}: {len(set(values))} distinct {field.attribute}")]
        sorted_desc = values == sorted(values, reverse=True)
        pivot_value = sorted(values)[len(values) // 2]
        pivot = next(r[field.attribute] for r in found if instant(r.get(field.attribute)) == pivot_value)
        narrowed = {field.name: {"gt": pivot}}
        asc = (f"{field.prefix}_updated_at", "asc")
        second = self.client.search(self.body(field.context, field.prefix, asc, narrowed))
        refusal = self._search_refusal(question, second, field)
        if refusal is not None:
            return [refusal]
        later = [instant(r.get(field.attribute)) for r in records(second)]
        filtered = all(value is not None and value > pivot_value for value in later)
        answer = "honoured" if sorted_desc and filtered else "ignored"
        evidence = (
            f"sort desc: {'honoured' if sorted_desc else 'not honoured'} over {len(values)} records; "
            f"filter gt {pivot}: {'honoured' if filtered else 'not honoured'} over {len(later)} records "
            f"({self.client.last})"
        )
        return [Finding(question, answer, evidence, field.switch(answer))]

    def _search_refusal(self, question: str, response: requests.Response, field: TimeField) -> Optional[Finding]:
        if response.status_code in (401, 403):
            return Finding(question, REFUSED, self.client.said(response))
        if response.status_code == 400:
            return Finding(question, "rejected", self.client.said(response), field.switch("rejected"))
        if not response.ok:
            return Finding(question, "unknown", self.client.said(response))
        return None

    def conversation_time_sort(self, question: str) -> List[Finding]:
        """Are conversation times sorted by ``conversation_time_created_at``?"""
        field = "conversation_time_created_at"
        body = {"and": [{field: {"gte": self.since}}], "sort": [{field: "desc"}], "queryContext": "conversation_time"}
        response = self.client.search(body)
        if response.status_code == 400:
            return [Finding(question, "rejected", self.client.said(response), "--conversation-time-sort rejected")]
        if not response.ok:
            return [Finding(question, "unknown", self.client.said(response))]
        created = [c for c in (instant(r.get("createdAt")) for r in records(response)) if c is not None]
        if len(set(created)) < 2:
            return [Finding(question, "inconclusive", f"{self.client.last}: {len(set(created))} distinct createdAt")]
        answer = "honoured" if created == sorted(created, reverse=True) else "ignored"
        evidence = f"{self.client.last}: sort desc over {len(created)} records"
        return [Finding(question, answer, evidence, f"--conversation-time-sort {answer}")]

    def _remember(self, context: str, response: requests.Response) -> List[Mapping[str, Any]]:
        """The records of a search page; its total, ids and updatedAt values are kept for later questions."""
        page = resources(response)
        meta = document(response).get("meta")
        total = meta.get("total") if isinstance(meta, Mapping) else None
        if isinstance(total, int) and not isinstance(total, bool):
            self.totals[context] = total
        self.ids.setdefault(context, []).extend(r["id"] for r in page if isinstance(r.get("id"), str))
        found = [r["attributes"] for r in page]
        self.samples += [r["updatedAt"] for r in found if isinstance(r.get("updatedAt"), str)]
        return found

    def largest(self) -> str:
        """The context with the largest total seen (customer when none was seen)."""
        return max(self.totals, key=self.totals.__getitem__) if self.totals else "customer"

    def _largest_body(self, context: str) -> Dict[str, Any]:
        prefix = "kobject" if context.startswith("kobject_") else context
        return self.body(context, prefix, (f"{prefix}_updated_at", "asc"))

    def total(self, question: str) -> List[Finding]:
        """Is ``meta.total`` above 10,000 exact or capped?"""
        context = self.largest()
        if context not in self.totals:
            response = self.client.search(self._largest_body(context), page_size=1)
            if not response.ok:
                return [Finding(question, "unknown", self.client.said(response))]
            self._remember(context, response)
        total = self.totals.get(context, -1)
        if total > 10_000:
            answer, switch = "exact", "--total exact"
        elif total == 10_000:
            answer, switch = "capped at 10,000 (or exactly 10,000)", "--total capped"
        else:
            answer, switch = "inconclusive", None
        return [Finding(question, answer, f"POST /v1/customers/search ({context}): meta.total {total:,}", switch)]

    def past_window(self, question: str) -> List[Finding]:
        """What a search page past the 10,000-result window answers."""
        context = self.largest()
        response = self.client.search(self._largest_body(context), page=WINDOW_PAGE, page_size=WINDOW_PAGE_SIZE)
        if response.status_code == 400:
            return [Finding(question, "error", self.client.said(response), "--past-window error")]
        if not response.ok:
            return [Finding(question, "unknown", self.client.said(response))]
        served = len(resources(response))
        if served:
            return [Finding(question, "served (no window)", f"{self.client.last}: {served} records")]
        if self.totals.get(context, 0) < WINDOW_PAGE_SIZE * (WINDOW_PAGE - 1):
            return [Finding(question, "inconclusive", f"{context} has fewer than 10,000 matching records")]
        return [Finding(question, "empty", f"{self.client.last} with no records", "--past-window empty")]

    def search_page_size(self, question: str) -> List[Finding]:
        """How a search pageSize of 1000 is answered."""
        response = self.client.search(self._largest_body(self.largest()), page=1, page_size=1000)
        if response.status_code == 400:
            return [Finding(question, "rejected", self.client.said(response))]
        if not response.ok:
            return [Finding(question, "unknown", self.client.said(response))]
        size = page_size(response)
        answer = f"clamped to {size}" if size else "unknown"
        return [Finding(question, answer, f"{self.client.last}: {len(resources(response))} records")]

    def disabled_klass_objects(self, question: str) -> List[Finding]:
        """Are the custom objects of a disabled klass still searched, or refused?"""
        klasses = self.lists.klasses
        if not klasses.get("disabled"):
            found = "listed none" if "disabled" in klasses else "was not read"
            return [Finding(question, "not asked: no disabled klass", f"GET /v1/klasses?status=disabled {found}")]
        name = klasses["disabled"][0]
        body = self.body(f"kobject_{name}", "kobject", ("kobject_updated_at", "asc"))
        response = self.client.search(body, page_size=1)
        if response.status_code in (401, 403):
            return [Finding(question, "refused", self.client.said(response), "--disabled-klass-objects refused")]
        if not response.ok:
            return [Finding(question, "unknown", self.client.said(response))]
        evidence = f"{self.client.last}: {len(resources(response))} records"
        return [Finding(question, "served", evidence, "--disabled-klass-objects served")]

    def precision(self, question: str) -> List[Finding]:
        """How many fraction digits the updatedAt values seen have."""
        digits = {len(m.group(1)) if m.group(1) else 0 for m in map(_FRACTION.search, self.samples) if m}
        names = {0: "seconds", 3: "milliseconds", 6: "microseconds"}
        answer = names.get(next(iter(digits)), f"{next(iter(digits))} fraction digits") if len(digits) == 1 else "mixed"
        answer = answer if digits else "unknown"
        evidence = f"{len(self.samples)} updatedAt values; fraction digits {sorted(digits)}"
        return [Finding(question, answer, evidence)]
