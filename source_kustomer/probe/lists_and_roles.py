"""The probe's questions about the key, its roles and the lists: is the key valid; which klasses exist in which
status; does the users list show deactivated users without ``deleted``; how is a list pageSize above the maximum
answered; does a missing role get 401 or 403."""

import re
from typing import Dict, List, Mapping

from kustomer_http.connection import listed_roles
from kustomer_http.definitions import KLASS_PAGE_SIZE, KLASS_STATUSES

from source_kustomer.probe.answers import document, page_size, records, resources, text
from source_kustomer.probe.budget import Finding, ProbeClient, ProbeStopped
from source_kustomer.streams import LIST_STREAMS

USERS_PAGE = 500  # the users list's largest page


class ListQuestions:
    """Questions asked of ``GET`` lists; ``klasses`` keeps the klass names found, by status, for later questions."""

    def __init__(self, client: ProbeClient) -> None:
        self.client = client
        self.klasses: Dict[str, List[str]] = {}

    def key(self, question: str) -> List[Finding]:
        """Whether the key is valid, and the roles Kustomer lists for it."""
        response = self.client.get("auth/tokens/current")
        if response.status_code == 401:
            raise ProbeStopped("Kustomer rejected the API key (HTTP 401): it is invalid or has expired")
        if not response.ok:
            return [Finding(question, "unknown", self.client.said(response))]
        roles = listed_roles(document(response))
        shown = ", ".join(roles) if roles is not None else "not listed"
        return [Finding(question, "valid", f"{self.client.last}; roles: {shown}")]

    def klass_statuses(self, question: str) -> List[Finding]:
        """The klasses of each status (first page each): the ``--klasses`` setting."""
        for status in KLASS_STATUSES:
            response = self.client.get("klasses", {"status": status, "page": 1, "pageSize": KLASS_PAGE_SIZE})
            if not response.ok:
                return [self.client.refused_or_unknown(question, response)]
            self.klasses[status] = [text(record.get("name"), "a klass name") for record in records(response)]
        counts = ", ".join(f"{status} {len(names)}" for status, names in self.klasses.items())
        listed = "; ".join(f"{status}: {', '.join(names) or 'none'}" for status, names in self.klasses.items())
        spelled = [
            name if status == "enabled" else f"{name}:{status}"
            for status, names in self.klasses.items()
            for name in names
            if not re.search(r"[,:\s]", name)  # not expressible in the switch
        ]
        switch = f"--klasses {','.join(spelled)}" if spelled else None
        return [Finding(question, counts, f"GET /v1/klasses?status=<each>: HTTP 200; {listed}", switch)]

    def users_default(self, question: str) -> List[Finding]:
        """Does ``GET /v1/users`` without ``deleted`` list deactivated users (``deleted=true`` names them)?"""
        plain = self.client.get("users", {"page": 1, "pageSize": USERS_PAGE})
        if not plain.ok:
            return [self.client.refused_or_unknown(question, plain)]
        default, asked = resources(plain), self.client.last
        links = document(plain).get("links")
        more = isinstance(links, Mapping) and bool(links.get("next"))
        deleted = self.client.get("users", {"deleted": "true", "page": 1, "pageSize": USERS_PAGE})
        if not deleted.ok:
            return [Finding(question, "unknown", self.client.said(deleted))]
        deactivated = {text(user.get("id"), "a user id") for user in resources(deleted)}
        shown = [u for u in default if u.get("id") in deactivated or u["attributes"].get("deletedAt")]
        evidence = (
            f"{asked}: {len(default)} users, {len(shown)} deactivated; {self.client.last}: {len(deactivated)} users"
        )
        if not deactivated:
            return [Finding(question, "inconclusive: no deactivated user", evidence)]
        if not shown and more:
            return [Finding(question, "inconclusive", f"{evidence}; the default list has more pages")]
        answer = "all" if shown else "active"
        return [Finding(question, answer, evidence, f"--users-default {answer}")]

    def list_page_size(self, question: str) -> List[Finding]:
        """How a list pageSize above the maximum is answered."""
        response = self.client.get("tags", {"page": 1, "pageSize": 1000})
        if response.status_code == 400:
            return [Finding(question, "rejected", self.client.said(response), "--list-over-max error")]
        if not response.ok:
            return [Finding(question, "unknown", self.client.said(response))]
        size = page_size(response)
        evidence = f"{self.client.last}: {len(resources(response))} records, meta.pageSize {size}"
        if not isinstance(size, int) or isinstance(size, bool):
            return [Finding(question, "unknown", evidence)]
        return [Finding(question, f"clamped to {size}", evidence, "--list-over-max clamp")]

    def missing_role(self, question: str) -> List[Finding]:
        """401 or 403 for a role the key lacks: the lists are asked one after another while the budget lasts."""
        for tried, spec in enumerate(LIST_STREAMS):
            if tried and not self.client.affords(1):
                return [Finding(question, "undetermined", f"the {tried} lists tried were readable; budget spent")]
            response = self.client.get(spec.path, {"page": 1, "pageSize": 1})
            if response.status_code in (401, 403):
                status = str(response.status_code)
                return [Finding(question, status, self.client.said(response), f"--missing-role-status {status}")]
        return [Finding(question, "undetermined", "the key could read every list the probe tried")]
