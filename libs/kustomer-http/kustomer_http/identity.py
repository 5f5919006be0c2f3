"""A connector's version as installed (its pyproject.toml is the one place it is written) and the User-Agent its
requests carry."""

from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version


@lru_cache(maxsize=None)
def installed_version(distribution: str) -> str:
    """The installed version of ``distribution``; ``0+unknown`` when run from a checkout never installed. Looked up
    once (the lookup reads the installed distributions' metadata: about a millisecond of every start)."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "0+unknown"


def user_agent(distribution: str) -> str:
    """``distribution/version``, as sent with every request."""
    return f"{distribution}/{installed_version(distribution)}"
