"""Every line the destination prints passes the token redaction, not only the CDK's own secret filter (which knows
literal forms of the key): its log lines, and the report of an error no one caught."""

import json
import logging
from urllib.parse import quote

import pytest
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from destination_kustomer.destination import DestinationKustomer
from destination_kustomer.run import run
from write_mocks import config

KEY = "kst-destination-output/key+with=escapes-" + "Qm4vZ8" * 2
ECHOED = quote(KEY, safe="").replace("%2F", "%2f")  # escapes in mixed case: a pattern, not a literal form
TEXT = f"Kustomer echoed [{ECHOED}]"


def _run(capfd, tmp_path, command):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(api_token=KEY)))
    with pytest.raises(SystemExit) as exited:
        run([command, "--config", str(path)])
    out, err = capfd.readouterr()
    assert ECHOED not in out + err and ECHOED.lower() not in (out + err).lower()
    return exited.value.code, [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("traced", [False, True], ids=["an exception", "a system error"])
def test_an_error_no_one_caught_and_a_log_line_are_printed_through_the_redaction(capfd, tmp_path, monkeypatch, traced):
    """``discover`` is made to log the key in a form only the redaction knows and then fail, as a bug would."""
    assert filter_secrets(TEXT) == TEXT  # what the CDK's own filter alone would print

    def discover_catalog(self, config, logger):
        logging.getLogger("airbyte").warning(TEXT)
        raise (
            AirbyteTracedException(TEXT, TEXT, failure_type=FailureType.system_error) if traced else RuntimeError(TEXT)
        )

    monkeypatch.setattr(DestinationKustomer, "discover_catalog", discover_catalog)
    code, messages = _run(capfd, tmp_path, "discover")
    logs = [(m["log"]["level"], m["log"]["message"]) for m in messages if m["type"] == "LOG"]
    traces = [m["trace"]["error"] for m in messages if m["type"] == "TRACE"]
    assert code == 1 and ("WARN", "Kustomer echoed [****]") in logs
    assert [level for level, message in logs if level == "FATAL" and "Kustomer echoed [****]" in message]
    assert len(traces) == 1 and "Kustomer echoed [****]" in traces[0]["internal_message"]
