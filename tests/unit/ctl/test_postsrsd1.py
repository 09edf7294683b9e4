"""postsrsd 1.x's variables → pysrsd's settings (``pysrsd.ctl.postsrsd1``): the defaults file
read as Debian's launcher reads it, each variable's mapping, and the TOML written.
The command that writes the files is tested as root in tests/firsthour/test_migrate_from.py."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest
from harness import require

from pysrsd.ctl import postsrsd1
from pysrsd.errors import ConfigError

TEMPLATE = Path("/usr/share/postsrsd/postsrsd.template")  # Debian's /etc/default/postsrsd


def variables(**given: str) -> dict[str, str]:
    return {**postsrsd1.LAUNCHER, **given}


def no_mydomain() -> str | None:
    raise AssertionError("postconf asked although SRS_DOMAIN is set")


def test_debians_file_reads_as_the_launcher_reads_it(tmp_path: Path) -> None:
    require(str(TEMPLATE))
    defaults = tmp_path / "postsrsd"
    text = TEMPLATE.read_text() + 'SRS_DOMAIN=fwd.example\nSRS_EXCLUDE_DOMAINS="a.example, .b"\n'
    defaults.write_text(text + 'SRS_EXTRA_OPTIONS="-A -t 60"\nSRS_FORWARD_PORT=$((10000+3))\n')
    found = postsrsd1.read_defaults(defaults)
    assert found == variables(
        SRS_DOMAIN="fwd.example",
        SRS_EXCLUDE_DOMAINS="a.example, .b",
        SRS_EXTRA_OPTIONS="-A -t 60",
        SRS_FORWARD_PORT="10003",
    )


def test_a_defaults_file_others_can_write_is_refused(tmp_path: Path) -> None:
    defaults = tmp_path / "postsrsd"
    defaults.write_text("SRS_DOMAIN=fwd.example\n")
    defaults.chmod(0o666)
    with pytest.raises(ConfigError, match="--defaults: refusing"):
        postsrsd1.read_defaults(defaults)


def test_every_variable_maps_to_its_setting() -> None:
    found = postsrsd1.convert(
        variables(
            SRS_DOMAIN="fwd.example",
            SRS_EXCLUDE_DOMAINS=".example.com,example.org;x.example\tz.example",
            SRS_SEPARATOR="+",
            SRS_HASHLENGTH="6",
            SRS_HASHMIN="5",
            SRS_FORWARD_PORT="20001",
            SRS_REVERSE_PORT="20002",
            SRS_LISTEN_ADDR="::1",
            SRS_SECRET="/etc/other.secret",
            SRS_EXTRA_OPTIONS="-A -t30 -p /run/postsrsd.pid -6 -D",
        ),
        no_mydomain,
    )
    assert found.settings == {
        "domain": "fwd.example",
        "secrets-file": "/etc/pysrsd/secrets",
        "exclude-file": "/etc/pysrsd/exclude",
        "user": "pysrsd",
        "listen": ["::1"],
        "forward-port": 20001,
        "reverse-port": 20002,
        "separator": "+",
        "hash-length": 6,
        "hash-min": 5,
        "always-rewrite": True,
        "idle-timeout": 30,
        "pidfile": "/run/postsrsd.pid",
    }
    assert found.secret == Path("/etc/other.secret")
    assert found.exclusions == (".example.com", "example.org", "x.example", "z.example")
    assert any(note.startswith("-D: ") for note in found.notes)
    assert any(note.startswith("-6: ") for note in found.notes)


def test_launcher_defaults_give_pysrsds_defaults_and_no_exclude_file() -> None:
    found = postsrsd1.convert(variables(SRS_DOMAIN="fwd.example"), no_mydomain)
    assert "exclude-file" not in found.settings and found.exclusions == ()
    assert (found.settings["forward-port"], found.settings["reverse-port"]) == (10001, 10002)
    assert found.settings["listen"] == ["127.0.0.1"] and found.settings["separator"] == "="


def test_unset_domain_is_postfixs_mydomain() -> None:
    assert postsrsd1.convert(variables(), lambda: "mail.example\n").settings["domain"] == (
        "mail.example"
    )
    with pytest.raises(ConfigError, match="SRS_DOMAIN is not set"):
        postsrsd1.convert(variables(), lambda: None)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param("-X foo", "option -X not recognized", id="unknown-option"),
        pytest.param("-t", "option -t requires argument", id="missing-argument"),
        pytest.param("-t soon", "is not a number", id="not-a-number"),
        pytest.param("-A stray", "unexpected 'stray'", id="stray-word"),
    ],
)
def test_extra_options_pysrsd_cannot_take_over_stop_the_migration(extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        postsrsd1.convert(variables(SRS_DOMAIN="fwd.example", SRS_EXTRA_OPTIONS=extra), no_mydomain)


def test_rendered_settings_read_back_as_toml() -> None:
    settings: dict[str, postsrsd1.Value] = {
        "domain": 'quo"te.example',
        "listen": ["127.0.0.1", "::1"],
        "forward-port": 10001,
        "always-rewrite": False,
        "accept-concatenated-before": date(2026, 3, 11),
        "secrets-file": "/etc/pysrsd/sécrets",
    }
    assert tomllib.loads(postsrsd1.render(settings)) == settings
