"""Kustomer's API routes as one declared table; ``kustomer_simulator.http_handler`` dispatches every request through it.

Each row: method, path template, handler, and the resource whose role the token needs (``<resource>.create`` and
``.update`` for writes). Adding a route is one row here plus its handler in the module of its resource. The first
row matching a request wins, so a fixed segment (``bulk``, ``externalId=…``) comes before a ``{id}`` one.
"""

from typing import Dict, Optional, Tuple

from kustomer_simulator.routes import (
    audit,
    auth,
    bulk,
    conversations,
    customers,
    included,
    klasses,
    lists,
    metadata,
    routing,
    search,
)
from kustomer_simulator.routes.base import Route
from kustomer_simulator.routes.lists import USERS_PAGE_MAX
from kustomer_simulator.routes.writing import bulk as bulk_write
from kustomer_simulator.routes.writing import by_id, companies, create, klass_objects, lookup, named, update

CUSTOMERS, COMPANIES = named("customers"), named("companies")

ROUTES: Tuple[Route, ...] = (
    Route("POST", "/v1/customers/search", search.standard, "search", search=True),
    Route("POST", "/v1/customers/archive/search", search.archive, "search", search=True),
    Route("GET", "/v1/auth/tokens/current", auth.current_token, None),
    Route("GET", "/v1/users/current", auth.current_user, None),
    Route("GET", "/v1/audit-logs", audit.audit_logs, "audit_logs"),
    Route("GET", "/v1/metadata/{resource}", metadata.metadata, "metadata"),
    Route("GET", "/v1/users", lists.users, "users"),
    Route("GET", "/v1/teams", lists.plain("teams", USERS_PAGE_MAX), "teams"),
    Route("GET", "/v1/tags", lists.plain("tags"), "tags"),
    Route("GET", "/v1/shortcuts", lists.plain("shortcuts"), "shortcuts"),
    Route("GET", "/v1/brands", lists.plain("brands"), "brands"),
    Route("GET", "/v1/satisfaction", lists.plain("satisfaction"), "satisfaction"),
    Route("GET", "/v1/slas", lists.plain("slas"), "slas"),
    Route("GET", "/v1/slas/{id}", included.sla, "slas"),
    Route("GET", "/v1/schedules", lists.plain("business_schedules"), "business_schedules"),
    Route("GET", "/v1/schedules/{id}", included.schedule, "business_schedules"),
    Route("GET", "/v1/snoozes", lists.plain("snoozes"), "snoozes"),
    Route("GET", "/v1/cards", lists.plain("cards"), "cards"),
    Route("GET", "/v1/companies", companies, "companies"),
    Route("POST", "/v1/companies", create(COMPANIES), "companies.create"),
    Route("POST", "/v1/companies/bulk", bulk_write(COMPANIES, "create"), "companies.create"),
    Route("PUT", "/v1/companies/bulk", bulk_write(COMPANIES, "update"), "companies.update"),
    Route("GET", "/v1/companies/{id}", by_id(COMPANIES), "companies"),
    Route("PUT", "/v1/companies/{id}", update(COMPANIES), "companies.update"),
    Route("GET", "/v1/customers", lists.plain("customers"), "customers"),
    Route("POST", "/v1/customers", create(CUSTOMERS), "customers.create"),
    Route("POST", "/v1/customers/bulk", bulk_write(CUSTOMERS, "create"), "customers.create"),
    Route("PUT", "/v1/customers/bulk", bulk_write(CUSTOMERS, "update"), "customers.update"),
    Route("GET", "/v1/customers/externalId={externalId}", lookup(CUSTOMERS, "externalId"), "customers"),
    Route("GET", "/v1/customers/email={email}", lookup(CUSTOMERS, "email"), "customers"),
    Route("GET", "/v1/customers/merges/{id}", customers.merge, "customer_merges"),
    Route("GET", "/v1/customers/{id}", customers.customer, "customers"),
    Route("PUT", "/v1/customers/{id}", update(CUSTOMERS, replace_param=True), "customers.update"),
    Route("PATCH", "/v1/customers/{id}", update(CUSTOMERS), "customers.update"),
    Route("GET", "/v1/customers/{id}/merges", customers.merges, "customer_merges"),
    Route("GET", "/v1/customers/{id}/notes", customers.notes, "notes"),
    Route("GET", "/v1/conversations", lists.plain("conversations"), "conversations"),
    Route("GET", "/v1/conversations/{id}", conversations.conversation, "conversations"),
    Route("GET", "/v1/conversations/{id}/messages", conversations.messages, "messages"),
    Route("GET", "/v1/conversations/{id}/events", conversations.events, "conversation_events"),
    Route("GET", "/v1/conversations/{id}/attachments", conversations.attachments, "message_attachments"),
    Route("GET", "/v1/klasses", klasses.klasses, "klasses"),
    Route("GET", "/v1/klasses/{name}", klasses.kobjects, "kobjects"),
    Route("POST", "/v1/klasses/{name}", create(klass_objects), "kobjects.create"),
    Route("POST", "/v1/klasses/{name}/bulk", bulk_write(klass_objects, "create"), "kobjects.create"),
    # Custom objects' bulk updates answer 200, as published, where the other bulk requests answer 201.
    Route("PUT", "/v1/klasses/{name}/bulk", bulk_write(klass_objects, "update", status=200), "kobjects.update"),
    Route("GET", "/v1/klasses/{name}/externalId={externalId}", lookup(klass_objects, "externalId"), "kobjects"),
    Route("GET", "/v1/klasses/{name}/{id}", by_id(klass_objects), "kobjects"),
    Route("PUT", "/v1/klasses/{name}/{id}", update(klass_objects), "kobjects.update"),
    Route("GET", "/v1/bulk/{id}", bulk.job, "bulk"),
    Route("GET", "/v1/bulk/{id}/batches", bulk.batches, "bulk"),
    Route("GET", "/v1/routing/queues", lists.plain("queues"), "queues"),
    # Routing configuration lists (kept apart from the work sessions' and work items' rows below).
    Route("GET", "/v1/routing/settings", lists.plain("team_routing_settings"), "team_routing_settings"),
    Route("GET", "/v1/routing/statuses", lists.plain("routing_statuses"), "routing_statuses"),
    Route("GET", "/v1/routing/queue-rules", lists.plain("queue_rules"), "queue_rules"),
    Route("GET", "/v1/routing/work-sessions", routing.work_sessions, "work_sessions"),
    Route("GET", "/v1/routing/conversations/{id}/work-items", routing.work_items, "work_items"),
)


def resolve(method: str, path: str) -> Tuple[Optional[Route], Dict[str, str], bool]:
    """The route serving ``method path`` and its path's named segments; the flag says whether some route serves
    the path with another method (then the answer is 405, not 404)."""
    other_method = False
    for route in ROUTES:
        params = route.match(path)
        if params is None:
            continue
        if route.method == method:
            return route, params, False
        other_method = True
    return None, {}, other_method
