"""A local, deterministic stand-in for Kustomer's REST API v1 (its model of the API: docs/kustomer-api-model.md)."""

from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.server import ServerSettings, Simulator

__all__ = ["Org", "OrgSettings", "ServerSettings", "Simulator"]
