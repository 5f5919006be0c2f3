"""The destination's version, as installed (pyproject.toml is the one place it is written)."""

from kustomer_http.identity import installed_version, user_agent

DISTRIBUTION = "airbyte-destination-kustomer"
VERSION = installed_version(DISTRIBUTION)
USER_AGENT = user_agent(DISTRIBUTION)
