"""pysrsctl, run as the administrator runs it (a subprocess), against files and a daemon."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from harness import DOMAIN, SECRET, ctl, require_root, running_daemon, write_secrets
from oracles import mail_srs_forward, require_oracles


def test_genkey_writes_a_random_secret_and_rotates(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "pysrsd" / "secrets"
    first = ctl("genkey", "--owner", _me(), str(path))
    assert first.returncode == 0, first.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    (secret,) = path.read_text().splitlines()
    assert len(secret) >= 40
    again = ctl("genkey", str(path))
    assert again.returncode == 2
    assert "--rotate" in again.stderr
    assert path.read_text() == secret + "\n"  # not overwritten
    rotated = ctl("genkey", "--rotate", str(path))
    assert rotated.returncode == 0
    new, old = path.read_text().splitlines()
    assert old == secret and new != secret
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert secret not in rotated.stdout + rotated.stderr


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def test_offline_forward_and_reverse_with_the_daemons_settings(tmp_path: Path) -> None:
    require_oracles()
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    env = {"PYSRSD_DOMAIN": DOMAIN, "PYSRSD_SECRETS_FILE": str(secrets)}
    env |= {"PYSRSD_HASH_INPUT": "concatenated", "PYSRSD_HASH_ALPHABET": "base64"}  # the oracle's
    (expected,) = mail_srs_forward(SECRET.encode(), DOMAIN.encode(), [b"alice@example.com"])
    assert expected is not None
    forward = ctl("forward", "alice@example.com", env=env)
    assert (forward.returncode, forward.stdout) == (0, expected.decode() + "\n")
    reverse = ctl("reverse", expected.decode(), env=env)
    assert (reverse.returncode, reverse.stdout) == (0, "alice@example.com\n")
    forged = expected.decode().replace("SRS0=", "SRS0=A", 1)
    refused = ctl("reverse", forged, env=env)
    assert refused.returncode == 1
    assert refused.stdout == ""
    own = ctl("forward", f"bob@{DOMAIN}", env=env)
    assert own.returncode == 1


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        pytest.param(["check", "--domain", "fwd.example"], "--secrets-file", id="no-secrets"),
        pytest.param(
            ["check", "--domain", "$myhostname", "--secrets-file", "/x"], "--domain", id="domain"
        ),
        pytest.param(
            ["check", "--domain", "fwd.example", "--secrets-file", "/nonexistent"],
            "secrets-file",
            id="missing-file",
        ),
    ],
)
def test_check_names_the_bad_setting(args: list[str], mentions: str) -> None:
    result = ctl(*args)
    assert result.returncode == 2
    assert mentions in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_reports_a_good_configuration(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET, "older secret")
    result = ctl("check", "--domain", DOMAIN, "--secrets-file", str(secrets))
    assert result.returncode == 0, result.stderr
    assert "secrets:     2" in result.stdout
    assert SECRET not in result.stdout


def test_check_warns_about_a_misspelt_variable(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    env = {"PYSRSD_SECRETS_FILE": str(secrets), "PYSRSD_MAX_AGEE": "30"}
    result = ctl("check", "--domain", DOMAIN, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (
        "warning: PYSRSD_MAX_AGEE: unknown variable; did you mean PYSRSD_MAX_AGE?\n"
    )


@pytest.mark.parametrize(
    ("options", "hash_line", "window_line"),
    [
        pytest.param([], "separated input, new hashes in base64url", "none: classic", id="default"),
        pytest.param(
            ["--hash-input", "concatenated", "--hash-alphabet", "base64"],
            "concatenated input (classic SRS: forgeable), new hashes in base64 ",
            "none needed",
            id="concatenated",
        ),
        pytest.param(
            ["--accept-concatenated-before", "2999-01-01", "--max-age", "10"],
            "separated input",
            "open: classic hashes accepted on addresses stamped before 2999-01-01, "
            "last day 2999-01-10",
            id="window-open",
        ),
        pytest.param(
            ["--accept-concatenated-before", "2001-02-03"],
            "separated input",
            "closed: classic hashes accepted on addresses stamped before 2001-02-03, "
            "last day 2001-02-23",
            id="window-closed",
        ),
    ],
)
def test_check_shows_the_hash_mode_and_the_window(
    tmp_path: Path, options: list[str], hash_line: str, window_line: str
) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    result = ctl("check", "--domain", DOMAIN, "--secrets-file", str(secrets), *options)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("hash: ") and hash_line in line for line in lines), lines
    assert any(line.startswith("window: ") and window_line in line for line in lines), lines


def test_query_asks_the_running_daemon(tmp_path: Path) -> None:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    with running_daemon(tmp_path, secrets) as daemon:
        port = ["--port", str(daemon.forward_port)]
        found = ctl("query", *port, "carol@example.com")
        assert found.returncode == 0
        assert found.stdout.startswith("SRS0=")
        back = ctl("query", "--reverse", "--port", str(daemon.reverse_port), found.stdout.strip())
        assert (back.returncode, back.stdout) == (0, "carol@example.com\n")
        missing = ctl("query", "--reverse", "--port", str(daemon.reverse_port), "x@example.com")
        assert missing.returncode == 1
        assert "500" in missing.stderr
    down = ctl("query", "--port", str(daemon.forward_port), "carol@example.com")
    assert down.returncode == 3


def test_genkey_as_root_gives_the_daemon_read_but_not_write(tmp_path: Path) -> None:
    """Owner root, the daemon's group, 0640; rotation keeps all three (the daemon reloads
    the file as its own account and must still read it, and never write it)."""
    require_root("changing owners")
    import grp
    import pwd

    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "secrets"
    assert ctl("genkey", "--owner", "nobody", str(path)).returncode == 0
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, nobody.pw_gid, 0o640)
    staff = grp.getgrnam("staff").gr_gid
    os.chown(path, 0, staff)
    path.chmod(0o600)
    assert ctl("genkey", "--rotate", str(path)).returncode == 0
    info = path.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, staff, 0o600)
    assert len(path.read_text().splitlines()) == 2


def test_genkey_as_root_without_the_account_says_what_to_do(tmp_path: Path) -> None:
    require_root("another account's files")
    import pwd

    try:
        pwd.getpwnam("pysrsd")
        pytest.skip("the pysrsd account exists here")
    except KeyError:
        pass
    result = ctl("genkey", str(tmp_path / "secrets"))
    assert result.returncode == 2
    assert "pysrsctl setup" in result.stderr
    assert not (tmp_path / "secrets").exists()


def test_genkey_as_a_user_writes_a_private_file(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root files go to the daemon's group")
    path = tmp_path / "secrets"
    assert ctl("genkey", str(path)).returncode == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_version_and_every_option_of_pysrsctl_has_help_text() -> None:
    """The daemon's setting options are shared (their help is checked with the daemon's)."""
    from pysrsd import __version__, build
    from pysrsd.ctl import build_parser, options

    version = ctl("--version")
    assert (version.returncode, version.stdout) == (0, f"pysrsctl {__version__} ({build()})\n")
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    for name, sub in commands.choices.items():  # type: ignore[attr-defined]
        for action in sub._actions:
            if action.dest in options._setting_names():
                continue
            assert action.help, f"pysrsctl {name} {action.option_strings or action.dest}"
