"""``setup`` proposes the host's own domains as exclusions, read by the real ``postconf -x -h``
from a private configuration ($MAIL_CONFIG): expanded, without lookup tables, empty entries
or the SRS domain; written once, and an existing file is kept (with what it lacks named)."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness import require, settled

from pysrsd.ctl import own_domains
from pysrsd.policy.exclusions import load_exclusions


@pytest.fixture
def postfix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    require("postconf")
    config = tmp_path / "postfix"
    config.mkdir()
    (config / "main.cf").write_text(
        "myhostname = mx.fwd.example\n"
        "mydestination = $myhostname, localhost.$mydomain, , localhost, "
        "hash:/etc/postfix/more, FWD.example\n"
    )
    (config / "master.cf").write_text("")
    settled(config)
    monkeypatch.setenv("MAIL_CONFIG", str(config))
    return config


def test_proposed_written_then_kept(postfix: Path, tmp_path: Path) -> None:
    domains = own_domains.proposed("fwd.example")
    assert domains == ["mx.fwd.example", "localhost.fwd.example", "localhost"]
    path = tmp_path / "exclude"
    step = own_domains.step(domains, path)
    assert step.action is not None and "mx.fwd.example, localhost.fwd.example" in step.text
    step.action()
    found = load_exclusions(path)
    assert [found.match(f"u@{d}".encode()) for d in domains] == ["domain excluded"] * 3
    assert found.match(b"u@fwd.example") is None  # the SRS domain is not in it
    assert own_domains.step(domains, path).action is None
    path.write_text("localhost\n")
    kept = own_domains.step(domains, path)
    assert kept.action is None
    assert kept.text.endswith("(it does not exclude mx.fwd.example, localhost.fwd.example)")
