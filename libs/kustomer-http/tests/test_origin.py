"""Where the key may go: every URL is read with both parsers the HTTP stack uses, and must name the one origin."""

import pytest
from kustomer_http.origin import Origin, UnsafeUrl

ORIGIN = Origin("https", "acme.api.kustomerapp.com", 443)


@pytest.mark.parametrize(
    "url, origin",
    [
        ("https://acme.api.kustomerapp.com", ORIGIN),
        ("HTTPS://ACME.api.kustomerapp.com:443/v1/users?page=2", ORIGIN),
        ("http://127.0.0.1:8099/v1", Origin("http", "127.0.0.1", 8099)),
        ("http://[::1]:8099", Origin("http", "::1", 8099)),
    ],
)
def test_origins_are_read_alike_by_both_parsers(url, origin):
    assert Origin.of(url) == origin


@pytest.mark.parametrize(
    "url, reason",
    [
        ("http://other-host\\@127.0.0.1:8000", "backslash"),
        ("https://user:pw@acme.api.kustomerapp.com", "user name or password"),
        ("https://acme.api.kustomerapp.com@evil.example", "user name or password"),
        ("https://acme.api.kustomerapp.com\t.evil.example", "control character"),
        ("https://acme.api.kustomerapp.com:99999", "not a valid URL"),
        ("https://acme.api.kustomerapp.com:abc", "not a valid URL"),
        ("ftp://acme.api.kustomerapp.com", "not an http:// or https:// URL"),
        ("https://", "has no host"),
    ],
)
def test_ambiguous_or_foreign_urls_are_refused(url, reason):
    with pytest.raises(UnsafeUrl, match=reason):
        Origin.of(url)


@pytest.mark.parametrize(
    "link, resolved",
    [
        ("/v1/tags?page=2&pageSize=100", "https://acme.api.kustomerapp.com/v1/tags?page=2&pageSize=100"),
        ("https://acme.api.kustomerapp.com/v1/tags?page=3", "https://acme.api.kustomerapp.com/v1/tags?page=3"),
    ],
)
def test_links_on_the_origin_resolve(link, resolved):
    assert ORIGIN.resolve(link) == resolved


@pytest.mark.parametrize(
    "link",
    [
        "////evil.example/x",
        "//evil.example/v1/tags",
        "https://evil.example/v1/tags?page=2",
        "https://acme.api.kustomerapp.com.evil.example/v1/tags",
        "http://acme.api.kustomerapp.com/v1/tags",  # same host, another scheme (and port)
        "https://acme.api.kustomerapp.com:8443/v1/tags",
        "/\\evil.example/v1",
        "v1/tags",
        123,
        "",
    ],
)
def test_links_off_the_origin_are_refused(link):
    with pytest.raises(UnsafeUrl):
        ORIGIN.resolve(link)
    assert not ORIGIN.admits(link if isinstance(link, str) else "")
