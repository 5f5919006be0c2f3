"""The console script's one wrapper around the CDK's entrypoint: every printed line passes the token redaction."""

import logging
from urllib.parse import quote

from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from kustomer_http import redaction

from source_kustomer import SourceKustomer
from source_kustomer.run import launch

KEY = "kst-launch-test/key+with=escapes-" + "Qm4vZ8" * 2


def test_log_lines_are_printed_through_the_redaction_not_only_the_cdks_secret_filter(capfd):
    redaction.register(KEY)
    echoed = quote(KEY, safe="").replace("%2F", "%2f")  # an escape in lower case: a pattern, not a literal form
    assert filter_secrets(f"[{echoed}]") == f"[{echoed}]"  # what the CDK's own filter alone would print
    launch(SourceKustomer(), ["spec"])
    logging.getLogger("airbyte").warning(f"Kustomer echoed [{echoed}]")
    PRINT_BUFFER.flush()
    out = capfd.readouterr().out
    assert '"type":"SPEC"' in out
    assert "Kustomer echoed [****]" in out and echoed not in out
