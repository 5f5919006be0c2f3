"""The key is masked in every form a line could hold it in, a masked JSON line keeps its structure, and text a
server sent is quoted only when it cannot carry the key."""

import base64
import json
import random
from urllib.parse import quote, quote_plus, urlencode

import pytest
import requests
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from kustomer_http.pages import LinkTrail
from kustomer_http.redaction import MIN_TOKEN_LENGTH, holds_key, maskable, quotable, redact, register
from kustomer_http.responses import WITHHELD_DETAIL, error_detail

# Reserved characters (+ / = ~ ? >) make its percent-encoded forms differ from it, and its base64 hold + and /.
KEY = "kst-Redaction-Test+key/with=reserved~?>characters~~~0123"
register(KEY)


@pytest.mark.parametrize(
    "form",
    [
        KEY,
        KEY.lower(),  # a host name carrying it is case-folded
        KEY.upper(),
        KEY.replace("+", " "),  # a query parser reads an unescaped + as a space
        quote(KEY, safe=""),
        quote(KEY),
        quote(KEY, safe="+=?"),
        quote_plus(KEY),
        quote_plus(KEY.replace("+", " ")),
        quote(KEY.replace("+", " ")),
        quote(KEY, safe="").lower(),
        quote(KEY, safe="").upper(),
        quote(KEY, safe="").replace("%2B", "%2b").replace("%3E", "%3e"),  # mixed-case escapes
        quote(quote(KEY, safe=""), safe=""),  # encoded twice
        quote(KEY, safe="").replace("characters", "%63haracters"),  # one urllib never escapes (outside the anchor)
    ],
)
def test_the_key_as_typed_case_folded_or_percent_encoded_is_masked(form):
    assert redact(f"<{form}>") == "<****>"


def test_the_key_in_a_rebuilt_query_is_masked():
    assert redact("/v1/tags?" + urlencode({"page": 2, "k": KEY, "pageSize": 7})) == "/v1/tags?page=2&k=****&pageSize=7"


@pytest.mark.parametrize(
    "prefix, standard, url_safe",
    [
        (b"", "****M+dGFpbA==", "****M-dGFpbA"),
        (b"<", "PG****PnRhaWw=", "PG****PnRhaWw"),
        (b"<<", "PDx****z50YWls", "PDx****z50YWls"),
    ],
)
def test_the_key_inside_a_longer_base64_text_is_masked_at_each_alignment(prefix, standard, url_safe):
    """Only the characters that depend on the key alone are masked; the neighbours hold at most 4 of its bits."""
    data = prefix + KEY.encode() + b">tail"
    assert redact(base64.b64encode(data).decode()) == standard
    assert redact(base64.urlsafe_b64encode(data).decode().rstrip("=")) == url_safe


def test_basic_credentials_and_a_bearer_header_in_base64_are_masked():
    assert redact(base64.b64encode(f"user:{KEY}".encode()).decode()) == "dXNlcjp****w=="
    assert redact(base64.b64encode(f"Bearer {KEY}".encode()).decode()) == "QmVhcmVyIG****"
    assert redact(base64.b64encode(KEY.encode()).decode()) == "****M="


def test_the_key_in_hex_is_masked_in_either_case():
    hexed = KEY.encode().hex()
    assert redact(f"0x00{hexed}ff") == "0x00****ff"
    assert redact(f"0X00{hexed.upper()}FF") == "0X00****FF"


def test_a_json_line_keeps_its_structure_where_the_key_is_a_value_or_a_name():
    line = json.dumps({"type": "RECORD", "record": {"data": {KEY: f"x {KEY} y", "n": 1}}}, separators=(",", ":"))
    assert redact(line) == '{"type":"RECORD","record":{"data":{"****":"x **** y","n":1}}}'


def test_a_match_that_begins_inside_an_escape_sequence_takes_the_whole_sequence():
    key = "n" + KEY[1:]  # "\n" followed by the rest of the key reads as the key in the line's text
    register(key)
    line = json.dumps({"a": "\n" + key[1:], "b": "\u001b" + "b" + key[1:]})
    key_1b = "1bb" + key[1:]  # the digits of a \u001b escape followed by the rest
    register(key_1b)
    masked = redact(line)
    assert masked == '{"a": "****", "b": "****"}'
    assert json.loads(masked) == {"a": "****", "b": "****"}


def test_a_number_that_is_the_hex_of_the_key_becomes_a_masked_string():
    key = "PQRSTUVWXY" * 4  # its hex is all digits
    register(key)
    line = '{"type":"RECORD","record":{"data":{"n":1%s2,"m":3}}}' % key.encode().hex()
    assert redact(line) == '{"type":"RECORD","record":{"data":{"n":"****","m":3}}}'


