"""``serve``'s flags and the settings they set: each flag sets the settings field of its name, or ``main`` reads it."""

from dataclasses import fields

from kustomer_simulator.__main__ import build_parser, org_settings, server_settings
from kustomer_simulator.org import OrgSettings
from kustomer_simulator.search_limits import SearchLimits
from kustomer_simulator.serve_flags import FLAGS
from kustomer_simulator.server import ServerSettings
from kustomer_simulator.writes import WriteSettings

# Flags that set no field of their name: main reads them itself (where to listen, parsed values, what to run).
READ_BY_MAIN = {
    "host",
    "port",
    "anchor",
    "ties",
    "token",
    "no_retry_after",
    "count",
    "mutate_every",
    "mutate_count",
    "fault",
    "prerender",
    "tls_cert",
    "tls_key",
}


def test_every_flag_sets_the_settings_field_of_its_name_or_is_read_by_main():
    settings = (OrgSettings, ServerSettings, SearchLimits, WriteSettings)
    named = {field.name for kind in settings for field in fields(kind)}
    flags = {flag.name[2:].replace("-", "_") for flag in FLAGS}
    assert sorted(flags - named - READ_BY_MAIN) == []
    assert sorted(READ_BY_MAIN - flags) == []


def test_a_command_line_reaches_the_settings_of_the_org_the_server_search_and_writes():
    args = build_parser().parse_args(
        [
            "serve",
            "--seed=3",
            "--anchor=2025-01-02T00:00:00.000Z",
            "--ties=3,4",
            "--klasses=order,old:disabled",
            "--count=customers=5",
            "--merge-audit=delete",
            "--token=" + "k" * 40 + ":org.user.read",
            "--no-retry-after",
            "--audit-include=ignored",
            "--total=capped",
            "--routing-search=work_item=honoured",
            "--bulk-mode=sync",
            "--max-body-bytes=0",
        ]
    )
    org, server = org_settings(args), server_settings(args)
    assert (org.seed, org.anchor_ms, org.tie_clusters, org.counts) == (3, 1735776000000, [3, 4], {"customers": 5})
    assert (org.klasses, org.klass_status, org.merge_audit) == (("order", "old"), {"old": "disabled"}, "delete")
    assert (server.tokens, server.grants) == ({"k" * 40: frozenset({"org.user.read"})}, {})
    assert (server.retry_after, server.audit_include) == (False, "ignored")
    assert server.search.total == "capped"
    assert server.search.routing_search == {"work_item": "honoured", "work_session": "filter-only"}
    assert (server.writes.bulk_mode, server.writes.max_body_bytes) == ("sync", 0)


def test_the_defaults_of_the_command_line_are_the_settings_defaults():
    args = build_parser().parse_args(["serve"])
    server = server_settings(args)
    assert server.search == SearchLimits()
    assert server.writes == WriteSettings()
    assert server == ServerSettings(search=server.search, writes=server.writes)
    org = org_settings(args)
    assert org == OrgSettings(tie_clusters=[])
