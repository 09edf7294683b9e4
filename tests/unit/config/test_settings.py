"""Tests for pysrsd.config.settings: sources (CLI > env > TOML > defaults) and validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import pysrsd.config.settings
from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError

REQUIRED: dict[str, Any] = {"domain": "fwd.example", "secrets_file": "/etc/pysrsd/secrets"}


pytestmark = pytest.mark.usefixtures("hermetic_settings")


def make(**values: Any) -> Settings:
    """Settings as the CLI builds them: only what is given, the rest from env/TOML/defaults."""
    return Settings(**values)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pysrsd.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    s = make(**REQUIRED)
    assert s.domain == "fwd.example"
    assert s.secrets_file == Path("/etc/pysrsd/secrets")
    assert s.exclude_file is None
    assert s.listen == ["127.0.0.1"]
    assert (s.forward_port, s.reverse_port) == (10001, 10002)
    assert s.separator == "="
    assert (s.hash_length, s.hash_min, s.max_age) == (4, 4, 21)
    assert s.always_rewrite is False
    assert s.reverse_any_domain is False
    assert s.idle_timeout == 300
    assert s.max_connections == 1000
    assert s.max_line == 16384
    assert (s.user, s.group, s.pidfile) == (None, None, None)
    assert (s.log_level, s.log_format) == ("info", "kv")


def test_settings_are_frozen() -> None:
    s = make(**REQUIRED)
    with pytest.raises(ValidationError):
        s.forward_port = 1


@pytest.mark.parametrize(
    ("cli", "env", "toml_text", "expected"),
    [
        pytest.param({}, {}, "", 10001, id="default"),
        pytest.param({}, {}, "forward-port = 2000", 2000, id="toml-dash"),
        pytest.param({}, {}, "forward_port = 2000", 2000, id="toml-underscore"),
        pytest.param({}, {"PYSRSD_FORWARD_PORT": "3000"}, "", 3000, id="env"),
        pytest.param({}, {"pysrsd_forward_port": "3000"}, "", 3000, id="env-lower-case"),
        pytest.param(
            {}, {"PYSRSD_FORWARD_PORT": "3000"}, "forward-port = 2000", 3000, id="env>toml"
        ),
        pytest.param({"forward_port": 4000}, {}, "forward-port = 2000", 4000, id="cli>toml"),
        pytest.param(
            {"forward_port": 4000},
            {"PYSRSD_FORWARD_PORT": "3000"},
            "forward-port = 2000",
            4000,
            id="cli>env>toml",
        ),
    ],
)
def test_precedence(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cli: dict[str, Any],
    env: dict[str, str],
    toml_text: str,
    expected: int,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    s = make(**REQUIRED, **cli, config=toml(tmp_path, toml_text))
    assert s.forward_port == expected


def test_everything_from_toml(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        'domain = "fwd.example."\nsecrets-file = "/srv/secrets"\nexclude_file = "/srv/ex"\n'
        'listen = ["127.0.0.1", "[::1]"]\nseparator = "+"\nhash-length = 6\nhash-min = 5\n'
        "max-age = 7\nalways-rewrite = true\nreverse-any-domain = true\n",
    )
    s = make(config=path)
    assert s.domain == "fwd.example"
    assert s.secrets_file == Path("/srv/secrets")
    assert s.exclude_file == Path("/srv/ex")
    assert s.listen == ["127.0.0.1", "::1"]
    assert s.separator == "+"
    assert (s.hash_length, s.hash_min, s.max_age) == (6, 5, 7)
    assert s.always_rewrite is True
    assert s.reverse_any_domain is True


def test_config_file_named_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYSRSD_CONFIG", str(toml(tmp_path, "max-age = 9\n")))
    assert make(**REQUIRED).max_age == 9


def test_default_config_file_is_read_when_it_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pysrsd.config.settings, "DEFAULT_CONFIG", toml(tmp_path, "max-age = 8\n"))
    assert make(**REQUIRED).max_age == 8


def test_unknown_toml_key_is_refused_with_file_line_and_suggestion(tmp_path: Path) -> None:
    path = toml(tmp_path, 'domain = "fwd.example"\n\nhash-lenght = 6\n')
    with pytest.raises(ConfigError) as caught:
        make(**REQUIRED, config=path)
    assert str(caught.value) == (
        f"{path}:3: hash-lenght: unknown setting; did you mean hash-length?"
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param("127.0.0.1, ::1", ["127.0.0.1", "::1"], id="comma-space"),
        pytest.param("127.0.0.1,::1", ["127.0.0.1", "::1"], id="comma"),
        pytest.param("127.0.0.1 ::1", ["127.0.0.1", "::1"], id="space"),
        pytest.param("[::1]", ["::1"], id="bracketed-ipv6"),
        pytest.param("0.0.0.0", ["0.0.0.0"], id="single"),
    ],
)
def test_listen_from_environment(
    monkeypatch: pytest.MonkeyPatch, env: str, expected: list[str]
) -> None:
    monkeypatch.setenv("PYSRSD_LISTEN", env)
    assert make(**REQUIRED).listen == expected


def test_listen_from_cli_replaces_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSRSD_LISTEN", "10.0.0.1")
    assert make(**REQUIRED, listen=["[::1]", "127.0.0.1"]).listen == ["::1", "127.0.0.1"]


@pytest.mark.parametrize(
    ("env", "value"),
    [
        pytest.param("1", True, id="1"),
        pytest.param("true", True, id="true"),
        pytest.param("yes", True, id="yes"),
        pytest.param("0", False, id="0"),
        pytest.param("false", False, id="false"),
    ],
)
def test_boolean_from_environment(monkeypatch: pytest.MonkeyPatch, env: str, value: bool) -> None:
    monkeypatch.setenv("PYSRSD_ALWAYS_REWRITE", env)
    monkeypatch.setenv("PYSRSD_REVERSE_ANY_DOMAIN", env)
    s = make(**REQUIRED)
    assert s.always_rewrite is value
    assert s.reverse_any_domain is value


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("fwd.example", "fwd.example", id="plain"),
        pytest.param("fwd.example.", "fwd.example", id="trailing-dot-stripped"),
        pytest.param("FWD.Example", "FWD.Example", id="mixed-case"),
        pytest.param("localhost", "localhost", id="single-label"),
        pytest.param("mx-1.fwd.example", "mx-1.fwd.example", id="hyphen"),
        pytest.param("bücher.example", "bücher.example", id="utf8"),
        pytest.param("xn--bcher-kva.example", "xn--bcher-kva.example", id="punycode"),
    ],
)
def test_domain_accepted(given: str, expected: str) -> None:
    assert make(domain=given, secrets_file="/s").domain == expected


@pytest.mark.parametrize(
    "given",
    [
        pytest.param("$myhostname", id="postfix-variable"),
        pytest.param("fwd example", id="space"),
        pytest.param(" fwd.example", id="leading-space"),
        pytest.param("a..b", id="empty-label"),
        pytest.param(".fwd.example", id="leading-dot"),
        pytest.param("", id="empty"),
        pytest.param(".", id="only-dot"),
        pytest.param("fwd.example..", id="two-trailing-dots"),
        pytest.param("user@fwd.example", id="address"),
        pytest.param("-fwd.example", id="leading-hyphen"),
        pytest.param("a" * 64 + ".example", id="label-too-long"),
        pytest.param(".".join(["a" * 63] * 4 + ["b"]), id="name-too-long"),
        pytest.param("fwd.example/", id="slash"),
    ],
)
def test_domain_rejected(given: str) -> None:
    with pytest.raises(ValidationError) as caught:
        make(domain=given, secrets_file="/s")
    assert caught.value.errors()[0]["loc"] == ("domain",)


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        pytest.param("forward_port", 65535, True, id="port-max"),
        pytest.param("forward_port", 65536, False, id="port-over"),
        pytest.param("reverse_port", -1, False, id="port-negative"),
        pytest.param("hash_length", 27, True, id="hash-length-max"),
        pytest.param("hash_length", 28, False, id="hash-length-over"),
        pytest.param("hash_length", 0, False, id="hash-length-zero"),
        pytest.param("max_age", 0, False, id="max-age-zero"),
        pytest.param("max_age", 1, True, id="max-age-one"),
        pytest.param("max_age", 1001, False, id="max-age-over"),
        pytest.param("idle_timeout", 0, False, id="idle-timeout-zero"),
        pytest.param("idle_timeout", 0.5, True, id="idle-timeout-fraction"),
        pytest.param("max_connections", 0, False, id="max-connections-zero"),
        pytest.param("max_line", 255, False, id="max-line-tiny"),
        pytest.param("max_line", 256, True, id="max-line-min"),
        pytest.param("separator", "+", True, id="separator-plus"),
        pytest.param("separator", "-", True, id="separator-minus"),
        pytest.param("separator", "#", False, id="separator-other"),
        pytest.param("log_level", "DEBUG", True, id="log-level-upper"),
        pytest.param("log_level", "trace", False, id="log-level-unknown"),
        pytest.param("log_format", "xml", False, id="log-format-unknown"),
    ],
)
def test_bounds(name: str, value: Any, ok: bool) -> None:
    if ok:
        assert getattr(make(**REQUIRED, **{name: value}), name) == (
            value.lower() if isinstance(value, str) and name == "log_level" else value
        )
    else:
        with pytest.raises(ValidationError) as caught:
            make(**REQUIRED, **{name: value})
        assert caught.value.errors()[0]["loc"] == (name,)


@pytest.mark.parametrize(
    ("length", "minimum", "ok"),
    [
        pytest.param(4, 4, True, id="equal"),
        pytest.param(6, 4, True, id="min-below"),
        pytest.param(4, 5, False, id="min-above"),
    ],
)
def test_hash_min_must_not_exceed_hash_length(length: int, minimum: int, ok: bool) -> None:
    if ok:
        make(**REQUIRED, hash_length=length, hash_min=minimum)
    else:
        with pytest.raises(ValidationError, match="must not exceed hash-length"):
            make(**REQUIRED, hash_length=length, hash_min=minimum)


@pytest.mark.parametrize("missing", ["domain", "secrets_file"])
def test_required(missing: str) -> None:
    given = {k: v for k, v in REQUIRED.items() if k != missing}
    with pytest.raises(ValidationError) as caught:
        make(**given)
    assert caught.value.errors()[0]["loc"] == (missing,)
    assert caught.value.errors()[0]["type"] == "missing"


@pytest.mark.parametrize(
    ("given", "env", "error"),
    [
        pytest.param({"listen": [""]}, None, "empty address", id="flag-empty"),
        pytest.param({}, "", "empty address", id="env-empty"),
        pytest.param({"listen": ["127.0.0.1", ""]}, None, "empty address", id="one-empty"),
        pytest.param({"listen": ["none"]}, None, "needed when --listen is 'none'", id="none-alone"),
        pytest.param({"listen": ["none", "::1"]}, None, "cannot be combined", id="none-and-more"),
    ],
)
def test_listen_never_means_every_interface_by_accident(
    monkeypatch: pytest.MonkeyPatch, given: dict[str, Any], env: str | None, error: str
) -> None:
    if env is not None:
        monkeypatch.setenv("PYSRSD_LISTEN", env)
    with pytest.raises(ValidationError, match=error):
        make(**REQUIRED, **given)


def test_listen_none_with_socketmap_serves_socketmap_only() -> None:
    s = make(**REQUIRED, listen=["none"], socketmap=["unix:/run/pysrsd/socketmap"])
    assert s.listen == []
