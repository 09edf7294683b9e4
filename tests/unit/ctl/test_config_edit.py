"""``setup`` and an existing config file: only missing lines are added (the admin's kept,
byte for byte); a contradicting value stops setup, naming the line to write."""

from __future__ import annotations

from pathlib import Path

import pytest

from pysrsd.ctl.config_edit import HEADER, config_step
from pysrsd.errors import ConfigError

SOCKET = Path("/var/spool/postfix/pysrsd/socketmap")
EXCLUDE = Path("/etc/pysrsd/exclude")
ADMIN = '# mine\ndomain = "forwarder.example"   # keep\nsecrets-file = "/etc/pysrsd/secrets"\n'


def existing(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pysrsd.toml"
    path.write_text(text)
    path.chmod(0o640)
    return path


def test_missing_lines_are_appended_and_the_rest_kept(tmp_path: Path) -> None:
    path = existing(tmp_path, ADMIN)
    step = config_step(path, "forwarder.example", SOCKET, EXCLUDE)
    assert step.action is not None and "socketmap" in step.text and "exclude-file" in step.text
    step.action()
    assert path.read_text() == (
        f'{ADMIN}{HEADER}\nsocketmap = ["unix:{SOCKET}"]\nsocketmap-mode = 0o660\n'
        f'exclude-file = "{EXCLUDE}"\n'
    )
    assert path.stat().st_mode & 0o777 == 0o640
    again = config_step(path, "forwarder.example", SOCKET, EXCLUDE)
    assert again.action is None and "kept" in again.text


@pytest.mark.parametrize(
    ("text", "kwargs", "named"),
    [
        pytest.param(
            ADMIN, {"domain": "other.example"}, 'write domain = "other.example"', id="domain"
        ),
        pytest.param(
            ADMIN + 'socketmap = ["inet:127.0.0.1:10003"]\n',
            {},
            f'add "unix:{SOCKET}" to that line',
            id="socketmap-list",
        ),
        pytest.param(ADMIN + "[extra]\nx = 1\n", {}, "add socketmap = [", id="table-header"),
        pytest.param(
            ADMIN + "forward-port = 20001\n",
            {"tcp": True},
            "make it forward-port = 10001",
            id="tcp-port",
        ),
        pytest.param(ADMIN + 'listen = "none"\n', {"tcp": True}, "listen = 'none'", id="no-tcp"),
        pytest.param("domain = [", {}, "is not valid TOML", id="unreadable"),
    ],
)
def test_contradictions_are_refused_naming_the_line(
    tmp_path: Path, text: str, kwargs: dict[str, object], named: str
) -> None:
    path = existing(tmp_path, text)
    domain = str(kwargs.get("domain", "forwarder.example"))
    socket = None if kwargs.get("tcp") else SOCKET
    with pytest.raises(ConfigError, match=r"^setup: ") as refused:
        config_step(path, domain, socket, None, bool(kwargs.get("tcp")))
    assert named in str(refused.value)
    assert path.read_text() == text


def test_a_socketmap_list_with_ours_needs_nothing(tmp_path: Path) -> None:
    path = existing(
        tmp_path,
        ADMIN + f'socketmap = ["inet:127.0.0.1:10003", "unix:{SOCKET}"]\nsocketmap-mode = 0o666\n',
    )
    assert config_step(path, "forwarder.example", SOCKET, None, False).action is None


def test_a_new_config_file_is_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "pysrsd.toml"
    step = config_step(path, "forwarder.example", SOCKET, EXCLUDE)
    assert step.action is not None
    step.action()
    text = path.read_text()
    assert f'socketmap = ["unix:{SOCKET}"]\n' in text and f'exclude-file = "{EXCLUDE}"\n' in text


def test_a_missing_domain_is_added_and_case_does_not_matter(tmp_path: Path) -> None:
    path = existing(tmp_path, 'secrets-file = "/etc/pysrsd/secrets"\n')
    step = config_step(path, "forwarder.example", None, None)
    assert step.action is not None
    step.action()
    assert path.read_text().endswith(f'{HEADER}\ndomain = "forwarder.example"\n')
    assert config_step(path, "Forwarder.Example.", None, None).action is None
