"""Tests for pysrsd.cli: argv → Settings (pfix-srsd compatible) and start-up failures."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import free_ports, host_free_environment

from pysrsd.cli import EXIT_CONFIG, _daemon_parser, settings_from_args
from pysrsd.config.settings import Settings, unknown_variables
from pysrsd.errors import ConfigError

pytestmark = pytest.mark.usefixtures("hermetic_settings")


def parse(*argv: str) -> Settings:
    return settings_from_args(vars(_daemon_parser().parse_args(list(argv))))


def test_pfix_srsd_command_line() -> None:
    s = parse("-f", "-e", "10001", "-d", "10002", "-s", "=", "-I", "fwd.example", "/srv/secrets")
    assert s.domain == "fwd.example"
    assert s.secrets_file == Path("/srv/secrets")
    assert (s.forward_port, s.reverse_port) == (10001, 10002)
    assert s.separator == "="
    assert s.reverse_any_domain is False
    assert s.listen == ["127.0.0.1"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["-e", "20001", "-d", "20002"], {"forward_port": 20001}, id="short-ports"),
        pytest.param(["-d", "20002"], {"reverse_port": 20002}, id="short-reverse-port"),
        pytest.param(["-s", "+"], {"separator": "+"}, id="short-separator"),
        pytest.param(["--separator", "-"], {"separator": "-"}, id="long-separator"),
        pytest.param(["-U", "nobody", "-G", "nogroup"], {"user": "nobody"}, id="short-user"),
        pytest.param(["-G", "nogroup"], {"group": "nogroup"}, id="short-group"),
        pytest.param(["-p", "/run/pysrsd.pid"], {"pidfile": Path("/run/pysrsd.pid")}, id="pid"),
        pytest.param(["-u"], {"allow_root": True}, id="unsafe-keep-root"),
        pytest.param(["-v"], {"log_level": "debug"}, id="verbose"),
        pytest.param(["--always-rewrite"], {"always_rewrite": True}, id="always-rewrite"),
        pytest.param(["--reverse-any-domain"], {"reverse_any_domain": True}, id="any-domain"),
        pytest.param(["--no-always-rewrite"], {"always_rewrite": False}, id="no-always"),
        pytest.param(["--hash-length", "6", "--hash-min", "5"], {"hash_min": 5}, id="hash"),
        pytest.param(["--max-age", "30"], {"max_age": 30}, id="max-age"),
        pytest.param(["--exclude-file", "/srv/ex"], {"exclude_file": Path("/srv/ex")}, id="ex"),
        pytest.param(["--listen", "[::1]"], {"listen": ["::1"]}, id="listen-ipv6-bracketed"),
        pytest.param(
            ["--listen", "127.0.0.1", "--listen", "::1"],
            {"listen": ["127.0.0.1", "::1"]},
            id="listen-repeated",
        ),
        pytest.param(["--max-line", "1024"], {"max_line": 1024}, id="max-line"),
        pytest.param(["--idle-timeout", "2.5"], {"idle_timeout": 2.5}, id="idle-timeout"),
        pytest.param(["--max-connections", "5"], {"max_connections": 5}, id="max-connections"),
        pytest.param(["--log-format", "json"], {"log_format": "json"}, id="log-format"),
    ],
)
def test_flags(argv: list[str], expected: dict[str, Any]) -> None:
    s = parse(*argv, "fwd.example", "/srv/secrets")
    for name, value in expected.items():
        assert getattr(s, name) == value


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["fwd.example", "/srv/secrets"], id="positional"),
        pytest.param(["--domain", "fwd.example", "--secrets-file", "/srv/secrets"], id="long"),
        pytest.param(["--secrets-file", "/srv/secrets", "fwd.example"], id="long-secrets-pos-dom"),
        pytest.param(["--domain", "fwd.example", "fwd.example", "/srv/secrets"], id="agreeing"),
        pytest.param(["fwd.example.", "/srv/secrets"], id="trailing-dot"),
    ],
)
def test_domain_and_secrets_forms(argv: list[str]) -> None:
    s = parse(*argv)
    assert s.domain == "fwd.example"
    assert s.secrets_file == Path("/srv/secrets")


def test_positional_and_flag_disagreeing_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^--domain: given twice, differently$"):
        parse("--domain", "fwd.example", "other.example", "/srv/secrets")


def test_command_line_beats_environment_beats_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "pysrsd.toml"
    config.write_text(
        'domain = "toml.example"\nsecrets-file = "/toml"\nmax-age = 3\nhash_length = 8\n'
        "forward-port = 3001\n"
    )
    monkeypatch.setenv("PYSRSD_CONFIG", str(config))
    monkeypatch.setenv("PYSRSD_MAX_AGE", "4")
    monkeypatch.setenv("PYSRSD_FORWARD_PORT", "4001")
    monkeypatch.setenv("PYSRSD_SEPARATOR", "+")
    s = parse("-e", "5001", "cli.example")
    assert s.domain == "cli.example"  # CLI
    assert s.forward_port == 5001  # CLI over env over TOML
    assert s.max_age == 4  # env over TOML
    assert s.separator == "+"  # env over default
    assert s.hash_length == 8  # TOML over default
    assert s.secrets_file == Path("/toml")  # TOML
    assert s.reverse_port == 10002  # default


def test_config_flag_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "other.toml"
    config.write_text("max-age = 11\n")
    assert parse("--config", str(config), "fwd.example", "/srv/secrets").max_age == 11


def test_environment_alone_is_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSRSD_DOMAIN", "env.example")
    monkeypatch.setenv("PYSRSD_SECRETS_FILE", "/env/secrets")
    monkeypatch.setenv("PYSRSD_LISTEN", "127.0.0.1, ::1")
    s = parse()
    assert (s.domain, s.secrets_file) == ("env.example", Path("/env/secrets"))
    assert s.listen == ["127.0.0.1", "::1"]


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        pytest.param(["/srv/secrets"], {}, r"^--domain: '/srv/secrets' is not", id="swap"),
        pytest.param([], {}, r"^--domain: missing", id="no-domain"),
        pytest.param(["fwd.example"], {}, r"^--secrets-file: missing", id="no-secrets"),
        pytest.param(["$myhostname", "/s"], {}, r"^--domain: ", id="macro"),
        pytest.param(["a..b", "/s"], {}, r"^--domain: ", id="empty-label"),
        pytest.param(
            ["-e", "70000", "fwd.example", "/s"], {}, r"^--forward-port: ", id="port-range"
        ),
        pytest.param(["--max-age", "0", "fwd.example", "/s"], {}, r"^--max-age: ", id="max-age"),
        pytest.param(
            ["fwd.example", "/s"],
            {"PYSRSD_REVERSE_PORT": "ten"},
            r"^PYSRSD_REVERSE_PORT: ",
            id="env-not-a-number",
        ),
        pytest.param(
            [],
            {"PYSRSD_DOMAIN": "bad domain", "PYSRSD_SECRETS_FILE": "/s"},
            r"^PYSRSD_DOMAIN: 'bad domain' is not a domain name",
            id="env",
        ),
        pytest.param(
            ["--hash-length", "4", "--hash-min", "5", "fwd.example", "/s"],
            {},
            r"^--hash-min: must not exceed hash-length",
            id="hash-min-over-length",
        ),
    ],
)
def test_bad_settings_name_the_setting(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as caught:
        parse(*argv)
    assert "\n" not in str(caught.value)


def test_hash_min_error_names_hash_min_not_a_phantom_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("--hash-min", "5", "fwd.example", "/s")
    assert str(caught.value).startswith("--hash-min")


def test_missing_config_file_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as caught:
        parse("--config", str(config), "fwd.example", "/s")
    assert str(caught.value) == (f"config: cannot read {config}: No such file or directory")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            'domain = "fwd.example"\nsecret-file = "/etc/pysrsd/secrets"\n',
            ":2: secret-file: unknown setting; did you mean secrets-file?",
            id="issue-secret-file",
        ),
        pytest.param(
            'log_levle = "debug"\n',
            ":1: log_levle: unknown setting; did you mean log-level?",
            id="issue-log-levle",
        ),
        pytest.param(
            "# comment\n\n  listen_port = 1\n",
            ":3: listen_port: unknown setting; did you mean ",
            id="indented-key",
        ),
        pytest.param(
            "flavour = 1\n", ":1: flavour: unknown setting; see pysrsd --help", id="no-near-miss"
        ),
        pytest.param("[daemon]\nuser = 'x'\n", ":1: daemon: unknown setting", id="table"),
        pytest.param("max-age = \n", ":1: not valid TOML: Invalid value (column 11)", id="syntax"),
        pytest.param(
            'domain = "fwd.example"\nmax-age = 7\nlisten = [\n  "a",\n',
            ":4: not valid TOML: Invalid value (at end of document)",
            id="unterminated-array",
        ),
        pytest.param("\nmax-age = 0\n", ":2: max-age: Input should be greater", id="bad-value"),
        pytest.param("\n\nforward_port = 'x'\n", ":3: forward-port: Input should", id="type"),
    ],
)
def test_config_file_errors_name_file_line_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    config = tmp_path / "pysrsd.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        parse("--config", str(config), "fwd.example", "/s")
    assert str(caught.value).startswith(f"{config}{expected}")


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        pytest.param(
            ["fwd.example"],
            {"PYSRSD_SECRET_FILE": "/etc/pysrsd/secrets"},
            "--secrets-file: missing; give it as --secrets-file, the second argument, "
            "PYSRSD_SECRETS_FILE or secrets-file in {config} "
            "(PYSRSD_SECRET_FILE is set: did you mean PYSRSD_SECRETS_FILE?)",
            id="misspelt-variable",
        ),
        pytest.param(
            [],
            {"PYSRSD_DOMIAN": "fwd.example", "PYSRSD_SECRETS_FILE": "/s"},
            "--domain: missing; give it as --domain, the first argument, PYSRSD_DOMAIN or "
            "domain in {config} (PYSRSD_DOMIAN is set: did you mean PYSRSD_DOMAIN?)",
            id="misspelt-domain",
        ),
        pytest.param(
            ["fwd.example"],
            {"PYSRSD_REQUIRE_SYSTEM": "1"},
            "--secrets-file: missing; give it as --secrets-file, the second argument, "
            "PYSRSD_SECRETS_FILE or secrets-file in {config}",
            id="test-switch-is-no-near-miss",
        ),
    ],
)
def test_missing_setting_says_where_to_give_it(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    env: dict[str, str],
    expected: str,
) -> None:
    config = tmp_path / "pysrsd.toml"
    config.write_text("")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        parse("--config", str(config), *argv)
    assert str(caught.value) == expected.format(config=config)


def test_environment_value_error_names_the_variable_as_spelt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("pysrsd_max_age", "0")
    with pytest.raises(ConfigError, match=r"^pysrsd_max_age: Input should be greater"):
        parse("fwd.example", "/s")


def test_conflict_with_a_default_names_the_default() -> None:
    with pytest.raises(ConfigError) as caught:
        parse("--hash-length", "2", "fwd.example", "/s")
    assert str(caught.value) == "hash-min (default 4): must not exceed hash-length"


def test_unknown_variables_are_listed_with_a_near_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYSRSD_LOG_LEVLE", "debug")
    monkeypatch.setenv("PYSRSD_FLAVOUR", "x")
    monkeypatch.setenv("PYSRSD_REQUIRE_SYSTEM", "1")
    monkeypatch.setenv("PYSRSD_BENCH_PFIX_SRSD", "/usr/sbin/pfix-srsd")
    monkeypatch.setenv("PYSRSD_MAX_AGE", "3")
    assert unknown_variables() == [
        ("PYSRSD_FLAVOUR", None),
        ("PYSRSD_LOG_LEVLE", "PYSRSD_LOG_LEVEL"),
    ]


def test_help_gives_every_flag_a_text_and_names_the_other_sources() -> None:
    parser = _daemon_parser()
    for action in parser._actions:
        assert action.help, action.option_strings
    text = parser.format_help()
    assert "PYSRSD_SECRETS_FILE" in text
    assert "PYSRSD_REVERSE_ANY_DOMAIN" in text
    assert "/etc/pysrsd/pysrsd.toml" in text
    assert "command line > environment > config file > defaults" in text


def test_help_of_every_setting_says_its_default_or_that_it_is_required() -> None:
    not_settings = {"help", "version", "foreground", "verbose", "positional_domain"}
    not_settings.add("positional_secrets")
    for action in _daemon_parser()._actions:
        if action.dest in not_settings or action.option_strings == ["-I"]:  # pfix-srsd's
            continue
        text = action.help or ""
        assert "default" in text or "required" in text, action.option_strings


@pytest.mark.parametrize(
    ("option", "default"),
    [
        pytest.param("--max-age", "21", id="max-age"),
        pytest.param("--forward-port", "10001", id="forward-port"),
        pytest.param("--log-level", "info", id="log-level"),
        pytest.param("--socketmap-mode", "0666", id="socketmap-mode"),
    ],
)
def test_help_states_the_default(option: str, default: str) -> None:
    (action,) = [a for a in _daemon_parser()._actions if option in a.option_strings]
    assert f"(default {default}" in (action.help or "")


# --- the real command: exit status, one stderr line, nothing listening ------------------


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


Runner = Callable[..., tuple[int, list[str], list[int]]]


@pytest.fixture
def run(tmp_path: Path) -> Runner:
    config = tmp_path / "empty.toml"
    config.write_text("")
    env = host_free_environment(PYSRSD_CONFIG=str(config))

    def run(*argv: str) -> tuple[int, list[str], list[int]]:
        ports = free_ports(2)
        done = subprocess.run(
            [sys.executable, "-m", "pysrsd", "-e", str(ports[0]), "-d", str(ports[1]), *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return done.returncode, done.stderr.splitlines(), ports

    return run


@pytest.mark.parametrize(
    ("make_argv", "needle"),
    [
        pytest.param(lambda d: ["--bogus", "fwd.example", str(d / "ok")], "--bogus", id="flag"),
        pytest.param(lambda d: [], "--domain", id="no-domain"),
        pytest.param(lambda d: ["fwd.example"], "--secrets-file", id="no-secrets-setting"),
        pytest.param(lambda d: ["fwd.example", str(d / "absent")], "secrets-file", id="absent"),
        pytest.param(lambda d: ["fwd.example", str(d / "empty")], "secrets-file", id="empty"),
        pytest.param(lambda d: ["fwd.example", str(d / "blank")], "secrets-file", id="blank"),
        pytest.param(lambda d: ["fwd.example", str(d)], "secrets-file", id="directory"),
        pytest.param(lambda d: ["$myhostname", str(d / "ok")], "--domain", id="macro-domain"),
        pytest.param(
            lambda d: ["fwd.example", str(d / "ok"), "--exclude-file", str(d / "absent")],
            "exclude-file",
            id="absent-exclude-file",
        ),
    ],
)
def test_bad_configuration_exits_2_with_one_line(
    run: Runner, tmp_path: Path, make_argv: Callable[[Path], list[str]], needle: str
) -> None:
    (tmp_path / "ok").write_text("s3cr3t-for-tests\n")
    (tmp_path / "ok").chmod(0o600)
    (tmp_path / "empty").write_text("")
    (tmp_path / "blank").write_text("\n  \r\n\n")
    status, stderr, ports = run(*make_argv(tmp_path))
    assert status == EXIT_CONFIG
    assert len(stderr) == 1, stderr
    assert stderr[0].startswith("pysrsd: ")
    assert needle in stderr[0]
    assert not any(listening(port) for port in ports)


def test_missing_config_file_exits_2_with_one_line(run: Runner, tmp_path: Path) -> None:
    (tmp_path / "ok").write_text("s3cr3t-for-tests\n")
    (tmp_path / "ok").chmod(0o600)
    status, stderr, _ = run("--config", str(tmp_path / "absent.toml"), "fwd.example", "ok")
    assert (status, len(stderr)) == (EXIT_CONFIG, 1), stderr
    assert "config" in stderr[0]
