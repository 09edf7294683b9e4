"""The project's own documentation: the settings reference is complete, the licence and the
changelog agree with pyproject, nothing points to a document outside the repository, and the
worked example of docs/hash.md is recomputed from the spec, by pysrsd and by the oracles."""

from __future__ import annotations

import base64
import calendar
import datetime
import functools
import hashlib
import hmac
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from harness import host_free_environment, require
from oracles import (
    PostsrsdInstance,
    found,
    mail_srs_forward,
    mail_srs_reverse,
    require_oracles,
)

from pysrsd.config.config_errors import flag, variable
from pysrsd.config.settings import Settings
from pysrsd.srs.engine import Engine, Rewritten, Unchanged

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_settings_reference_documents_every_setting(name: str) -> None:
    reference = (ROOT / "docs" / "settings.md").read_text()
    rows = [
        line for line in reference.splitlines() if line[:2] == "| " and f"`{flag(name)}`" in line
    ]
    assert rows, f"no row for {flag(name)}"
    assert f"`{variable(name)}`" in rows[0]
    if name != "config":
        assert f"`{name.replace('_', '-')}`" in rows[0]


def test_no_reference_to_a_design_document_outside_the_project() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = "DESIGN" + ".md"
    offenders = [
        name
        for name in files
        if (ROOT / name).is_file() and outside in (ROOT / name).read_text(errors="replace")
    ]
    assert offenders == []


def test_licence_file_is_the_licence_pyproject_declares() -> None:
    assert PYPROJECT["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 the pysrsd authors\n")


def test_changelog_has_the_released_version_and_an_unreleased_section() -> None:
    headings = [
        line for line in (ROOT / "CHANGELOG.md").read_text().splitlines() if line[:3] == "## "
    ]
    assert headings[0] == "## [Unreleased]"
    assert f"## [{PYPROJECT['project']['version']}]" in headings


# -- docs/hash.md: the worked example is recomputed, so the spec cannot drift -----------------
HASH_DOC = ROOT / "docs" / "hash.md"
B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def _example(name: str) -> dict[str, str]:
    """The ``key  value`` lines of the block after ``<!-- worked example: NAME -->``."""
    text = HASH_DOC.read_text()
    marker = f"<!-- worked example: {name} -->\n"
    assert marker in text, marker
    block = text.split(marker, 1)[1].split("```", 2)[1]
    lines = block.splitlines()[1:]  # after the info string
    pairs = [re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in lines if line.strip()]
    return {key: value for key, value in pairs}


def _hmac_b64(secret: str, text: str) -> tuple[str, str]:
    """(hex, base64) of HMAC-SHA1, with the standard library only."""
    mac = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return mac.hex(), base64.b64encode(mac).decode()


def _url(text: str) -> str:
    return text.translate(str.maketrans("+/", "-_"))


def test_hash_worked_example_is_the_specified_hmac() -> None:
    """Every number of the separated example from the spec's words, without pysrsd."""
    ex = _example("separated")
    when = datetime.datetime.strptime(ex["time"], "%Y-%m-%d %H:%M:%S UTC")
    unix = calendar.timegm(when.timetuple())
    assert int(ex["unix time"]) == unix
    day = unix // 86400
    assert int(ex["day"]) == day
    stamp = bytes((B32[(day >> 5) & 31], B32[day & 31])).decode()
    assert ex["day stamp"] == stamp
    user, _, host = ex["sender"].rpartition("@")
    assert ex["separated input"] == f"SRS0={stamp}={host}={user}".lower()
    hexdigest, encoded = _hmac_b64(ex["secret"], ex["separated input"])
    assert (ex["HMAC-SHA1"], ex["base64"]) == (hexdigest, encoded)
    assert len(encoded.rstrip("=")) == 27
    assert ex["hash"] == _url(encoded[:4])
    assert ex["address"] == f"SRS0={ex['hash']}={stamp}={host}={user}@{ex['SRS domain']}"

    classic = _example("concatenated")
    assert classic["concatenated input"] == (stamp + host + user).lower()
    hexdigest, encoded = _hmac_b64(ex["secret"], classic["concatenated input"])
    assert (classic["HMAC-SHA1"], classic["base64"]) == (hexdigest, encoded)
    assert classic["hash"] == encoded[:4]
    assert classic["address"] == f"SRS0={encoded[:4]}={stamp}={host}={user}@{ex['SRS domain']}"

    forgery = _example("forgery")
    both = (stamp + "gmail.co" + "mbob").lower()
    assert both == (stamp + "gmail.com" + "bob").lower()
    assert forgery["concatenated input of mbob@gmail.co"] == both
    assert forgery["concatenated input of bob@gmail.com"] == both
    assert forgery["concatenated hash of both"] == _hmac_b64(ex["secret"], both)[1][:4]
    for sender in ("mbob@gmail.co", "bob@gmail.com"):
        local, _, domain = sender.partition("@")
        text = f"srs0={stamp}={domain}={local}".lower()
        assert forgery[f"separated input of {sender}"] == text
        assert forgery[f"separated hash of {sender}"] == _url(_hmac_b64(ex["secret"], text)[1][:4])


