"""What the writes must know about the org before the first record: that each custom object klass written to
exists, and the custom attributes each object defines (``GET /v1/metadata/{resource}``, one request each)."""

import logging
from typing import Dict, Iterable, List

from kustomer_http.connection import KustomerClient
from kustomer_http.definitions import KLASS_ROLES, Klass, list_klasses, metadata_properties
from kustomer_http.errors import config_error

from destination_kustomer.custom_attributes import CustomAttributes
from destination_kustomer.objects import METADATA_READ, KustomerObject

logger = logging.getLogger("airbyte")


def klasses(client: KustomerClient) -> List[Klass]:
    """Every klass of every status (a status Kustomer will not list is logged and left out)."""

    def refused(status: str, reason: str) -> None:
        logger.warning(f"Cannot list {status} custom object klasses ({reason}); give the API key {KLASS_ROLES}.")

    return list_klasses(client, refused)


def require_klasses(client: KustomerClient, objects: Iterable[KustomerObject]) -> None:
    """A config_error naming the first klass written to that the org does not have."""
    wanted = [o.klass for o in objects if o.klass]
    if not wanted:
        return
    known = {klass.name for klass in klasses(client)}
    for name in wanted:
        if name not in known:
            listed = ", ".join(sorted(known)) or "none the API key may list"
            raise config_error(
                f"The streams write custom objects of the klass '{name}', which this Kustomer org does not have "
                f"(its klasses: {listed}). Create the klass in Kustomer or map the stream to another object."
            )


def custom_attributes(client: KustomerClient, objects: Iterable[KustomerObject]) -> Dict[str, CustomAttributes]:
    """The custom attributes of each object; an object whose definitions Kustomer will not give has none."""
    found: Dict[str, CustomAttributes] = {}
    for target in objects:
        response, properties = metadata_properties(client, target.metadata_resource)
        if not response.ok:
            logger.warning(
                f"Kustomer did not give the custom attributes of {target.name} (HTTP {response.status_code}); none "
                f"are written. Give the API key one of the roles {', '.join(METADATA_READ)} to write them."
            )
        found[target.name] = CustomAttributes.of(properties)
    return found
