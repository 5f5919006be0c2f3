"""The destination's version, as installed (pyproject.toml is the one place it is written)."""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "airbyte-destination-kustomer"

try:
    VERSION = version(DISTRIBUTION)
except PackageNotFoundError:  # run from a checkout that was never installed
    VERSION = "0+unknown"
USER_AGENT = f"{DISTRIBUTION}/{VERSION}"
