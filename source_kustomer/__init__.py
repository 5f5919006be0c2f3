"""Airbyte source connector for Kustomer.

``SourceKustomer`` is imported when first asked for, so that the console script (``source_kustomer.start``) can
set the garbage collector up before airbyte-cdk loads.
"""

from typing import Any

__all__ = ["SourceKustomer"]


def __getattr__(name: str) -> Any:
    if name == "SourceKustomer":
        from source_kustomer.source import SourceKustomer

        return SourceKustomer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