def test_hash_worked_example_is_what_pysrsd_makes() -> None:
    ex = _example("separated")
    secret, domain = ex["secret"].encode(), ex["SRS domain"].encode()
    now = float(ex["unix time"])
    separated = Engine([secret], domain, clock=lambda: now)
    classic = Engine([secret], domain, clock=lambda: now, hash_input="concatenated")
    classic_b64 = Engine(
        [secret], domain, clock=lambda: now, hash_input="concatenated", hash_alphabet="base64"
    )
    sender = ex["sender"].encode()
    assert separated.forward(sender) == Rewritten(ex["address"].encode())
    assert separated.reverse(ex["address"].encode()) == Rewritten(sender)
    full = ex["base64"].rstrip("=")
    for given in (full[:4], full[:8], full[:8].swapcase(), _url(full)):  # as the text says
        address = ex["address"].replace(ex["hash"], given, 1).encode()
        assert separated.reverse(address) == Rewritten(sender), given
    concatenated = _example("concatenated")
    assert classic_b64.forward(sender) == Rewritten(concatenated["address"].encode())
    assert separated.reverse(concatenated["address"].encode()) == Unchanged("bad hash")

    forgery = _example("forgery")
    minted = classic.forward(b"mbob@gmail.co")
    hash_ = forgery["concatenated hash of both"]
    assert minted == Rewritten(f"SRS0={hash_}=ND=gmail.co=mbob@{ex['SRS domain']}".encode())
    shifted = f"SRS0={hash_}=ND=gmail.com=bob@{ex['SRS domain']}".encode()
    assert classic.reverse(shifted) == Rewritten(b"bob@gmail.com")
    assert separated.reverse(shifted) == Unchanged("bad hash")
    for sender_text in ("mbob@gmail.co", "bob@gmail.com"):
        mine = separated.forward(sender_text.encode())
        assert isinstance(mine, Rewritten)
        assert mine.address.split(b"=")[1].decode() == forgery[f"separated hash of {sender_text}"]


def test_hash_worked_example_concatenated_is_what_the_classic_implementations_mint() -> None:
    """Mail::SRS and postsrsd 1.10 (libsrs2) give the concatenated example's address, and
    reverse the forgery: the weakness is theirs, as the page says."""
    require_oracles()
    ex = _example("separated")
    secret, domain = ex["secret"].encode(), ex["SRS domain"].encode()
    now = float(ex["unix time"])
    address = _example("concatenated")["address"].encode()
    assert mail_srs_forward(secret, domain, [ex["sender"].encode()], now=now) == [address]
    hash_ = _example("forgery")["concatenated hash of both"]
    shifted = f"SRS0={hash_}=ND=gmail.com=bob@{ex['SRS domain']}".encode()
    assert mail_srs_reverse(secret, [shifted], now=now) == [b"bob@gmail.com"]
    with PostsrsdInstance([secret], domain, now=now) as postsrsd:
        assert found(postsrsd.forward([ex["sender"].encode()])) == [address]
        assert found(postsrsd.reverse([shifted])) == [b"bob@gmail.com"]


