"""The probe's questions about customer merges: are a customer's merges readable (``GET /v1/customers/{id}/merges``);
is the audit entry a merge writes about the customer merged away or the one kept; are merges listed for the kept
customer too; and does a customer merged away still answer ``GET /v1/customers/{id}``."""

from typing import Any, List, Mapping, Optional

from source_kustomer.audit_entry import AuditEntry
from source_kustomer.merges import MERGE_ROLES, merge_signal, named_ids
from source_kustomer.probe.answers import related, resources, segment
from source_kustomer.probe.audit_log import AuditLogQuestions
from source_kustomer.probe.budget import LIST_SAMPLE, Finding, ProbeClient
from source_kustomer.probe.search import SearchQuestions

ABOUT = "customer a merge's audit entry is about"


class MergeQuestions:
    """Questions about a customer named by the newest audit entry that names a merge (or, without one, the first
    customer a search returned)."""

    def __init__(self, client: ProbeClient, search: SearchQuestions, audit: AuditLogQuestions) -> None:
        self.client = client
        self.search = search  # the customer ids seen
        self.audit = audit  # the audit entries read
        self.merged_away: List[str] = []
        self.entry: Optional[AuditEntry] = None  # the merge entry asked about
        self.merges: List[Mapping[str, Any]] = []  # the merge records of the customer it is about
        self.readable = False

    def _merge_entry(self) -> Optional[AuditEntry]:
        """The newest entry read from the audit log that names a customer merge."""
        merges = [e for e in self.audit.entries.values() if merge_signal(e)]
        return max(merges, key=lambda e: e.id) if merges else None

    def customer_merges(self, question: str) -> List[Finding]:
        """Are a customer's merges readable; is the merge entry about the customer merged away or the one kept
        (``--merge-audit-about``)?"""
        self.entry = entry = self._merge_entry()
        seen = self.search.ids.get("customer", [])
        customer = entry.object_id if entry is not None else (seen[0] if seen else None)
        if not isinstance(customer, str) or not customer:
            return [Finding(question, "not asked: no customer id seen", "no customer search or merge entry read")]
        self.merged_away = [i for i in named_ids(entry) if i != customer] if entry is not None else []
        response = self.client.get(f"customers/{segment(customer)}/merges", {"page": 1, "pageSize": LIST_SAMPLE})
        if response.status_code in (401, 403):
            evidence = f"{self.client.said(response)}; the role: {MERGE_ROLES}"
            return [Finding(question, f"refused (HTTP {response.status_code})", evidence)]
        if not response.ok:
            return [Finding(question, "unknown", self.client.said(response))]
        self.merges, self.readable = resources(response), True
        available = Finding(question, "available", f"{self.client.last}: {len(self.merges)} merges")
        if entry is None:
            why = f"no entry naming a customer merge among the {len(self.audit.entries)} audit entries read"
            return [available, Finding(ABOUT, f"not asked: {why}", "GET /v1/audit-logs")]
        self.merged_away = [source for source in (related(m, "source") for m in self.merges) if source] or (
            self.merged_away
        )
        return [available, self._about(entry)]

    def _about(self, entry: AuditEntry) -> Finding:
        """A customer's merges list every merge it was the source of: a record naming the entry's customer as its
        source says the entry is about the one merged away; none, or one naming it as target, about the kept one."""
        customer = entry.object_id
        evidence = f"merge entry {entry.id} on customer {customer}; {self.client.last}: {len(self.merges)} merges"
        about = "source" if any(related(m, "source") == customer for m in self.merges) else "target"
        return Finding(ABOUT, about, evidence, f"--merge-audit-about {about}")

    def listed_for(self, question: str) -> List[Finding]:
        """Are merges listed for the kept customer too (``--merges-listed-for``)? Read from the kept customer's
        merges: the ones already read when the entry is about it, else asked (one request)."""
        entry = self.entry
        if entry is None or not self.readable:
            return [Finding(question, "not asked: no merge entry, or merges are not readable by this key", "")]
        customer = entry.object_id
        kept: Optional[str] = customer
        merges = self.merges
        if any(related(m, "source") == customer for m in merges):
            kept = next(related(m, "target") for m in merges if related(m, "source") == customer)
            if not isinstance(kept, str) or not kept:
                return [Finding(question, "inconclusive: the merge record names no target", self.client.last)]
            response = self.client.get(f"customers/{segment(kept)}/merges", {"page": 1, "pageSize": LIST_SAMPLE})
            if not response.ok:
                return [Finding(question, "unknown", self.client.said(response))]
            merges = resources(response)
        evidence = f"customer {kept}, kept by merge entry {entry.id}; {self.client.last}: {len(merges)} merges"
        answer = "both" if any(related(m, "target") == kept for m in merges) else "source"
        return [Finding(question, answer, evidence, f"--merges-listed-for {answer}")]

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
