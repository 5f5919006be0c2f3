"""Whatever comes on stdin, the destination neither crashes nor loses a record silently nor floods its output: a
line that is no Airbyte message (not UTF-8, not JSON, nested too deep, too long, no message) is a refused record of
its stream -- said by line number, never quoted -- that no later STATE vouches for, and the sync then fails with
one error; every logged value is cut; names of fields not written are capped; only the fields the configured
stream's schema lists are written."""

import io
import json

import pytest
from airbyte_cdk.models import Type
from airbyte_cdk.test.mock_http import HttpMocker, HttpRequest
from destination_kustomer import input_lines, progress
from destination_kustomer.destination import DestinationKustomer
from destination_kustomer.input_lines import Unreadable
from write_mocks import BASE, answer, catalog, config, error, lookup, mock_setup, record, run_write, sent, state

PEOPLE = [{"stream": "people", "object": "customer"}]  # a second stream of customers


def _line(message) -> bytes:
    """A message as one line of stdin."""
    return json.dumps(message).encode() + b"\n"


def _record_line(stream: str, data) -> bytes:
    return _line({"type": "RECORD", "record": {"stream": stream, "data": data, "emitted_at": 0}})


def _state_line(stream: str, value) -> bytes:
    descriptor = {"stream_descriptor": {"name": stream}, "stream_state": {"cursor": value}}
    return _line({"type": "STATE", "state": {"type": "STREAM", "stream": descriptor}})


def _parsed(raw: bytes) -> list:
    """What the destination makes of ``raw`` on stdin (wrapped as the CDK wraps stdin)."""
    return list(DestinationKustomer()._parse_input_stream(io.TextIOWrapper(io.BytesIO(raw))))  # noqa: SLF001


def _passed(run) -> list:
    """(stream, cursor) of each STATE passed on."""
    states = [m.state.stream for m in run.messages if m.type == Type.STATE]
    return [(s.stream_descriptor.name, s.stream_state.cursor) for s in states]


def _creates(http: HttpMocker, *keys: str) -> None:
    for key in keys:
        lookup(http, f"customers/externalId={key}", None)
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": key}), answer({}, 201))


def test_each_kind_of_poison_line_is_read_as_unreadable_never_raised(monkeypatch):
    monkeypatch.setattr(input_lines, "MAX_LINE_BYTES", 4000)
    deep = b'{"type":"RECORD","record":{"stream":"people","data":{"x":' + b"[" * 900 + b"]" * 900 + b"}}}\n"
    raw = b"".join(
        [
            _record_line("customers", {"externalId": "ok"}),
            b'{"type":"RECORD","record":{"stream":"customers","data":{"name":"\xff\xfe"}}}\n',
            b"not json at all\n",
            b"\n",  # blank: skipped
            deep,
            _record_line("customers", {"externalId": "x" * 5000}),
            _line({"no": "message"}),
            _line({"type": "RECORD", "record": {"stream": "people", "data": "not an object", "emitted_at": 0}}),
            _state_line("customers", 1),
            b'{"type": "RECORD", "record": {"stream": "customers", "data": {"lifetimeValueNum": ' + b"[" * 2000 + b"\n",
            b"x" * 5000,  # the last line, longer than allowed and never ended
        ]
    )
    parsed = _parsed(raw)
    assert parsed[0].type == Type.RECORD and parsed[-3].type == Type.STATE
    assert [(p.line, p.reason, p.stream) for p in parsed if isinstance(p, Unreadable)] == [
        (2, "not valid UTF-8", None),
        (3, "not JSON", None),
        (5, "nested deeper than 64 levels", "people"),
        (6, "longer than 4,000 bytes", None),
        (7, "JSON, but no Airbyte message", None),
        (8, "JSON, but no Airbyte message", "people"),
        (10, "nested deeper than 64 levels", None),
        (11, "longer than 4,000 bytes", None),
    ]


def test_a_poison_line_is_a_refused_record_of_its_stream_and_no_later_state_vouches_for_it():
    raw = b"".join(
        [
            _record_line("customers", {"externalId": "crm-0"}),
            _state_line("customers", 1),
            _record_line("people", {"externalId": "p-0"}),
            _state_line("people", 1),
            b'{"type":"RECORD","record":{"stream":"people","emitted_at":0,"data":{"x":'
            + b"[" * 100
            + b"]" * 100
            + b"}}}",
            b"\n",
            _record_line("people", {"externalId": "p-1"}),
            _state_line("people", 2),  # held: the poison line may be one of its records
            _record_line("customers", {"externalId": "crm-1"}),
            _state_line("customers", 2),  # passed: the poison line names people
        ]
    )
    with HttpMocker() as http:
        mock_setup(http)
        _creates(http, "crm-0", "p-0", "p-1", "crm-1")
        run = run_write(
            http,
            config(stream_mappings=PEOPLE, max_failed_percent=100),
            catalog({"name": "customers"}, {"name": "people"}),
            _parsed(raw),
            stops=True,
        )
    assert _passed(run) == [("customers", 1), ("people", 1), ("customers", 2)]
    people = run.summary()["people"]
    assert (people["records"], people["created"], people["failed"]) == (3, 2, 1)
    assert people["failures"] == [
        "record of stream 'people' (line 5 on stdin) was not written: nested deeper than 64 levels; the line is not "
        "quoted"
    ]
    assert run.error.message.startswith("1 line(s) on stdin could not be read as Airbyte messages (line 5: nested")


