"""How many JSON values a body may hold before it is refused unparsed (responses.check_complexity)."""

import orjson
import pytest
from kustomer_http import responses
from kustomer_http.responses import ResponseTooComplex, check_complexity


def _values(value: object) -> int:
    if isinstance(value, dict):
        return 1 + sum(map(_values, value.values()))
    if isinstance(value, list):
        return 1 + sum(map(_values, value))
    return 1


@pytest.mark.parametrize("body", [b"1", b"[1,1,1,1]", b"[[],[],[]]", b'{"a":[{},{}],"b":0}', b"[[[[[]]]]]", b'["",""]'])
def test_a_body_never_holds_more_values_than_bytes(body):
    """Why a body no longer than the bound is not counted: every value begins at a byte of its own."""
    assert _values(orjson.loads(body)) <= responses._structural_values(body) <= len(body)


def test_a_body_no_longer_than_the_bound_passes_and_a_longer_one_is_counted(monkeypatch):
    monkeypatch.setattr(responses, "MAX_JSON_VALUES", 9)
    check_complexity(b"[1,1,1,1]")  # 9 bytes: at most 9 values, whatever they are
    check_complexity(b'["a,b,c,d,e,f,g,h,i"]')  # 21 bytes, 2 values: counted, the commas in the string left out
    with pytest.raises(ResponseTooComplex, match="more than 9 JSON values"):
        check_complexity(b"[1,1,1,1,1,1,1,1,1,1]")  # 21 bytes: 10 numbers in an array
