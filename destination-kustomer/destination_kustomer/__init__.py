"""Airbyte destination for Kustomer: writes records to customers, companies and custom objects, matched by key."""

from destination_kustomer.destination import DestinationKustomer

__all__ = ["DestinationKustomer"]
