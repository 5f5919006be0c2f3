"""The ``source-kustomer`` console script and ``main.py``: the connector's modules load with the cyclic garbage
collector off.

Loading airbyte-cdk makes about a million objects that live for the whole run and next to no garbage, and the
collector would scan them over and over meanwhile: about 0.1 s of CPU, a tenth of a ``spec``. ``run`` turns it
back on, tuned for a sync, once everything is loaded.
"""

import gc
from typing import List, Optional


def main(args: Optional[List[str]] = None) -> None:
    """Run a command (``sys.argv`` when ``args`` is None)."""
    gc.disable()
    from source_kustomer.run import run  # after the collector is off: this loads airbyte-cdk

    run(args)