def test_hash_worked_example_openssl_command_prints_the_documented_encoding() -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (the same numbers are also checked with hmac)")
    text = HASH_DOC.read_text().split("<!-- worked example: openssl -->\n", 1)[1]
    command = text.split("```sh\n", 1)[1].split("```", 1)[0]
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == _example("separated")["base64"]


def test_hash_worked_example_pysrsctl_under_faketime(tmp_path: Path) -> None:
    """The page's pysrsctl command (with FILE holding the secret) prints the address."""
    require("faketime")
    ex = _example("separated")
    text = HASH_DOC.read_text().split("<!-- worked example: pysrsctl -->\n", 1)[1]
    command, after = text.split("```sh\n", 1)[1].split("```", 1)
    assert f"prints `{ex['address']}`" in after
    secrets = tmp_path / "FILE"
    secrets.write_text(ex["secret"] + "\n")
    secrets.chmod(0o600)
    args = shlex.split(command)
    assert args[:3] == ["TZ=UTC", "faketime", ex["time"].removesuffix(" UTC")]
    pysrsctl = [sys.executable, "-c", "from pysrsd.ctl import main; raise SystemExit(main())"]
    argv = [
        "faketime",
        args[2],
        *pysrsctl,
        *[str(secrets) if a == "FILE" else a for a in args[4:]],
    ]
    env = host_free_environment(TZ="UTC")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert (done.returncode, done.stdout) == (0, ex["address"] + "\n"), done.stderr


def test_hash_window_table_is_what_pysrsd_accepts() -> None:
    """The table of section 6, with classic addresses made from the spec (not by pysrsd)."""
    text = HASH_DOC.read_text().split("## 6.", 1)[1].split("## 7.", 1)[0]
    date = datetime.date.fromisoformat(re.findall(r"`DATE` (\d{4}-\d\d-\d\d)", text)[0])
    max_age = int(re.findall(r"`max-age` (\d+)", text)[0])
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in text.splitlines()
        if re.match(r"\| \d{4}-", line)
    ]
    assert len(rows) == 5
    secret = b"window table secret"
    for stamped_text, checked_text, verdict in rows:
        stamped = datetime.date.fromisoformat(stamped_text)
        checked = datetime.date.fromisoformat(checked_text)
        day = (stamped - datetime.date(1970, 1, 1)).days
        stamp = bytes((B32[(day >> 5) & 31], B32[day & 31]))
        mac = hmac.new(secret, stamp.lower() + b"example.com" + b"alice", hashlib.sha1).digest()
        address = b"SRS0=%s=%s=example.com=alice@fwd.example" % (base64.b64encode(mac)[:4], stamp)
        noon = float(calendar.timegm(checked.timetuple()) + 43200)
        engine = Engine(
            [secret],
            b"fwd.example",
            max_age=max_age,
            accept_concatenated_before=date,
            clock=functools.partial(float, noon),
        )
        accepted = isinstance(engine.reverse(address), Rewritten)
        assert accepted is verdict.startswith("yes"), (stamped, checked)
    last = date + datetime.timedelta(days=max_age - 1)
    assert f"| {last} |" in text and "`D + M - 1`" in text


def test_ci_runs_the_readme_test_command_as_written() -> None:
    """.ci/run runs the README's test route line for line (in order), with a Python that a
    stock Debian has (``python3``, then the virtual environment's), never a bare ``python``."""
    readme = (ROOT / "README.md").read_text()
    found_ = re.search(r"<!-- test command -->\n```sh\n(.*?)```", readme, re.DOTALL)
    assert found_ is not None, "README.md has no block marked <!-- test command -->"
    commands = [line for line in found_.group(1).splitlines() if line.strip()]
    assert commands[0] == "python3 -m venv .venv" and commands[-1].endswith(" -m pytest")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    positions = [ci.index(command) if command in ci else -1 for command in commands]
    assert -1 not in positions and positions == sorted(positions), (commands, positions)
    bare = [line for line in [*commands, *ci] if re.match(r"(?:\S+=\S+ )*(?:python|pip) ", line)]
    assert bare == []
