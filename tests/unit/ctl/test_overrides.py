"""``setup`` and the variables that override the config file where the service starts
(daemontools' env/ directory, /etc/default/pysrsd): a listener moved away from where Postfix
is to be pointed stops setup, naming the file; anything else passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pysrsd.ctl import overrides
from pysrsd.errors import ConfigError

SOCKET = Path("/var/spool/postfix/pysrsd/socketmap")


def places(tmp_path: Path) -> tuple[Path, Path]:
    envdir = tmp_path / "service" / "env"
    envdir.mkdir(parents=True)
    (envdir / "PYSRSD_LOG_LEVEL").write_text("debug\n")  # the shipped one: not a listener
    return envdir, tmp_path / "default-pysrsd"


def test_a_port_in_daemontools_env_stops_setup_naming_the_file(tmp_path: Path) -> None:
    envdir, defaults = places(tmp_path)
    (envdir / "PYSRSD_FORWARD_PORT").write_text("20001\n")
    with pytest.raises(ConfigError) as caught:
        overrides.check(True, None, envdir, defaults)
    message = str(caught.value)
    assert f"{envdir / 'PYSRSD_FORWARD_PORT'} sets PYSRSD_FORWARD_PORT='20001', not 10001" in (
        message
    )
    assert "tcp:127.0.0.1:10001 and tcp:127.0.0.1:10002" in message
    assert "/etc/pysrsd/pysrsd.toml" in message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        pytest.param("PYSRSD_REVERSE_PORT=20002\n", "PYSRSD_REVERSE_PORT='20002', not 10002"),
        pytest.param('PYSRSD_LISTEN="::1"\n', "PYSRSD_LISTEN='::1', without 127.0.0.1"),
        pytest.param("PYSRSD_LISTEN='none'\n", "PYSRSD_LISTEN='none', without 127.0.0.1"),
        pytest.param(
            "# mine\n PYSRSD_FORWARD_PORT = 10025\n", "PYSRSD_FORWARD_PORT='10025', not 10001"
        ),
    ],
)
def test_a_listener_in_etc_default_stops_setup(tmp_path: Path, text: str, named: str) -> None:
    envdir, defaults = places(tmp_path)
    defaults.write_text(text)
    with pytest.raises(ConfigError) as caught:
        overrides.check(True, None, envdir, defaults)
    assert f"{defaults} sets {named}" in str(caught.value)


def test_a_socketmap_variable_without_our_socket_stops_setup(tmp_path: Path) -> None:
    envdir, defaults = places(tmp_path)
    (envdir / "PYSRSD_SOCKETMAP").write_text("inet:127.0.0.1:10003\n")
    with pytest.raises(ConfigError) as caught:
        overrides.check(False, SOCKET, envdir, defaults)
    assert f"without 'unix:{SOCKET}'" in str(caught.value)
    assert f"serve unix:{SOCKET}, where Postfix is to be pointed" in str(caught.value)


@pytest.mark.parametrize(
    ("envdir_files", "defaults_text", "tcp", "socket"),
    [
        pytest.param({}, "", True, SOCKET, id="nothing-set"),
        pytest.param({"PYSRSD_FORWARD_PORT": "10001\n"}, "", True, None, id="same-port"),
        pytest.param({}, 'PYSRSD_LISTEN="127.0.0.1, ::1"\n', True, None, id="listen-includes"),
        pytest.param({"PYSRSD_FORWARD_PORT": ""}, "", True, None, id="empty-file-unsets"),
        pytest.param({}, "#PYSRSD_FORWARD_PORT=1\n", True, None, id="commented-out"),
        pytest.param(
            {"PYSRSD_SOCKETMAP": f"unix:{SOCKET},inet:127.0.0.1:10003\n"},
            "",
            False,
            SOCKET,
            id="socketmap-includes",
        ),
        pytest.param({"PYSRSD_FORWARD_PORT": "20001\n"}, "", False, SOCKET, id="tcp-not-asked"),
        pytest.param({"PYSRSD_SOCKETMAP": "inet:x:1\n"}, "", True, None, id="socketmap-not-asked"),
    ],
)
def test_variables_that_agree_or_do_not_matter_pass(
    tmp_path: Path,
    envdir_files: dict[str, str],
    defaults_text: str,
    tcp: bool,
    socket: Path | None,
) -> None:
    envdir, defaults = places(tmp_path)
    for name, text in envdir_files.items():
        (envdir / name).write_text(text)
    defaults.write_text(defaults_text)
    overrides.check(tcp, socket, envdir, defaults)  # no refusal


def test_both_places_are_read_and_each_wrong_one_named(tmp_path: Path) -> None:
    """systemd's service reads /etc/default/pysrsd, daemontools' its env/: either counts."""
    envdir, defaults = places(tmp_path)
    defaults.write_text("PYSRSD_FORWARD_PORT=20001\n")
    (envdir / "PYSRSD_FORWARD_PORT").write_text("10001 \nignored second line\n")
    (envdir / "PYSRSD_REVERSE_PORT").write_text("20002\n")
    with pytest.raises(ConfigError) as caught:
        overrides.check(True, None, envdir, defaults)
    message = str(caught.value)
    assert f"{defaults} sets PYSRSD_FORWARD_PORT='20001'" in message
    assert f"{envdir / 'PYSRSD_REVERSE_PORT'} sets PYSRSD_REVERSE_PORT='20002'" in message
    assert "PYSRSD_FORWARD_PORT='10001'" not in message  # env/'s agrees
