"""A connector's version as installed (its pyproject.toml is the one place it is written) and the User-Agent its
requests carry."""

from importlib.metadata import PackageNotFoundError, version


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution``; ``0+unknown`` when run from a checkout never installed."""
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "0+unknown"


def user_agent(distribution: str) -> str:
    """``distribution/version``, as sent with every request."""
    return f"{distribution}/{installed_version(distribution)}"
