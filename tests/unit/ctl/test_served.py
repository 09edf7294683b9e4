"""setup and a daemon already running: restarted (then waited for) only when the config file
changed or the socket Postfix is about to name does not answer; told about otherwise."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pysrsd.ctl import served
from pysrsd.errors import ConfigError


@pytest.fixture
def listening() -> Iterator[Path]:
    path = Path(f"/tmp/pysrsd-served-{os.getpid()}")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        sock.listen()
        yield path
    path.unlink()


def test_nothing_to_do_when_unchanged_and_answering(listening: Path) -> None:
    assert served.steps(False, True, listening) == ([], "")


def test_without_a_service_manager_a_change_is_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(served, "manager", lambda: None)
    steps, note = served.steps(True, True, None)
    assert steps == [] and "needs a restart" in note
    assert served.steps(False, True, Path("/nonexistent/socket")) == ([], "")  # a new install


def test_a_restart_that_does_not_bring_the_socket_stops_setup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran: list[list[str]] = []
    monkeypatch.setattr(served, "manager", lambda: (["restart"], ["reload"]))
    monkeypatch.setattr(served, "run_checked", ran.append)
    monkeypatch.setattr(served, "WAIT_SECONDS", 0.8)
    (step,), note = served.steps(True, True, tmp_path / "socket")
    assert note == "" and step.text.startswith("restart, then wait until unix:")
    assert step.action is not None
    with pytest.raises(ConfigError, match="Postfix is left as it was"):
        step.action()
    assert ran == [["restart"]]
    (reload,), _ = served.steps(True, False, None)  # an exclusion file added: a reload
    assert reload.text == "reload"
