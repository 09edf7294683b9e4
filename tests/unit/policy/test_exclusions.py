"""Tests for pysrsd.policy.exclusions: the exclusion map (Postfix map source) and matching."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pysrsd.errors import ConfigError
from pysrsd.policy.exclusions import Exclusions, load_exclusions, parse_exclusions

DOMAIN = "domain excluded"
ADDRESS = "address excluded"


@pytest.mark.parametrize(
    ("key", "address", "why"),
    [
        # "example.com": that domain, not its subdomains, not look-alikes
        pytest.param(b"example.com", b"alice@example.com", DOMAIN, id="domain"),
        pytest.param(b"example.com", b"Alice@EXAMPLE.Com", DOMAIN, id="domain-case"),
        pytest.param(b"EXAMPLE.COM", b"alice@example.com", DOMAIN, id="key-case"),
        pytest.param(b"example.com", b"alice@sub.example.com", None, id="domain-not-subdomain"),
        pytest.param(b"example.com", b"alice@notexample.com", None, id="domain-notexample"),
        pytest.param(b"example.com", b"alice@example.com.evil", None, id="domain-dot-evil"),
        pytest.param(b"example.com", b"example.com@other.test", None, id="domain-as-local-part"),
        # ".example.com": subdomains only
        pytest.param(b".example.com", b"alice@sub.example.com", DOMAIN, id="parent-sub"),
        pytest.param(b".example.com", b"a@x.y.EXAMPLE.com", DOMAIN, id="parent-deep-case"),
        pytest.param(b".example.com", b"alice@example.com", None, id="parent-not-itself"),
        pytest.param(b".example.com", b"alice@notexample.com", None, id="parent-notexample"),
        pytest.param(b".example.com", b"alice@x.example.com.evil", None, id="parent-dot-evil"),
        # "@example.com": that domain
        pytest.param(b"@example.com", b"alice@example.com", DOMAIN, id="at-domain"),
        pytest.param(b"@Example.COM", b"ALICE@example.com", DOMAIN, id="at-domain-case"),
        pytest.param(b"@example.com", b"alice@sub.example.com", None, id="at-domain-not-sub"),
        pytest.param(b"@example.com", b"alice@notexample.com", None, id="at-domain-notexample"),
        # "user@example.com": that address
        pytest.param(b"user@example.com", b"user@example.com", ADDRESS, id="address"),
        pytest.param(b"user@example.com", b"USER@Example.COM", ADDRESS, id="address-case"),
        pytest.param(b"User@Example.com", b"user@example.com", ADDRESS, id="address-key-case"),
        pytest.param(b"user@example.com", b"other@example.com", None, id="address-other-user"),
        pytest.param(b"user@example.com", b"user@sub.example.com", None, id="address-sub"),
        pytest.param(b"user@example.com", b"xuser@example.com", None, id="address-prefix"),
        pytest.param(b"user@example.com", b"user@example.com.evil", None, id="address-evil"),
    ],
)
def test_match(key: bytes, address: bytes, why: str | None) -> None:
    assert parse_exclusions(key + b"\n").match(address) == why


@pytest.mark.parametrize(
    ("data", "address", "why"),
    [
        pytest.param(b"example.com OK\n", b"a@example.com", DOMAIN, id="value-ignored"),
        pytest.param(b"example.com\tOK extra\n", b"a@example.com", DOMAIN, id="tab-separated"),
        pytest.param(b"example.com OK\n", b"a@ok", None, id="value-is-not-a-key"),
        pytest.param(b"  example.com  OK  \n", b"a@example.com", DOMAIN, id="spaces-around"),
        pytest.param(b"example.com\r\n", b"a@example.com", DOMAIN, id="crlf"),
        pytest.param(b"# example.com\n", b"a@example.com", None, id="comment-line"),
        pytest.param(b"   # example.com\n", b"a@example.com", None, id="indented-comment"),
        pytest.param(b"\n\n  \n\t\nexample.com\n\n", b"a@example.com", DOMAIN, id="blank-lines"),
        pytest.param(b"a.test\nb.test\nc.test", b"a@b.test", DOMAIN, id="several-no-final-lf"),
        pytest.param(b"", b"a@example.com", None, id="empty-file"),
    ],
)
def test_map_source_format(data: bytes, address: bytes, why: str | None) -> None:
    assert parse_exclusions(data).match(address) == why


@pytest.mark.parametrize(
    ("data", "address", "why"),
    [
        pytest.param(
            b"user#tag@example.com OK\n",
            b"someone@user",
            None,
            id="hash-inside-key",
        ),
        pytest.param(
            b"example.com  OK,\n    other.test\n",
            b"a@other.test",
            None,
            id="continuation-line",
        ),
    ],
)
def test_map_source_like_postmap(data: bytes, address: bytes, why: str | None) -> None:
    assert parse_exclusions(data).match(address) == why


def test_empty_map_excludes_nothing() -> None:
    assert Exclusions().match(b"a@example.com") is None
    assert load_exclusions(None).match(b"a@example.com") is None


def test_load_from_file(tmp_path: Path) -> None:
    path = tmp_path / "exclude"
    path.write_bytes(b"# senders never rewritten\nexample.com OK\n.corp.test\nboss@x.test\n")
    exclusions = load_exclusions(path)
    assert exclusions.match(b"a@example.com") == DOMAIN
    assert exclusions.match(b"a@hq.corp.test") == DOMAIN
    assert exclusions.match(b"Boss@X.test") == ADDRESS
    assert exclusions.match(b"a@corp.test") is None


@pytest.mark.parametrize(
    ("make", "words"),
    [
        pytest.param(lambda p: p / "absent", "cannot read", id="missing"),
        pytest.param(lambda p: p, "is a directory, not a regular file", id="directory"),
    ],
)
def test_unreadable_file_names_the_setting(
    tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(ConfigError, match=r"^exclude-file: ") as caught:
        load_exclusions(path)
    assert words in str(caught.value)
    assert str(path) in str(caught.value)


class CountingSet(frozenset[bytes]):
    """A set that counts membership tests: the work a match does, without a clock."""

    tests = 0

    def __contains__(self, item: object) -> bool:
        CountingSet.tests += 1
        return super().__contains__(item)


def test_subdomain_match_of_a_long_domain_looks_only_at_suffixes_that_can_match() -> None:
    """A domain of many short labels used to be sliced once per dot (a 100 KB key held the
    event loop for over a second, quadratic in its length): only suffixes no longer than the
    longest ``.domain`` entry can match, so only those are looked up."""
    parents = CountingSet({b".example.org", b".example.com"})
    exclusions = Exclusions(parents=parents)
    domain = b"a." * 500 + b"example.net"
    CountingSet.tests = 0
    assert exclusions.match(b"user@" + domain) is None
    assert CountingSet.tests <= 3  # the suffixes "a.example.net", ".example.net"; not 501
    assert exclusions.match(b"user@" + b"a." * 500 + b"example.com") == "domain excluded"
