"""``source-kustomer probe --config config.json``: what a real Kustomer org does where the docs are silent.

A few read-only requests (GETs and searches only, paced by the same budget as a sync) answer the questions the
connector's simulator leaves as switches: is ``<object>_created_at`` sortable and filterable, and the routing
contexts' time fields; are conversation times sorted; which klasses exist in which status, and are a disabled
klass's objects served; which date the audit log's filters compare, do they include their bounds, how late are
entries published, do ``links.next`` keep the filters, is ``filter[include]`` honoured; what do work sessions and
users list without their filters; are customer merges listed for both sides, does a merged-away customer still
answer; does a missing role get 401 or 403; what do the rate-limit headers mean; what happens past page 100; how
large may a page be; is ``meta.total`` exact or capped; how precise are timestamps.

At most ``MAX_REQUESTS`` requests are sent, every attempt counted (retries too; the transport refuses any more).
The answers are printed as a table and written as JSON next to the simulator switch each one maps to. The API key
is never printed (every line goes through the connector's redaction).

The package, one room per topic:

* ``budget``: the shared piece -- the counted requests, the budget, the guard each question is asked under, and
  ``Finding``; ``answers``: reading an answer of any shape.
* the questions by topic: ``lists_and_roles`` (the key, klasses, users, list page size, missing role), ``search``,
  ``routing``, ``audit_log``, ``merges``, ``rate_limits``.
* ``questions``: ``Probe``, every question in the order asked; ``report``: the table and the simulator arguments;
  ``cli``: ``main``.
"""

from source_kustomer.probe.budget import MAX_REQUESTS, NOT_ASKED, Finding
from source_kustomer.probe.cli import main
from source_kustomer.probe.questions import Probe

__all__ = ["MAX_REQUESTS", "NOT_ASKED", "Finding", "Probe", "main"]