@pytest.mark.parametrize(
    "value",
    [
        "type",
        "RECORD",
        "x" * (MIN_TOKEN_LENGTH - 1),
        "1234567890" * 5,  # only characters JSON holds outside strings
        "true,false,null,[1e5],{-2.5:3}" * 2,
        'a-key-with-a-quote"in-the-middle-of-it-long',  # each piece shorter than a key
        "a-key-with-a-backslash\\in-the-middle-of-it",
    ],
)
def test_a_value_that_could_match_protocol_text_is_never_masked(value):
    assert not maskable(value)
    register(value)
    line = '{"type":"RECORD","record":{"stream":"customers","data":{"n":1234567890}},"x":"%s"}' % value[:5]
    assert redact(line) == line
    assert redact(value) == value


def test_each_long_piece_of_a_pasted_value_is_registered():
    first, second = "first-piece-of-a-key-pasted-with-a-break-01", "second-piece-of-a-key-pasted-with-a-break"
    register(f"  {first}\n{second}  ")
    assert redact(f"{first} {second}") == "**** ****"


def test_the_cdk_filter_learns_the_literal_forms():
    register(KEY)  # as every command does when it reads its config (the CDK's entrypoint resets the filter's list)
    for form in (KEY, quote(KEY, safe=""), quote_plus(KEY), KEY.encode().hex()):
        assert filter_secrets(f"a {form} b") == "a **** b"


def test_server_text_is_quotable_only_without_the_key_or_a_run_as_long_as_one():
    assert quotable("User lacks the role org.permission.kobject.kobject_subscription_plan.read.")
    assert quotable('Invalid query: {"and":[{"updatedAt":{"gte":"2025-01-01T00:00:00.000Z"}}]}')
    assert not quotable(f"denied for Bearer {quote(KEY, safe='')}")
    assert not quotable("denied for " + base64.b32encode(KEY.encode()).decode())  # a form never masked
    assert holds_key(f"x{KEY.upper()}x") and not holds_key("x" * 200)


def test_random_json_lines_stay_valid_with_every_inserted_form_masked():
    forms = [
        KEY,
        quote(KEY, safe=""),
        base64.b64encode(b"ab" + KEY.encode()).decode(),
        KEY.encode().hex().upper(),
        "\n" + KEY,
    ]
    noise = ["\n", '"', "\\", "\u001b", "é", "%", "\\u", " ", "{", "}", ":", ",", "1"]
    chooser = random.Random(28)
    for _ in range(300):
        parts = [chooser.choice(noise + forms) for _ in range(chooser.randint(1, 6))]
        value = "".join(parts)
        document = {"type": "RECORD", "record": {"stream": "s", "data": {"v": value, "n": chooser.randint(0, 9)}}}
        masked = json.loads(redact(json.dumps(document, ensure_ascii=chooser.random() < 0.5)))
        assert masked["type"] == "RECORD" and masked["record"]["stream"] == "s"
        data = masked["record"]["data"]
        assert set(data) == {"v", "n"} and data["n"] == document["record"]["data"]["n"]
        assert not any(form.strip("\n") in data["v"] for form in forms)


def _refusal(detail: str) -> requests.Response:
    response = requests.Response()
    response.status_code, response._content = 403, json.dumps({"errors": [{"detail": detail}]}).encode()
    return response


@pytest.mark.parametrize(
    "detail, quoted",
    [
        ("Missing role org.permission.kobject.kobject_subscription_plan.read", True),
        ("x" * 400, False),  # one run as long as a key: it could be the key in a form not masked
        (f"access denied for Bearer {base64.b64encode(KEY.encode()).decode()}", False),
        (f"access denied for {base64.b32encode(KEY.encode()).decode()}", False),
    ],
)
def test_a_refusal_detail_is_quoted_only_when_it_cannot_carry_the_key(detail, quoted):
    assert error_detail(_refusal(detail)) == (detail if quoted else WITHHELD_DETAIL)


def test_a_link_that_could_carry_the_key_is_not_quoted_when_a_list_loops():
    trail = LinkTrail("tag list")
    for query in ("page=2", f"page=3&k={quote(KEY, safe='')}"):
        url = f"https://api.kustomerapp.com/v1/tags?{query}"
        trail.enter(url)
        with pytest.raises(AirbyteTracedException) as looped:
            trail.enter(url)
        if query == "page=2":
            assert "links back to a page already read (/v1/tags?page=2)" in looped.value.message
        else:
            assert "links back to a page already read (a link not quoted: it could carry the API key)" in (
                looped.value.message
            )
