"""Customer merges, shaped as Kustomer's OpenAPI shows them (GetCustomerMerge, GetCustomerMergesByCustomer).

A merge record's ``status`` is ``success`` in every published example, and its ``updatedAt`` follows its
``createdAt``: the record changes after it is created. Here a merge is ``pending`` for ``--merge-pending-seconds``
after it is made (the customer merged away is already gone), then ``success``.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional

from kustomer_simulator.collection import mix32
from kustomer_simulator.shapes import relationship
from kustomer_simulator.timefmt import iso_ms

MERGE_SIDES = ("source", "both")  # which merges a customer's listing covers: where it is the source, or either side


@dataclass(frozen=True)
class Merge:
    """One merge of ``source_id`` into ``target_id``."""

    id: str
    source_id: str
    target_id: str
    created_ms: int
    updated_ms: int  # when it succeeded
    created_by: str

    def render(self, org_id: str, now_ms: int) -> dict:
        """The ``customer_merge`` record as it reads at ``now_ms``: pending until it succeeded."""
        done = now_ms >= self.updated_ms
        return {
            "type": "customer_merge",
            "id": self.id,
            "attributes": {
                "status": "success" if done else "pending",
                "createdAt": iso_ms(self.created_ms),
                "updatedAt": iso_ms(self.updated_ms if done else self.created_ms),
            },
            "relationships": {
                "org": relationship("org", org_id),
                "source": relationship("customer", self.source_id),
                "target": relationship("customer", self.target_id),
                "createdBy": relationship("user", self.created_by),
            },
            "links": {"self": f"/v1/customers/merges/{self.id}"},
        }


class MergeBook:
    """Every merge made, in the order made."""

    def __init__(self, seed: int, pending_seconds: float = 0.0) -> None:
        self._salt = mix32(seed, 0xC3)
        self.pending_ms = int(pending_seconds * 1000)
        self.merges: List[Merge] = []
        self._by_id: Dict[str, Merge] = {}

    def record(self, source_id: str, target_id: str, at_ms: int, created_by: str) -> Merge:
        """Note a merge made at ``at_ms`` (its id is ObjectId-shaped, minted then)."""
        n = len(self.merges)
        merge = Merge(
            id=f"{at_ms // 1000:08x}{self._salt:08x}{n:08x}",
            source_id=source_id,
            target_id=target_id,
            created_ms=at_ms,
            # the published example finishes 116 ms after it starts
            updated_ms=at_ms + self.pending_ms + mix32(self._salt, n) % 250,
            created_by=created_by,
        )
        self.merges.append(merge)
        self._by_id[merge.id] = merge
        return merge

    def get(self, merge_id: str) -> Optional[Merge]:
        """The merge with this id, or None."""
        return self._by_id.get(merge_id)

    def of_customer(self, customer_id: str, sides: str) -> List[Merge]:
        """The merges a customer took part in: as their source, or (``both``) as source or target."""
        return [
            m for m in self.merges if m.source_id == customer_id or (sides == "both" and m.target_id == customer_id)
        ]
