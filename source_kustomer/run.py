"""The ``source-kustomer`` console script: the Airbyte protocol on stdin/stdout."""

import sys
from typing import List, Optional

from airbyte_cdk.entrypoint import launch
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_kustomer.source import SourceKustomer


def run(args: Optional[List[str]] = None) -> None:
    """Run a protocol command. A configuration mistake ends with one clear trace message, not a stack trace."""
    try:
        launch(SourceKustomer(), sys.argv[1:] if args is None else args)
    except AirbyteTracedException as error:
        if error.failure_type != FailureType.config_error:
            raise
        error.emit_message()
        sys.exit(1)
