"""A local, deterministic stand-in for Kustomer's REST API v1 (see ../shared/KUSTOMER_API.md)."""

from kustomer_simulator.org import Org, OrgSettings
from kustomer_simulator.server import ServerSettings, Simulator

__all__ = ["Org", "OrgSettings", "ServerSettings", "Simulator"]
