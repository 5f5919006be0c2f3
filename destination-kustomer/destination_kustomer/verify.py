"""The first update of a sync, checked: the destination sends only what the record maps and counts on Kustomer's
partial updates to keep everything else -- so before the batch rewrites the org, the first object updated is read
just before and just after its update, and the sync stops with one clear error if anything the record did not map
changed (a server that replaced the object's values instead of merging the update into them).

Compared: each custom attribute the update did not name, each standard attribute the destination can write that it
did not name (but the activity times, such as ``lastActivityAt``, which Kustomer may move itself), and the object's
links (a customer's company, a custom object's customer and company). An object
someone else changed in between (its ``rev`` moved by more than the update's one) proves nothing: the next update
is checked instead, at most ``MAX_CHECKS`` times (then the sync says it could not check, and goes on).
"""

import logging
from typing import Any, List, Mapping, Optional

from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_kustomer.attributes import standard_attributes
from destination_kustomer.lookups import Existing
from destination_kustomer.objects import KustomerObject

logger = logging.getLogger("airbyte")
MAX_CHECKS = 3
LINKS = ("company", "customer")


def _linked(found: Existing, name: str) -> Optional[str]:
    link = found.relationships.get(name)
    data = link.get("data") if isinstance(link, Mapping) else None
    return data.get("id") if isinstance(data, Mapping) else None


def _custom(found: Existing) -> Mapping[str, Any]:
    custom = found.attributes.get("custom")
    return custom if isinstance(custom, Mapping) else {}


def unmapped_changes(target: KustomerObject, body: Mapping[str, Any], before: Existing, after: Existing) -> List[str]:
    """What changed between ``before`` and ``after`` that ``body`` did not name."""
    sent_custom = body.get("custom") if isinstance(body.get("custom"), Mapping) else {}
    changed = [
        f"custom.{name}"
        for name in sorted(set(_custom(before)) | set(_custom(after)))
        if name not in sent_custom and _custom(before).get(name) != _custom(after).get(name)
    ]
    for name, rule in sorted(standard_attributes(target.kind).items()):
        if name in body or name in LINKS or rule.get("format") == "date-time":  # activity times move by themselves
            continue
        if before.attributes.get(name) != after.attributes.get(name):
            changed.append(name)
    changed += [name for name in LINKS if name not in body and _linked(before, name) != _linked(after, name)]
    return changed


class FirstUpdateCheck:
    """Whether a stream's first update is still to be checked, and the check."""

    def __init__(self, target: KustomerObject) -> None:
        self.target = target
        self.pending = True
        self.tries = 0

    def judge(self, body: Mapping[str, Any], before: Existing, after: Existing) -> None:
        """Settle the check on one update read before and after; raises the error that stops the sync when it
        changed what it did not name."""
        self.tries += 1
        moved = after.rev - before.rev if after.rev is not None and before.rev is not None else None
        if moved is not None and moved != 1:  # someone else wrote too: this object proves nothing
            if self.tries >= MAX_CHECKS:
                self.pending = False
                logger.warning(
                    f"The first updates of {self.target.name} records could not be checked: other writers changed "
                    f"each object between the destination's reads ({MAX_CHECKS} tried); the sync goes on."
                )
            return
        changed = unmapped_changes(self.target, body, before, after)
        if changed:
            sent = ", ".join(sorted(key for key in body if key != "rev")) or "nothing"
            message = (
                f"Kustomer changed what this sync did not write: updating {self.target.name} {before.id} with only "
                f"the record's fields ({sent}) also changed {', '.join(changed)}. Kustomer replaced the object's "
                f"values instead of merging the update into them, so the sync stopped before updating any other "
                f"{self.target.name}. Restore {', '.join(changed)} of {before.id} (Kustomer keeps its history in the "
                "audit log) and report this to the connector's maintainers; nothing else was updated."
            )
            raise AirbyteTracedException(
                message=message, internal_message=message, failure_type=FailureType.system_error
            )
        self.pending = False
