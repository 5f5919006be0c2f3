"""The probe's questions about customer merges: are a customer's merges readable and listed for both sides
(``GET /v1/customers/{id}/merges``), and does a customer merged away still answer ``GET /v1/customers/{id}``."""

from typing import Any, List, Mapping, Optional

from source_kustomer.audit_log import AuditEntry
from source_kustomer.deletions import MERGE_ROLES, MERGE_VERB, named_ids
from source_kustomer.probe.answers import related, resources, segment
from source_kustomer.probe.audit_log import AuditLogQuestions
from source_kustomer.probe.budget import LIST_SAMPLE, Finding, ProbeClient
from source_kustomer.probe.search import SearchQuestions

LISTED_FOR = "merges listed for the surviving customer"


class MergeQuestions:
    """Questions about a customer named by the newest merge entry read from the audit log (or, without one, the
    first customer a search returned)."""

    def __init__(self, client: ProbeClient, search: SearchQuestions, audit: AuditLogQuestions) -> None:
        self.client = client
        self.search = search  # the customer ids seen
        self.audit = audit  # the audit entries read
        self.merged_away: List[str] = []

    def _merge_entry(self) -> Optional[AuditEntry]:
        """The newest customer merge entry read from the audit log."""
        merges = [e for e in self.audit.entries.values() if e.verb == MERGE_VERB and e.object_type == "customer"]
        return max(merges, key=lambda e: e.id) if merges else None

    def customer_merges(self, question: str) -> List[Finding]:
        """Are a customer's merges readable; are they listed for the surviving customer (``--merges-listed-for``)?"""
        entry = self._merge_entry()
        seen = self.search.ids.get("customer", [])
        customer = entry.object_id if entry is not None else (seen[0] if seen else None)
        if not isinstance(customer, str) or not customer:
            return [Finding(question, "not asked: no customer id seen", "no customer search or merge entry read")]
        self.merged_away = [i for i in named_ids(entry) if i != customer] if entry is not None else []
        response = self.client.get(f"customers/{segment(customer)}/merges", {"page": 1, "pageSize": LIST_SAMPLE})
        if response.status_code in (401, 403):
            evidence = f"{self.client.said(response)}; the role: {MERGE_ROLES}"
            refused = Finding(question, f"refused (HTTP {response.status_code})", evidence)
            return [refused, Finding(LISTED_FOR, "not asked: merges are not readable by this key", self.client.last)]
        if not response.ok:
            return [Finding(question, "unknown", self.client.said(response))]
        merges = resources(response)
        available = Finding(question, "available", f"{self.client.last}: {len(merges)} merges")
        if entry is None:
            why = f"no customer merge entry among the {len(self.audit.entries)} audit entries read"
            return [available, Finding(LISTED_FOR, f"not asked: {why}", "GET /v1/audit-logs")]
        sources = (related(m, "source") for m in merges if related(m, "target") == customer)
        self.merged_away += [source for source in sources if source]
        return [available, self._listed_for(entry, merges)]

    def _listed_for(self, entry: AuditEntry, merges: List[Mapping[str, Any]]) -> Finding:
        customer = entry.object_id
        evidence = f"merge entry {entry.id} on customer {customer}; {self.client.last}: {len(merges)} merges"
        if any(related(m, "target") == customer for m in merges):
            return Finding(LISTED_FOR, "both", f"{evidence}, one with it as target", "--merges-listed-for both")
        if any(related(m, "source") == customer for m in merges):
            return Finding(LISTED_FOR, "inconclusive: the entry names the customer merged away", evidence)
        return Finding(LISTED_FOR, "source", f"{evidence}, none with it as target", "--merges-listed-for source")

    def merged_lookup(self, question: str) -> List[Finding]:
        """What ``GET /v1/customers/{id}`` answers for a customer merged away."""
        if not self.merged_away:
            return [Finding(question, "not asked: no merged-away customer known", "no merge entry naming one")]
        gone = self.merged_away[0]
        response = self.client.get(f"customers/{segment(gone)}")
        if response.status_code not in (200, 404):
            return [self.client.refused_or_unknown(question, response)]
        answer = str(response.status_code)
        evidence = f"customer {gone} merged away: {self.client.last}"
        return [Finding(question, answer, evidence, f"--merged-lookup {answer}")]
