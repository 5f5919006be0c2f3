"""The echo_key fault hands the request's key back in every form, where its variant says: a refusal's detail, the
first record of a page, a next link."""

import base64
from urllib.parse import parse_qs, quote, urlsplit

from kustomer_simulator.faults import Fault
from kustomer_simulator.hostile import key_echoes
from kustomer_simulator.testing import TEST_TOKEN


def test_the_forms_include_the_encodings_a_connector_must_mask():
    forms = key_echoes("a+b/c=" + "k" * 40)
    key = "a+b/c=" + "k" * 40
    assert {key, key.upper(), "a b/c=" + "k" * 40, quote(key, safe=""), key.encode().hex().upper()} <= set(forms)
    assert base64.b64encode(f"Bearer {key}".encode()).decode() in forms
    assert "a%2Bb%2fc%3D" + "k" * 40 in forms  # mixed-case escapes


def test_the_key_comes_back_in_a_detail_a_record_and_a_next_link(sim, http):
    sim.faults.add(Fault("echo_key", scope="/v1/tags"))
    refused = http.get(f"{sim.url}/v1/tags")
    detail = refused.json()["errors"][0]["detail"]
    assert refused.status_code == 403 and detail == "access denied for " + " ".join(key_echoes(TEST_TOKEN))
    sim.faults.add(Fault("echo_key", variant="record", scope="/v1/tags"))
    first = http.get(f"{sim.url}/v1/tags?page=1&pageSize=5").json()["data"][0]
    assert first["attributes"]["name"] == " ".join(key_echoes(TEST_TOKEN))
    assert parse_qs(urlsplit(first["links"]["self"]).query)["echo_quoted"] == [TEST_TOKEN]
    sim.faults.add(Fault("echo_key", variant="link", scope="/v1/tags"))
    link = http.get(f"{sim.url}/v1/tags?page=1&pageSize=5").json()["links"]["next"]
    query = parse_qs(urlsplit(link).query)
    assert link.startswith("/v1/tags?page=1&pageSize=5&") and query["echo_hex"] == [TEST_TOKEN.encode().hex()]
    assert base64.b64decode(query["echo_header"][0]) == f"Bearer {TEST_TOKEN}".encode()
