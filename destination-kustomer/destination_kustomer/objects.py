"""The Kustomer objects the destination writes -- customers, companies and each klass's custom objects: where they
live, how an existing one is found and updated, and the roles writing them takes (Kustomer's OpenAPI role tables
name a legacy and a permission-set role for each; either will do, and so does an umbrella role of either).

Updates go through the documented partial operations: ``PATCH /v1/customers/{id}`` ("Update customer
attributes"), ``PUT /v1/companies/{id}`` and ``PUT /v1/klasses/{name}/{id}`` (no ``replace``). Customers and
custom objects answer ``rev``, which an update sends back (companies' answers carry none).
"""

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple
from urllib.parse import quote

KOBJECT_PREFIX = "kobject."
EXTERNAL_ID = "externalId"
EMAIL = "email"
BULK_READ = ("org.permission.bulk.read", "org.user.bulk.read")  # Docs (Get bulk operation by ID)
METADATA_READ = ("org.permission.metadata.read", "org.user.metadata.read", "org.admin.metadata.read")
SEARCH_READ = ("org.permission.search.create", "org.user.search.read", "org.admin.search.read")


@dataclass(frozen=True)
class Roles:
    """The roles (any one of each tuple) that reading, creating and updating an object take."""

    read: Tuple[str, ...]
    create: Tuple[str, ...]
    update: Tuple[str, ...]


@dataclass(frozen=True)
class KustomerObject:
    """One writable object: ``customer``, ``company`` or ``kobject.<klass>``."""

    name: str
    kind: str  # customer | company | kobject: the request schemas its bodies follow
    path: str  # the API path of its records: customers, companies, klasses/<klass>
    matching_keys: Tuple[str, ...]
    roles: Roles

    @property
    def metadata_resource(self) -> str:
        """The resource of ``GET /v1/metadata/{resource}`` that defines its custom attributes."""
        return self.name

    @property
    def klass(self) -> Optional[str]:
        """The klass of a custom object (None for customers and companies)."""
        return self.name[len(KOBJECT_PREFIX) :] if self.kind == "kobject" else None

    @property
    def update_method(self) -> str:
        """The documented partial update: PATCH for customers (PUT without ``replace`` is the same), else PUT."""
        return "PATCH" if self.kind == "customer" else "PUT"

    @property
    def sends_rev(self) -> bool:
        """Whether updates carry the ``rev`` the lookup answered (the company bulk update's item schema has none)."""
        return self.kind != "company"

    def record_path(self, segment: str) -> str:
        """The path of one object by its id (already made a safe path segment)."""
        return f"{self.path}/{segment}"

    def lookup_path(self, key: str, value: str) -> Tuple[str, Mapping[str, str]]:
        """The path and query that find the object whose ``key`` is ``value``: ``customers/externalId=…`` (or
        ``email=…``), ``klasses/<klass>/externalId=…``, and for companies ``companies?externalId=…``."""
        if self.kind == "company":
            return "companies", {EXTERNAL_ID: value}
        return f"{self.path}/{key}={quote(value, safe='')}", {}


CUSTOMER = KustomerObject(
    "customer",
    "customer",
    "customers",
    (EXTERNAL_ID, EMAIL),
    Roles(
        read=("org.permission.customer.read", "org.user.customer.read"),
        create=("org.permission.customer.create", "org.user.customer.write"),
        update=("org.permission.customer.update", "org.user.customer.write"),
    ),
)
COMPANY = KustomerObject(
    "company",
    "company",
    "companies",
    (EXTERNAL_ID,),
    Roles(
        read=("org.permission.company.read", "org.user.company.read"),
        create=("org.permission.company.create", "org.user.company.write"),
        update=("org.permission.company.update", "org.user.company.write"),
    ),
)


def kobject(klass: str) -> KustomerObject:
    """The custom objects of ``klass`` (the per-klass permission-set roles count too)."""
    return KustomerObject(
        f"{KOBJECT_PREFIX}{klass}",
        "kobject",
        f"klasses/{klass}",
        (EXTERNAL_ID,),
        Roles(
            read=(
                "org.permission.kobject.read",
                "org.user.kobject.read",
                f"org.permission.kobject.kobject_{klass}.read",
            ),
            create=(
                "org.permission.kobject.create",
                "org.user.kobject.write",
                f"org.permission.kobject.kobject_{klass}.create",
            ),
            update=(
                "org.permission.kobject.update",
                "org.user.kobject.write",
                f"org.permission.kobject.kobject_{klass}.update",
            ),
        ),
    )


def object_named(name: str) -> KustomerObject:
    """The object ``customer``, ``company`` or ``kobject.<klass>`` (the caller checked the name's form)."""
    if name == "customer":
        return CUSTOMER
    if name == "company":
        return COMPANY
    return kobject(name[len(KOBJECT_PREFIX) :])


def matching_keys_of(name: str) -> Tuple[str, ...]:
    """The keys that may find an existing object of this name."""
    return object_named(name).matching_keys
