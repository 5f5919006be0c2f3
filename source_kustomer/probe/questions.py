"""The probe: every question, in the order asked, each guarded by the shared request budget (``budget``)."""

from typing import Iterator, List

from kustomer_http.connection import KustomerConnection
from kustomer_http.definitions import KLASS_STATUSES

from source_kustomer.probe.audit_log import AuditLogQuestions
from source_kustomer.probe.budget import Finding, ProbeClient, Question
from source_kustomer.probe.lists_and_roles import ListQuestions
from source_kustomer.probe.merges import MergeQuestions
from source_kustomer.probe.rate_limits import RateLimitQuestions
from source_kustomer.probe.routing import (
    REPORTED_FIELDS,
    ROUTING_CONTEXTS,
    SEARCH_REQUESTS,
    RoutingQuestions,
    routing_search_question,
)
from source_kustomer.probe.search import WINDOW_PAGE, WINDOW_PAGE_SIZE, SearchQuestions

AUDIT_IDS = "audit-log ids: minted at publication, or later and out of publish order"


class Probe:
    """Asks a real org the open questions, within ``MAX_REQUESTS`` read-only requests (retries included)."""

    def __init__(self, connection: KustomerConnection) -> None:
        self.connection = connection
        self.client = ProbeClient(connection)
        self.lists = ListQuestions(self.client)
        self.search = SearchQuestions(self.client, self.lists)
        self.routing = RoutingQuestions(self.client, self.search.since)
        self.audit = AuditLogQuestions(self.client)
        self.merges = MergeQuestions(self.client, self.search, self.audit)
        self.rate_limits = RateLimitQuestions(self.client)

    def run(self) -> List[Finding]:
        """Every question, in order; a question that does not fit in the budget is reported as not asked."""
        findings: List[Finding] = []
        for question in self.questions():
            findings += self.client.ask(question)
        return findings

    def questions(self) -> Iterator[Question]:
        """The questions in the order asked; later ones use what earlier ones found (the list is lazy)."""
        search, audit = self.search, self.audit
        yield Question("API key", 1, self.lists.key)
        yield Question("klasses by status", len(KLASS_STATUSES), self.lists.klass_statuses)
        for field in search.created_at_fields():
            yield Question(f"{field.name}: sort and filter", 2, lambda q, field=field: search.sort_and_filter(q, field))
        yield Question("meta.total above 10,000", 1, search.total)
        yield Question(f"search page {WINDOW_PAGE} (pageSize {WINDOW_PAGE_SIZE})", 1, search.past_window)
        yield Question("search pageSize 1000", 1, search.search_page_size)
        yield Question("conversation_time_created_at: sort", 1, search.conversation_time_sort)
        for context in ROUTING_CONTEXTS:
            ask = lambda q, context=context: self.routing.search_by_updated_at(q, context)  # noqa: E731
            yield Question(routing_search_question(context), SEARCH_REQUESTS, ask)
        for field in REPORTED_FIELDS:
            yield Question(f"{field.name}: sort and filter", 2, lambda q, field=field: search.sort_and_filter(q, field))
        yield Question("custom objects of a disabled klass", 1, search.disabled_klass_objects)
        yield Question("audit-log publish lag (publishedAt - createdAt)", 1, audit.publish_lag)
        yield Question("audit-log before without after, and both together", 2, audit.paging)
        yield Question("audit-log links.next of a filtered request", 1, audit.next_links)
        yield Question("audit-log filter[include], and whether it skips the date filter", 2, audit.include)
        yield Question("audit-log date field of filter[start]/filter[end]", 1, audit.date_field_compared)
        yield Question("audit-log filter[start]/filter[end] at an entry's own instant", 1, audit.bounds)
        yield Question("audit-log verbs and event names about customers", 1, audit.customer_events)
        yield Question("customer merges (GET /v1/customers/{id}/merges)", 1, self.merges.customer_merges)
        yield Question("merges listed for the surviving customer", 1, self.merges.listed_for)
        yield Question("GET /v1/customers/{id} of a customer merged away", 1, self.merges.merged_lookup)
        yield Question("work sessions without user= and active=", 2, self.routing.work_session_defaults)
        yield Question("users without deleted=", 2, self.lists.users_default)
        yield Question("list pageSize 1000 (tags)", 1, self.lists.list_page_size)
        yield Question("status for a missing role", 1, self.lists.missing_role)  # one list after another, while it fits
        yield Question(AUDIT_IDS, 0, audit.id_order)  # from what was seen, as the two below
        yield Question("x-ratelimit-reset", 0, self.rate_limits.reset_header)
        yield Question("timestamp precision", 0, search.precision)
