"""Tests for pysrsd.config.keyring: the secrets file (first line signs, every line verifies)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pysrsd.config.keyring import Keyring, load_keyring, parse_secrets
from pysrsd.errors import ConfigError

NEW = b"Zq3k8vVn1pXw0aLr5tYh"
OLD = b"Hk2mW9sQe7rT4yUi6oPz"


def write(tmp_path: Path, data: bytes, mode: int = 0o600) -> Path:
    path = tmp_path / "secrets"
    path.write_bytes(data)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("data", "secrets"),
    [
        pytest.param(NEW + b"\n", (NEW,), id="one-line"),
        pytest.param(NEW, (NEW,), id="no-final-newline"),
        pytest.param(NEW + b"\n" + OLD + b"\n", (NEW, OLD), id="first-signs-all-verify"),
        pytest.param(NEW + b"\r\n" + OLD + b"\r\n", (NEW, OLD), id="crlf"),
        pytest.param(b"\n\n" + NEW + b"\n\n\n" + OLD + b"\n\n", (NEW, OLD), id="blank-lines"),
        pytest.param(b"  \n\t\n" + NEW + b"\n \r\n" + OLD, (NEW, OLD), id="whitespace-lines"),
        pytest.param(b"\r\n" + NEW + b"\r\n\r\n", (NEW,), id="crlf-blank-lines"),
    ],
)
def test_parse_secrets(data: bytes, secrets: tuple[bytes, ...]) -> None:
    assert parse_secrets(data) == secrets


@pytest.mark.parametrize(
    ("data", "signing", "count"),
    [
        pytest.param(NEW + b"\n", NEW, 1, id="one"),
        pytest.param(NEW + b"\n" + OLD + b"\n", NEW, 2, id="rotated"),
        pytest.param(b"\r\n\r\n" + OLD + b"\r\n" + NEW + b"\r\n", OLD, 2, id="crlf-blank-first"),
    ],
)
def test_load_keyring(tmp_path: Path, data: bytes, signing: bytes, count: int) -> None:
    keyring = load_keyring(write(tmp_path, data))
    assert keyring.secrets[0] == signing
    assert len(keyring) == count


def test_rotation_changes_the_fingerprint_but_not_for_appended_old_secrets(
    tmp_path: Path,
) -> None:
    one = load_keyring(write(tmp_path, NEW + b"\n")).fingerprint
    appended = load_keyring(write(tmp_path, NEW + b"\n" + OLD + b"\n")).fingerprint
    rotated = load_keyring(write(tmp_path, OLD + b"\n" + NEW + b"\n")).fingerprint
    assert one == appended
    assert rotated != one


@pytest.mark.parametrize(
    ("make", "words"),
    [
        pytest.param(lambda p: p / "absent", "cannot read", id="missing"),
        pytest.param(lambda p: p, "is a directory, not a regular file", id="directory"),
        pytest.param(lambda p: write(p, b""), "no secret", id="empty"),
        pytest.param(lambda p: write(p, b"\n\r\n  \n\t\n"), "no secret", id="only-blank"),
        pytest.param(lambda p: write(p, b"ab\0cd\n"), "NUL", id="nul-byte"),
    ],
)
def test_unusable_secrets_file_names_the_setting(
    tmp_path: Path, make: Callable[[Path], Path], words: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(ConfigError, match=r"^secrets-file: ") as caught:
        load_keyring(path)
    assert words in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a mode-000 file anyway")
def test_mode_000_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^secrets-file: cannot read"):
        load_keyring(write(tmp_path, NEW, mode=0o000))


@pytest.mark.parametrize(
    ("mode", "too_open"),
    [
        pytest.param(0o600, False, id="0600"),
        pytest.param(0o400, False, id="0400"),
        pytest.param(0o640, False, id="0640-group-read-the-layout"),
        pytest.param(0o604, True, id="0604-world-read"),
        pytest.param(0o644, True, id="0644"),
        pytest.param(0o620, True, id="0620-group-write"),
    ],
)
def test_too_open(tmp_path: Path, mode: int, too_open: bool) -> None:
    assert load_keyring(write(tmp_path, NEW + b"\n", mode)).too_open is too_open


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(NEW, id="random"),
        pytest.param(b"0123456789abcdef0123", id="hex-looking"),
        pytest.param(b"abc", id="short"),
    ],
)
def test_fingerprint_and_repr_never_show_the_secret(tmp_path: Path, secret: bytes) -> None:
    keyring = load_keyring(write(tmp_path, secret + b"\n" + OLD + b"\n"))
    assert keyring.fingerprint
    assert secret.decode() not in keyring.fingerprint
    assert keyring.fingerprint != secret.decode()
    for text in (repr(keyring), str(keyring)):
        assert keyring.fingerprint in text
        for value in (secret, OLD):
            assert value.decode() not in text
            assert repr(value) not in text


def test_keyring_is_immutable(tmp_path: Path) -> None:
    keyring: Keyring = load_keyring(write(tmp_path, NEW))
    with pytest.raises(AttributeError):
        keyring.secrets = (OLD,)  # type: ignore[misc]
