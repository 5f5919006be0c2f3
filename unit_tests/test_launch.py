"""The console script's one wrapper around the CDK's entrypoint: every printed line passes the token redaction."""

import json
import logging
import time
from urllib.parse import quote

import pytest
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import FailureType
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http import redaction
from kustomer_http.protocol_io import MAX_UNFLUSHED_CHARS, RedactedLines

from source_kustomer import SourceKustomer
from source_kustomer.run import launch, run

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


def test_the_print_buffer_is_written_out_every_mebibyte_not_only_every_tenth_of_a_second(capfd):
    """The CDK's print buffer writes out what it holds when a write comes 0.1 s after its last one: large records
    printed faster would pile up in it. Two lines of half the bound, written at once, are out at once."""
    output = RedactedLines(PRINT_BUFFER)
    time.sleep(0.11)
    output.write("a line the buffer writes out, its last write being 0.1 s ago\n")
    capfd.readouterr()
    line = "x" * (MAX_UNFLUSHED_CHARS // 2) + "\n"
    output.write(line)
    assert capfd.readouterr().out == ""  # held by the CDK's buffer: 0.1 s have not passed
    output.write(line)
    assert capfd.readouterr().out == line * 2


@pytest.mark.parametrize("traced", [False, True], ids=["an exception", "a system error"])
def test_an_error_no_one_caught_is_reported_through_the_redaction(capfd, monkeypatch, tmp_path, traced):
    """An error that escapes the CDK's entrypoint is reported after ``launch`` returned -- where the CDK's hook would
    print it through its own filter only -- as its FATAL log line and its ERROR trace, both redacted. (Nothing in the
    connector raises one holding the key; ``discover`` is made to, as a bug would.)"""
    echoed = quote(KEY, safe="").replace("%2F", "%2f")
    text = f"Kustomer echoed [{echoed}]"

    def discover(self, logger, config):
        raise (
            AirbyteTracedException(text, text, failure_type=FailureType.system_error) if traced else RuntimeError(text)
        )

    monkeypatch.setattr(SourceKustomer, "discover", discover)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_token": KEY, "start_date": "2025-01-01T00:00:00Z"}))
    with pytest.raises(SystemExit) as exited:
        run(["discover", "--config", str(config)])
    out, err = capfd.readouterr()
    messages = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    traces = [m["trace"]["error"] for m in messages if m["type"] == "TRACE"]
    fatal = [m["log"]["message"] for m in messages if m["type"] == "LOG" and m["log"]["level"] == "FATAL"]
    assert exited.value.code == 1 and len(traces) == 1 and len(fatal) == 1
    assert "Kustomer echoed [****]" in traces[0]["internal_message"] and "Kustomer echoed [****]" in fatal[0]
    assert echoed not in out + err and echoed.lower() not in (out + err).lower()


class Written:
    """A stream that records each write and flush it gets."""

    def __init__(self) -> None:
        self.writes: list = []
        self.flushes = 0

    def write(self, text: str) -> None:
        self.writes.append(text)

    def flush(self) -> None:
        self.flushes += 1


def test_record_lines_are_redacted_a_batch_at_a_time_and_a_line_holding_the_key_stays_valid_json():
    redaction.register(KEY)
    stream = Written()
    output = RedactedLines(stream, batch_chars=300)
    plain = json.dumps({"type": "RECORD", "record": {"stream": "tags", "data": {"name": "n" * 80}}}) + "\n"
    leaked = json.dumps({"type": "RECORD", "record": {"stream": "tags", "data": {"name": f"a{KEY}b"}}}) + "\n"
    output.write(plain)
    output.write(leaked)
    assert stream.writes == []  # held: fewer than 300 characters, written within 0.1 s
    output.write(plain)
    assert len(stream.writes) == 1 and stream.flushes == 0  # the three lines at once
    lines = stream.writes[0].splitlines()
    assert [json.loads(line)["record"]["data"]["name"] for line in lines] == ["n" * 80, "a****b", "n" * 80]
    assert KEY not in stream.writes[0]


def test_lines_held_a_tenth_of_a_second_go_out_with_the_next_write_and_flush_writes_out_what_is_held():
    stream = Written()
    output = RedactedLines(stream, batch_chars=1 << 16)
    output.write("first\n")
    time.sleep(0.11)
    output.write("second\n")
    assert stream.writes == ["first\nsecond\n"]
    output.write("a STATE\n")
    output.flush()
    assert stream.writes == ["first\nsecond\n", "a STATE\n"] and stream.flushes == 1
