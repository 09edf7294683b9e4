"""Postfix's own tcp_table client (``postmap -q``) against the real daemon.

Expected forward values come from the Mail::SRS oracle (Debian's ``srs`` package) with the
same secret, never from pysrsd itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import DOMAIN, SECRET, postmap, require, running_daemon, write_secrets
from oracles import CLASSIC_ARGS, corpus_by_shape, mail_srs_forward, require_oracles


@pytest.fixture
def daemon(tmp_path: Path):  # type: ignore[no-untyped-def]
    require("postmap")
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets, *CLASSIC_ARGS) as running:  # the oracle's hash
        yield running


def _keys() -> list[bytes]:
    """Oracle-comparable corpus keys that postmap can read one per line."""
    keys: list[bytes] = []
    for shape, addresses in sorted(corpus_by_shape().items()):
        if "quoted" in shape or "two-at" in shape:
            continue  # documented divergences: tests/unit/srs/test_engine_oracles.py
        if shape == "raw-latin1":
            continue  # Postfix itself refuses non-UTF-8 keys ("malformed UTF-8")
        keys += [a for a in addresses if not any(c in a for c in b' \t\r\n"')]
    keys = [k for k in keys if not k.lower().endswith(b"@" + DOMAIN.encode())]
    return keys[:600]


def test_single_queries(daemon) -> None:  # type: ignore[no-untyped-def]
    require_oracles()
    fwd, rev = f"tcp:127.0.0.1:{daemon.forward_port}", f"tcp:127.0.0.1:{daemon.reverse_port}"
    (expected,) = mail_srs_forward(SECRET.encode(), DOMAIN.encode(), [b"alice@example.com"])
    assert expected is not None
    assert postmap("alice@example.com", fwd) == expected.decode() + "\n"
    assert postmap(expected.decode(), rev) == "alice@example.com\n"
    assert postmap("alice@example.com", rev) == ""  # 500: not found, nothing printed
    assert postmap(f"someone@{DOMAIN}", fwd) == ""  # own domain maps to itself


def test_bulk_forward_matches_mail_srs_and_reverses(daemon, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    require_oracles()
    keys = _keys()
    assert len(keys) >= 300
    oracle = mail_srs_forward(SECRET.encode(), DOMAIN.encode(), keys)
    out = postmap("-", f"tcp:127.0.0.1:{daemon.forward_port}", stdin=b"\n".join(keys) + b"\n")
    got = dict(line.split("\t", 1) for line in out.splitlines())
    compared = 0
    for key, want in zip(keys, oracle, strict=True):
        if want is None:
            continue
        assert got[key.decode("utf-8", "surrogateescape")] == want.decode(
            "utf-8", "surrogateescape"
        ), key
        compared += 1
    assert compared >= 300
    values = "\n".join(got.values()).encode("utf-8", "surrogateescape") + b"\n"
    back = postmap("-", f"tcp:127.0.0.1:{daemon.reverse_port}", stdin=values)
    reversed_ = dict(line.split("\t", 1) for line in back.splitlines())
    for key, value in got.items():
        assert reversed_[value] == key


def test_forged_reverse_is_not_found(daemon) -> None:  # type: ignore[no-untyped-def]
    rev = f"tcp:127.0.0.1:{daemon.reverse_port}"
    assert postmap("SRS0=AAAA=JO=example.com=alice@" + DOMAIN, rev) == ""
    assert postmap("SRS0=broken@" + DOMAIN, rev) == ""