def test_a_line_naming_no_stream_holds_back_every_later_state_and_is_never_quoted():
    raw = b"".join(
        [
            _record_line("customers", {"externalId": "crm-0"}),
            _state_line("customers", 1),
            b"secret-looking customer data \xff\n",
            _record_line("customers", {"externalId": "crm-1"}),
            _state_line("customers", 2),
            _record_line("people", {"externalId": "p-0"}),
            _state_line("people", 1),
        ]
    )
    with HttpMocker() as http:
        mock_setup(http)
        _creates(http, "crm-0", "crm-1", "p-0")
        run = run_write(
            http,
            config(stream_mappings=PEOPLE),
            catalog({"name": "customers"}, {"name": "people"}),
            _parsed(raw),
            stops=True,
        )
    assert _passed(run) == [("customers", 1)]  # the first; nothing after the line
    assert [run.summary()[name]["created"] for name in ("customers", "people")] == [2, 1]  # the others are written
    assert not any("customer data" in line for line in run.logs + [run.error.message])
    warned = [line for line in run.logs if line.startswith("Line 3 on stdin could not be read (not valid UTF-8)")]
    assert len(warned) == 1 and "line 3: not valid UTF-8" in run.error.message


def test_every_logged_value_is_cut_and_names_of_fields_not_written_are_capped():
    huge = "n" * 5_000_000
    unmapped = {f"field{n:03d}" + "x" * 200: n for n in range(300)}
    with HttpMocker() as http:
        mock_setup(http)
        lookup(http, "customers/externalId=crm-0", None)
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-0"}), error(400, "bad " + huge))
        lookup(http, "customers/externalId=crm-1", None)
        http.post(HttpRequest(f"{BASE}/customers", body={"externalId": "crm-1"}), answer({}, 201))
        run = run_write(
            http,
            config(max_failed_percent=100, batch_size=1),
            catalog({"name": "customers"}),
            [
                record("customers", externalId="crm-0"),
                record("customers", externalId="crm-1", **unmapped),
                record("customers", externalId="y" * 1000, name=huge),
            ],
        )
    assert sum(len(line) for line in run.logs) < 30_000  # 10 MB of values in, a few KB out
    row = run.summary()["customers"]
    assert all(len(failure) < 700 for failure in row["failures"]) and row["failed"] == 2
    assert len(row["unmapped_fields"]) == progress.MAX_UNMAPPED_NAMES and row["unmapped_unnamed"] == 200
    assert all(len(name) <= progress.MAX_NAME_CHARS for name in row["unmapped_fields"])


def _create_under(schema, body, data):
    """Write one record to a customers stream configured with ``schema``; its create must send ``body``."""
    configured = catalog({"name": "customers"})
    configured.streams[0].stream.json_schema = schema
    with HttpMocker() as http:
        mock_setup(http)
        lookup(http, "customers/externalId=crm-0", None)
        http.post(HttpRequest(f"{BASE}/customers", body=body), answer({}, 201))
        run = run_write(
            http, config(), configured, [record("customers", externalId="crm-0", **data), state("customers", 1)]
        )
        writes = [line for line in sent(http) if not line.startswith("GET")]
    assert writes == ["POST /v1/customers"] and run.states() == [1]
    return run


def test_only_the_fields_the_configured_stream_schema_lists_are_written():
    listed = {
        "type": "object",
        "properties": {"externalId": {}, "name": {}, "custom": {"type": "object", "properties": {"tierStr": {}}}},
    }
    data = {
        "name": "Ada",
        "locale": "fr",  # a standard attribute the schema does not list
        "lifetimeValueNum": 3,  # a custom attribute the org defines, not listed
        "custom": {"tierStr": "gold", "lifetimeValueNum": 4},
    }
    run = _create_under(listed, {"externalId": "crm-0", "name": "Ada", "custom": {"tierStr": "gold"}}, data)
    (warned,) = [line for line in run.logs if "configured schema" in line]
    assert "field(s) custom.lifetimeValueNum, lifetimeValueNum, locale are not in the stream's configured schema" in (
        warned
    )
    assert run.summary()["customers"]["unmapped_fields"] == ["custom.lifetimeValueNum", "lifetimeValueNum", "locale"]


@pytest.mark.parametrize("schema", [{}, {"type": "object"}, {"type": "object", "additionalProperties": True}])
def test_a_schema_that_lists_no_fields_declares_every_field(schema):
    body = {"externalId": "crm-0", "locale": "fr", "custom": {"tierStr": "gold"}}
    run = _create_under(schema, body, {"locale": "fr", "tierStr": "gold"})
    assert run.summary()["customers"]["created"] == 1 and not run.summary()["customers"]["unmapped_fields"]
