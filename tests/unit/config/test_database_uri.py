"""The envelope database's URI as shown (no credential, whatever the URI) and its password
file (checked like the secrets file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pysrsd.config.database_uri import carries_password, display, load_password
from pysrsd.errors import ConfigError

PASSWORD = "hunter2-Secret"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        pytest.param(
            f"redis://user:{PASSWORD}@db.example:6379/1",
            "redis://***@db.example:6379/1",
            id="userinfo",
        ),
        pytest.param(
            f"redis://db.example:6379/0?password={PASSWORD}",
            "redis://db.example:6379/0?password=***",
            id="query-password",
        ),
        pytest.param(
            f"redis://db.example/0?db=2&username=fwd&password={PASSWORD}&socket_timeout=2",
            "redis://db.example/0?db=2&username=***&password=***&socket_timeout=2",
            id="query-mixed",
        ),
        pytest.param(
            f"redis://:{PASSWORD}@db.example?PassWord={PASSWORD}#{PASSWORD}",
            "redis://***@db.example?PassWord=***#***",
            id="everything",
        ),
        pytest.param(
            f"redis:/db.example?password={PASSWORD}",
            "redis:/db.example?password=***",
            id="malformed-query",
        ),
        pytest.param(f"redis:u:{PASSWORD}@db.example", "***@db.example", id="malformed-userinfo"),
        pytest.param("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0", id="nothing-to-hide"),
        pytest.param(
            "sqlite:/var/lib/pysrsd/envelopes.sqlite",
            "sqlite:/var/lib/pysrsd/envelopes.sqlite",
            id="sqlite",
        ),
    ],
)
def test_a_uri_is_shown_without_its_credentials(uri: str, shown: str) -> None:
    assert display(uri) == shown
    assert PASSWORD not in display(uri)


@pytest.mark.parametrize(
    ("uri", "carries"),
    [
        pytest.param(f"redis://user:{PASSWORD}@db.example/0", True, id="userinfo"),
        pytest.param(f"redis://db.example/0?db=1&password={PASSWORD}", True, id="query"),
        pytest.param("redis://user@db.example/0", False, id="user-only"),
        pytest.param("redis://db.example:6379/0?db=1", False, id="none"),
    ],
)
def test_a_password_in_the_uri_is_noticed(uri: str, carries: bool) -> None:
    assert carries_password(uri) is carries


def test_the_password_file_is_its_first_line_and_checked_like_the_secrets(tmp_path: Path) -> None:
    path = tmp_path / "redis-password"
    path.write_bytes(PASSWORD.encode() + b"\r\nignored\n")
    path.chmod(0o640)
    loaded = load_password(path)
    assert (loaded.value, loaded.too_open) == (PASSWORD, False)
    assert PASSWORD not in repr(loaded)
    path.chmod(0o644)  # readable by others
    assert load_password(path).too_open


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"\nsecond line\n", "empty", id="blank-first-line"),
        pytest.param(b"\xff\xfe\n", "UTF-8", id="not-utf8"),
    ],
)
def test_an_unusable_password_file_names_the_setting(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "redis-password"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=f"envelope-database-password-file: .*{reason}"):
        load_password(path)


def test_a_missing_password_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="envelope-database-password-file: cannot read"):
        load_password(tmp_path / "missing")
