"""docs/migrating.md, step by step, against the real programs.

The old daemons are stood in for by Debian's oracles: Mail::SRS (``srs``) and postsrsd 1.10
mint byte for byte what libsrs2, and so pfix-srsd, mints (tests/oracles.py). postsrsd 2.x's
addresses are the same classic hashes written in base64url, and its envelope database rows are
written here in its schema (postsrsd 2.4, src/database.c). pysrsd is the real daemon, started
with the page's command lines and files, under libfaketime so that it runs on the days the page
talks about. Expected values come from the oracles or from the page, never from pysrsd.

The page's story: the old daemon stops on DATE - 1 at 14:00 UTC, DATE being the
``--accept-concatenated-before`` of its pfix-srsd command line.
"""

from __future__ import annotations

import base64
import calendar
import datetime
import grp
import hashlib
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from firsthour.scratch import require_scratch_root, run_as_root
from harness import (
    Client,
    Daemon,
    clock_environment,
    found_values,
    free_ports,
    postmap,
    require,
    running,
)
from oracles import (
    PostsrsdInstance,
    corpus,
    found,
    mail_srs_forward,
    mail_srs_reverse,
    require_oracles,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "migrating.md"
DAY = 86400
CTL = "from pysrsd.ctl import main; raise SystemExit(main())"
SECRET = b"migration test secret, 32 bytes"
SENDERS = [
    b"alice@example.com",
    b"Bob.Smith@Example.ORG",
    b"x=y+z@sub.example.net",
    "jürgen@bücher.example".encode(),
    b"mbob@gmail.co",
]
B32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

pytestmark = [pytest.mark.oracle, pytest.mark.usefixtures("oracle_programs")]


# -- the page -------------------------------------------------------------------------------
def block(name: str) -> str:
    """The fenced block after ``<!-- migrating: NAME -->`` (indented in a list item or not)."""
    found_ = re.search(
        rf"^( *)<!-- migrating: {re.escape(name)} -->\n\1```\w*\n(.*?)^\1```$",
        DOC.read_text(),
        re.MULTILINE | re.DOTALL,
    )
    assert found_ is not None, name
    indent = found_.group(1)
    lines = found_.group(2).splitlines(keepends=True)
    assert all(line.startswith(indent) or not line.strip() for line in lines), name
    return "".join(line[len(indent) :] for line in lines)


def pfix_command() -> list[str]:
    argv = shlex.split(block("pfix-srsd"))
    assert argv[0] == "pysrsd"
    return argv[1:]


def switch_date() -> datetime.date:
    argv = pfix_command()
    return datetime.date.fromisoformat(argv[argv.index("--accept-concatenated-before") + 1])


def at(day: datetime.date, clock: str = "12:00:00") -> float:
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return float(calendar.timegm((day.year, day.month, day.day, hours, minutes, seconds)))


DATE = switch_date()
STOP = at(DATE - datetime.timedelta(days=1), "14:00:00")  # the old daemon's last moment
MAX_AGE = 21
LAST_DAY = DATE + datetime.timedelta(days=MAX_AGE - 1)


# -- running things on another day ----------------------------------------------------------
def environment(when: float | None, **extra: str) -> dict[str, str]:
    if when is not None:
        require_oracles()  # faketime is one of them
    return clock_environment(when, **extra)


@contextmanager
def pysrsd_at(
    tmp: Path, args: Sequence[str], when: float, config: Path | None = None
) -> Iterator[Daemon]:
    """``python -m pysrsd ARGS`` running from ``when`` on (its clock then advances)."""
    env = environment(when, PYSRSD_CONFIG=str(config) if config else os.devnull)
    with running(tmp, [sys.executable, "-m", "pysrsd", *args], env) as daemon:
        yield daemon


def ctl(*args: str, when: float | None, config: Path | None = None) -> tuple[int, str, str]:
    env = environment(when, PYSRSD_CONFIG=str(config) if config else os.devnull)
    done = subprocess.run(
        [sys.executable, "-c", CTL, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def account(*files: Path) -> list[str]:
    """As root, the page's ``-U pysrsd``: here nobody:nogroup, which must read ``files``
    (``pysrsctl setup`` makes the secrets root:pysrsd 0640). Not root: no account."""
    if os.geteuid() != 0:
        return []
    gid = grp.getgrnam("nogroup").gr_gid
    for path in files:
        os.chown(path, 0, gid)
        path.chmod(0o640)
    return ["-U", "nobody", "-G", "nogroup"]


def pfix_args(secrets: Path, *, window: bool = True) -> list[str]:
    """The page's pfix-srsd command line, on free ports, with this test's secrets file."""
    argv = pfix_command()
    assert argv[argv.index("-e") + 1] == "10001" and argv[argv.index("-d") + 1] == "10002"
    argv[argv.index("-e") + 1] = argv[argv.index("-d") + 1] = "0"
    user = argv.index("-U")
    assert argv[user + 1] == "pysrsd"
    del argv[user : user + 2]
    if not window:
        option = argv.index("--accept-concatenated-before")
        del argv[option : option + 2]
    *options, domain, _secrets = argv
    return [*options, *account(secrets), domain, str(secrets)]


def domain() -> bytes:
    return pfix_command()[-2].encode()


@pytest.fixture
def secrets(open_tmp: Path) -> Path:
    path = open_tmp / "srsd.secrets"
    path.write_bytes(SECRET + b"\n")
    path.chmod(0o600)
    return path


def forwarded_srs0(when: float) -> bytes:
    """An SRS0 sender another forwarder minted on the day ``when`` (the old daemon makes an
    SRS1 address of it; the window judges that one by this stamp)."""
    day = int(when // DAY)
    stamp = bytes((B32[(day >> 5) & 31], B32[day & 31]))
    return b"SRS0=abcd=%s=orig.example=carol@hop1.example" % stamp


def minted_by_libsrs2(days_before: Sequence[float]) -> tuple[list[bytes], list[bytes]]:
    """(addresses, what they stand for): the senders forwarded by Mail::SRS (libsrs2's
    algorithm, so pfix-srsd's) at each of the moments, and their reverse on the stop day."""
    addresses: list[bytes] = []
    for before in days_before:
        when = STOP - before * DAY
        made = mail_srs_forward(SECRET, domain(), [*SENDERS, forwarded_srs0(when)], now=when)
        assert None not in made
        addresses += [a for a in made if a is not None]
    originals = mail_srs_reverse(SECRET, addresses, now=STOP)
    assert None not in originals
    return addresses, [o for o in originals if o is not None]


def shifted(address: bytes) -> bytes:
    """``docs/hash.md``'s forgery: SRS0=H=TT=gmail.co=mbob@D -> SRS0=H=TT=gmail.com=bob@D."""
    assert b"=gmail.co=mbob@" in address
    return address.replace(b"=gmail.co=mbob@", b"=gmail.com=bob@")


def forged(address: bytes) -> bytes:
    """The same address with the first character of its hash replaced (not a case change)."""
    local = address.split(b"@")[0]
    first = local[5:6]
    other = b"Q" if first.upper() != b"Q" else b"Z"
    return local[:5] + other + local[6:] + b"@" + address.split(b"@", 1)[1]


# -- which date ------------------------------------------------------------------------------
def test_the_page_story_is_the_day_after_the_old_daemons_last_day() -> None:
    text = " ".join(DOC.read_text().split())
    stop_day = DATE - datetime.timedelta(days=1)
    assert f"If pfix-srsd stops on {stop_day} at 14:00 UTC, DATE is {DATE}" in text
    assert f"{LAST_DAY} here" in text


def test_date_of_the_stop_day_would_refuse_that_mornings_addresses(secrets: Path) -> None:
    """An address the old daemon minted an hour before it stopped: refused with the stop
    day as DATE, accepted with the day after, as "Which date" says."""
    address = mail_srs_forward(SECRET, domain(), [b"alice@example.com"], now=STOP - 3600)[0]
    assert address is not None
    settings = ["--domain", domain().decode(), "--secrets-file", str(secrets)]
    stop_day = str(DATE - datetime.timedelta(days=1))
    wrong = ctl(
        "reverse",
        *settings,
        "--accept-concatenated-before",
        stop_day,
        address.decode(),
        when=STOP + 60,
    )
    assert wrong[:2] == (1, "") and "bad hash" in wrong[2]
    right = ctl(
        "reverse",
        *settings,
        "--accept-concatenated-before",
        str(DATE),
        address.decode(),
        when=STOP + 60,
    )
    assert right[:2] == (0, "alice@example.com\n"), right


# -- from pfix-srsd --------------------------------------------------------------------------
def test_pfix_srsd_command_line_reverses_what_pfix_srsd_minted(
    open_tmp: Path, secrets: Path
) -> None:
    """Minted 20 days, 1 day and 1 minute before the stop; reversed by pysrsd started with the
    page's command line just after it. Forged hashes are refused; new addresses are signed
    separated, so the mbob@gmail.co shift of an address pysrsd minted is refused too."""
    addresses, originals = minted_by_libsrs2([20, 1, 1 / 1440])
    with pysrsd_at(open_tmp, pfix_args(secrets), STOP + 5) as daemon:
        assert found_values(daemon.reverse_port, addresses) == originals
        assert found_values(daemon.reverse_port, [forged(a) for a in addresses]) == [None] * len(
            addresses
        )
        (mine,) = found_values(daemon.forward_port, [b"mbob@gmail.co"])
        assert mine is not None and mine.startswith(b"SRS0=")
        assert mine not in addresses  # separated input: not the classic hash
        assert found_values(daemon.reverse_port, [mine, shifted(mine)]) == [b"mbob@gmail.co", None]
    assert "event='concatenated_window_open'" in daemon.log_text()


def test_pfix_srsd_addresses_of_the_window_can_still_be_shifted_as_the_page_warns(
    open_tmp: Path, secrets: Path
) -> None:
    """docs/hash.md section 6: while the window is open, the forgery works on the classic
    addresses it accepts (and on no other)."""
    (old,) = mail_srs_forward(SECRET, domain(), [b"mbob@gmail.co"], now=STOP - DAY)
    (late,) = mail_srs_forward(SECRET, domain(), [b"mbob@gmail.co"], now=at(DATE, "00:00:01"))
    assert old is not None and late is not None
    assert mail_srs_reverse(SECRET, [shifted(old), shifted(late)], now=at(DATE)) == [
        b"bob@gmail.com",
        b"bob@gmail.com",
    ]  # classic SRS: both forgeries hold
    with pysrsd_at(open_tmp, pfix_args(secrets), at(DATE)) as daemon:
        found_ = found_values(daemon.reverse_port, [shifted(old), late, shifted(late)])
    assert found_ == [b"bob@gmail.com", None, None]  # stamped on DATE: not classic-accepted


def test_pfix_srsd_srs1_is_judged_by_the_first_forwarders_stamp(
    open_tmp: Path, secrets: Path
) -> None:
    """Two SRS1 addresses pfix-srsd minted the day before the stop, for SRS0 senders the first
    forwarder stamped 21 and 22 days before the stop: the window takes the first only; libsrs2
    would take both (it never ages SRS1), the first forwarder only the first."""
    senders = [forwarded_srs0(STOP - 21 * DAY), forwarded_srs0(STOP - 22 * DAY)]
    made = mail_srs_forward(SECRET, domain(), senders, now=STOP - DAY)
    assert all(a is not None and a.startswith(b"SRS1=") for a in made)
    addresses = [a for a in made if a is not None]
    assert mail_srs_reverse(SECRET, addresses, now=STOP) == senders
    with pysrsd_at(open_tmp, pfix_args(secrets), STOP + 5) as daemon:
        assert found_values(daemon.reverse_port, addresses) == [senders[0], None]


def test_pfix_srsd_window_closes_on_its_last_day(open_tmp: Path, secrets: Path) -> None:
    """The address the old daemon minted last verifies until DATE + max-age - 1, at 23:59:59;
    then the window closes (logged once) and nothing classic verifies any more."""
    addresses, originals = minted_by_libsrs2([1 / 1440])
    settings = ["--domain", domain().decode(), "--secrets-file", str(secrets)]
    window = ["--accept-concatenated-before", str(DATE)]
    for day, state in ((LAST_DAY, "open"), (LAST_DAY + datetime.timedelta(days=1), "closed")):
        status, out, _ = ctl("check", *settings, *window, when=at(day))
        assert status == 0
        assert f"window:      {state}: " in out and f"last day {LAST_DAY}" in out
    with pysrsd_at(open_tmp, pfix_args(secrets), at(LAST_DAY, "23:59:57")) as daemon:
        assert found_values(daemon.reverse_port, addresses) == originals
        deadline = time.monotonic() + 20
        while "concatenated_window_closed" not in daemon.log_text():
            assert time.monotonic() < deadline, daemon.log_text()
            time.sleep(0.1)
        assert found_values(daemon.reverse_port, addresses) == [None] * len(addresses)
    assert daemon.log_text().count("concatenated_window_closed") == 1


def test_pfix_srsd_in_concatenated_mode_mints_what_pfix_srsd_mints(
    open_tmp: Path, secrets: Path
) -> None:
    """The alternative: ``hash-input concatenated`` (and base64, as libsrs2 writes) is
    byte-identical both ways, and forgeable, as the page says."""
    addresses, originals = minted_by_libsrs2([20, 1 / 1440])
    compatible = ["--hash-input", "concatenated", "--hash-alphabet", "base64"]
    with pysrsd_at(open_tmp, [*compatible, *pfix_args(secrets, window=False)], STOP + 5) as daemon:
        assert found_values(daemon.reverse_port, addresses) == originals
        mine = found_values(daemon.forward_port, SENDERS)
        assert mine == mail_srs_forward(SECRET, domain(), SENDERS, now=STOP + 5)
        assert mine[-1] is not None
        assert found_values(daemon.reverse_port, [shifted(mine[-1])]) == [b"bob@gmail.com"]
    assert "event='hash_input_forgeable'" in daemon.log_text()


def test_pfix_srsd_socketmap_form_serves_its_map_names(open_tmp: Path, secrets: Path) -> None:
    """``-P socketmap -l PORT`` becomes ``--listen none --socketmap inet:127.0.0.1:PORT``;
    Postfix's own client asks the maps srsencoder and srsdecoder, as pfix-srsd's main.cf did."""
    require("postmap")
    (port,) = free_ports(1)
    argv = pfix_args(secrets)
    argv[argv.index("-e") : argv.index("-e") + 4] = []  # no tcp_table ports for socketmap
    args = ["--listen", "none", "--socketmap", f"inet:127.0.0.1:{port}", *argv]
    (address,) = mail_srs_forward(SECRET, domain(), [b"alice@example.com"], now=STOP - 600)
    assert address is not None
    with pysrsd_at(open_tmp, args, STOP + 5):
        table = f"socketmap:inet:127.0.0.1:{port}"
        assert postmap(address.decode(), f"{table}:srsdecoder") == "alice@example.com\n"
        encoded = postmap("dave@example.com", f"{table}:srsencoder")
        assert encoded.startswith("SRS0=") and encoded.endswith(f"@{domain().decode()}\n")
        assert postmap(encoded.strip(), f"{table}:reverse") == "dave@example.com\n"


@pytest.mark.parametrize(
    ("content", "flagged"),
    [
        pytest.param(SECRET + b"\nolder secret\n", [], id="plain-lines"),
        pytest.param(SECRET + b"\r\nolder secret\r\n", [], id="crlf"),
        pytest.param(b"\n" + SECRET + b"\n", [1], id="blank-first-line"),
        pytest.param(SECRET + b" \nolder\n", [1], id="trailing-space"),
        pytest.param(SECRET + b"\n\tolder\n", [2], id="leading-tab"),
    ],
)
def test_secrets_file_check_prints_the_lines_pfix_srsd_reads_differently(
    tmp_path: Path, content: bytes, flagged: list[int]
) -> None:
    path = tmp_path / "srsd.secrets"
    path.write_bytes(content)
    command = block("secrets check").replace("/etc/pfixtools/srsd.secrets", str(path))
    done = subprocess.run(["sh", "-c", command], capture_output=True, check=False)
    numbers = [int(line.split(b":")[0]) for line in done.stdout.splitlines()]
    assert numbers == flagged


# -- from postsrsd 1.x -----------------------------------------------------------------------
TEMPLATE = Path("/usr/share/postsrsd/postsrsd.template")  # Debian's /etc/default/postsrsd
EXCLUDE = ".example.com,example.org example.net"


def debian_defaults(root: Path) -> Path:
    """/etc/default/postsrsd as Debian ships it, with the domain and exclusions an
    administrator sets, and a secret made as Debian's postinst makes it; under ``root``."""
    require(str(TEMPLATE))
    (root / "etc" / "default").mkdir(parents=True)
    text = TEMPLATE.read_text().replace("/etc/postsrsd.secret", f"{root}/etc/postsrsd.secret")
    assert f"\nSRS_SECRET={root}/etc/postsrsd.secret\n" in text
    text += f'SRS_DOMAIN={domain().decode()}\nSRS_EXCLUDE_DOMAINS="{EXCLUDE}"\n'
    defaults = root / "etc" / "default" / "postsrsd"
    defaults.write_text(text)
    postinst = "( umask 0077 ; dd if=/dev/urandom bs=24 count=1 2>/dev/null | base64 -w0 > {} )"
    subprocess.run(["sh", "-c", postinst.format(root / "etc" / "postsrsd.secret")], check=True)
    return defaults


def run_block(text: str, root: Path, when: float | None) -> None:
    """A block of the page as a shell script, with /etc/ under ``root``."""
    script = text.replace("/etc/", f"{root}/etc/")
    done = subprocess.run(
        ["sh", "-ec", script], capture_output=True, text=True, env=environment(when), check=False
    )
    assert done.returncode == 0, done.stderr


def pysrsctl_shim(root: Path) -> Path:
    """``root``/bin holding a ``pysrsctl`` that runs this checkout with this interpreter, as
    the page's blocks call it."""
    shim = root / "bin"
    shim.mkdir(exist_ok=True)
    program = f'PYTHONPATH={ROOT / "src"} exec {sys.executable} -c "{CTL}" "$@"'
    (shim / "pysrsctl").write_text(f"#!/bin/sh\n{program}\n")
    (shim / "pysrsctl").chmod(0o755)
    return shim


def converted(root: Path) -> Path:
    """The page's conversion block (``pysrsctl migrate-from postsrsd``) run as root in a
    scratch root, where /etc/default/postsrsd is Debian's made under ``root``; the files it
    wrote in /etc/pysrsd, copied under ``root`` with pysrsd.toml naming them there, with the
    account of this test in place of ``pysrsd``."""
    debian_defaults(root)
    require_scratch_root()
    script = f"""
cp {root}/etc/default/postsrsd /etc/default/postsrsd
export PATH={pysrsctl_shim(root)}:$PATH
{block("postsrsd 1.x settings")}
mkdir -p {root}/etc/pysrsd
cp /etc/pysrsd/* {root}/etc/pysrsd/
"""
    done = run_as_root(script, root / "scratch")
    assert done.returncode == 0, done.stdout + done.stderr
    config = root / "etc" / "pysrsd" / "pysrsd.toml"
    text = config.read_text().replace('"/etc/pysrsd/', f'"{root}/etc/pysrsd/')
    assert '\nuser = "pysrsd"\n' in text
    mine = (
        '\nuser = "nobody"\ngroup = "nogroup"\n'
        if account(root / "etc" / "pysrsd" / "secrets")
        else "\n"
    )
    config.write_text(text.replace('\nuser = "pysrsd"\n', mine))
    return config


def switched(config: Path, root: Path, when: float) -> None:
    """The switch block's ``echo`` line, run at ``when``."""
    (echo,) = [line for line in block("switch").splitlines() if line.startswith("echo ")]
    run_block(echo, root, when)
    assert config.read_text().endswith(f"\naccept-concatenated-before = {DATE}\n")


def test_switch_reloads_postfix_once_the_old_daemon_is_stopped_and_pysrsd_started() -> None:
    """Postfix's processes keep their tcp_table connections, which a postsrsd 1.x stopped by
    its pid keeps answering from its forked processes (tests/firsthour/test_migrate_from.py
    shows it): the page's switch reloads Postfix after the stop and the start."""
    lines = block("switch").splitlines()
    stop = next(i for i, line in enumerate(lines) if "disable --now postsrsd" in line)
    start = next(i for i, line in enumerate(lines) if line.startswith("pysrsctl setup "))
    assert lines.index("postfix reload") > max(stop, start)
    assert "**Why `postfix reload`.**" in DOC.read_text()


class DebianPostsrsd(PostsrsdInstance):
    """postsrsd 1.10 with the exclusions Debian's launcher passes (``-X$SRS_EXCLUDE_DOMAINS``)
    and without ``-A``; remembers its ports."""

    def __init__(self, secret: bytes, now: float) -> None:
        super().__init__([secret], domain(), always_rewrite=False, now=now)
        self.ports = (0, 0)

    def _command(self, secrets_file: Path, forward_port: int, reverse_port: int) -> list[str]:
        self.ports = (forward_port, reverse_port)
        return [*super()._command(secrets_file, forward_port, reverse_port), f"-X{EXCLUDE}"]


def test_postsrsd_1x_conversion_writes_what_the_variables_say(open_tmp: Path) -> None:
    config = converted(open_tmp)
    etc = open_tmp / "etc"
    secret = (etc / "postsrsd.secret").read_bytes()
    assert (etc / "pysrsd" / "secrets").read_bytes() == secret + b"\n"
    assert len((etc / "postsrsd.secret").read_bytes()) == 32  # Debian's: no line end
    assert (etc / "pysrsd" / "exclude").read_text().split("\n") == [
        ".example.com",
        "example.org",
        "example.net",
        "",
    ]
    settings = tomllib.loads(config.read_text())
    assert settings["domain"] == domain().decode()
    assert settings["secrets-file"] == f"{etc}/pysrsd/secrets"
    assert (settings["forward-port"], settings["reverse-port"]) == (10001, 10002)
    assert (settings["hash-length"], settings["hash-min"], settings["separator"]) == (4, 4, "=")
    assert settings["listen"] == ["127.0.0.1"]
    status, out, err = ctl("check", when=None, config=config)
    assert status == 0, err
    assert "exclusions:  3 entries" in out


def test_postsrsd_1x_addresses_reverse_in_pysrsd_configured_by_the_page(open_tmp: Path) -> None:
    """A sample of the oracle corpus, minted by postsrsd 1.10 run as Debian runs it on three
    days before the stop, reverses in pysrsd (converted settings, switched) to what postsrsd
    itself reverses it to; both exclude the same senders."""
    config = converted(open_tmp)
    secret = (open_tmp / "etc" / "postsrsd.secret").read_bytes()
    srs = re.compile(rb"srs[01][=+-]", re.IGNORECASE)
    senders = [s for s in corpus()[::7] if not srs.match(s)] + SENDERS
    addresses: list[bytes] = []
    for before in (20, 3, 1 / 1440):
        when = STOP - before * DAY
        with DebianPostsrsd(secret, when) as old:
            made = found(old.forward([*senders, forwarded_srs0(when)]))
            addresses += [a for a in made if a is not None]
    assert len(addresses) > 2 * len(senders)
    excludable = [
        b"a@example.com",
        b"a@sub.example.com",
        b"a@example.org",
        b"a@sub.example.org",
        b"a@EXAMPLE.NET",
        b"a@example.network",
    ]
    with DebianPostsrsd(secret, STOP + 5) as old:
        expected = found(old.reverse(addresses))
        excluded = [value.startswith(b"Domain excluded") for _, value in old.forward(excludable)]
    assert expected.count(None) == 0
    assert excluded == [False, True, True, False, True, False]
    switched(config, open_tmp, STOP + 5)
    with pysrsd_at(
        open_tmp, ["--forward-port", "0", "--reverse-port", "0"], STOP + 5, config
    ) as new:
        assert found_values(new.reverse_port, addresses) == expected
        with Client(new.forward_port) as client:
            replies = [client.get(sender) for sender in excludable]
    assert [reply == b"500 domain%20excluded\n" for reply in replies] == excluded


def test_check_block_reverses_what_the_running_old_daemon_mints(open_tmp: Path) -> None:
    """The page's check, as written, while postsrsd 1.10 still serves: ``pysrsctl check`` and
    the offline reverse of a fresh address, an hour before the stop."""
    require("postmap")
    config = converted(open_tmp)
    secret = (open_tmp / "etc" / "postsrsd.secret").read_bytes()
    shim = pysrsctl_shim(open_tmp)
    old = DebianPostsrsd(secret, STOP - 3600)
    with old:
        script = block("check").replace("tcp:127.0.0.1:10001", f"tcp:127.0.0.1:{old.ports[0]}")
        env = environment(STOP - 3600, PYSRSD_CONFIG=str(config))
        env["PATH"] = f"{shim}:{env['PATH']}"
        done = subprocess.run(
            ["sh", "-ec", script], capture_output=True, text=True, env=env, check=False
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("\nyou@example.com\n"), done.stdout
    assert "window:      none" in done.stdout  # the date is set at the switch


# -- rollback ---------------------------------------------------------------------------------
def test_rollback_to_postsrsd_1x_reads_only_the_compatible_addresses(open_tmp: Path) -> None:
    """After a rollback, postsrsd 1.10 reverses what pysrsd minted in the compatible scheme
    (the page's two lines, byte-identical to its own) and none of the separated ones."""
    config = converted(open_tmp)
    secret = (open_tmp / "etc" / "postsrsd.secret").read_bytes()
    plain = [s for s in SENDERS if not s.endswith(b"@Example.ORG")]  # excluded by the map
    ports = ["--forward-port", "0", "--reverse-port", "0"]
    with pysrsd_at(open_tmp, ports, STOP + DAY, config) as separated:
        new = found_values(separated.forward_port, plain)
    config.write_text(config.read_text() + block("compatible"))
    with pysrsd_at(open_tmp, ports, STOP + DAY, config) as compatible:
        same = found_values(compatible.forward_port, plain)
    with DebianPostsrsd(secret, STOP + DAY + 5) as old:
        assert found(old.forward(plain)) == same
        assert found(old.reverse([a for a in same if a])) == plain
        assert found(old.reverse([a for a in new if a])) == [None] * len(plain)


# -- from postsrsd 2.x -----------------------------------------------------------------------
POSTSRSD2_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kv (k TEXT NOT NULL UNIQUE ON CONFLICT REPLACE,"
    "v TEXT NOT NULL,lt INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS ltidx ON kv (lt)"
)


def postsrsd2_address(sender: bytes, now: float) -> bytes:
    """What postsrsd 2.x mints embedded: the classic hash (Mail::SRS's), in base64url."""
    (address,) = mail_srs_forward(SECRET, domain(), [sender], now=now)
    assert address is not None and address.startswith(b"SRS0=")
    hash_, rest = address[5:].split(b"=", 1)
    return b"SRS0=%s=%s" % (hash_.translate(bytes.maketrans(b"+/", b"-_")), rest)


def test_postsrsd_2x_settings_serve_its_socketmap_and_its_database(open_tmp: Path) -> None:
    """The page's pysrsd.toml for a postsrsd 2.x site: its socket, its SQLite file (a row
    written the way postsrsd 2.x writes it), its embedded and database addresses."""
    require("postmap")
    root = open_tmp
    (root / "etc" / "pysrsd").mkdir(parents=True)
    (root / "spool").mkdir()
    (root / "lib").mkdir()
    secrets = root / "etc" / "pysrsd" / "secrets"
    secrets.write_bytes(SECRET + b"\n")
    (root / "etc" / "pysrsd" / "exclude").write_text("")
    database = root / "lib" / "senders.db"
    sender = b"Long.Sender.Name@example.com"
    key = base64.b32hexencode(hashlib.sha1(sender).digest()) + b"@1"
    with sqlite3.connect(database) as db:
        db.executescript(POSTSRSD2_SCHEMA)
        lifetime = int(STOP - DAY) + MAX_AGE * DAY
        db.execute(
            "INSERT INTO kv (k, v, lt) VALUES (?, ?, ?)", (key.decode(), sender.decode(), lifetime)
        )
    db.close()
    by_alias = postsrsd2_address(key, STOP - DAY)
    embedded = postsrsd2_address(b"alice@example.com", STOP - DAY)
    assert b"=1=" in by_alias
    text = block("postsrsd 2.x settings")
    text = text.replace("/etc/", f"{root}/etc/")
    text = text.replace("/var/spool/postfix/pysrsd/socketmap", f"{root}/spool/socketmap")
    text = text.replace("/var/lib/postsrsd/senders.db", str(database))
    if account(secrets):
        os.chown(root / "lib", 65534, -1)
        os.chown(database, 65534, -1)
        text = text.replace('user = "pysrsd"', 'user = "nobody"\ngroup = "nogroup"')
    else:
        text = text.replace('user = "pysrsd"\n', "")
    config = root / "etc" / "pysrsd" / "pysrsd.toml"
    config.write_text(text)
    switched(config, root, STOP + 5)
    with pysrsd_at(root, [], STOP + 5, config):
        table = f"socketmap:unix:{root}/spool/socketmap"
        assert postmap(by_alias.decode(), f"{table}:reverse") == sender.decode() + "\n"
        assert postmap(embedded.decode(), f"{table}:reverse") == "alice@example.com\n"
        new = postmap("carol@example.net", f"{table}:forward").strip()
    carol = base64.b32hexencode(hashlib.sha1(b"carol@example.net").digest()).decode() + "@1"
    assert new.startswith("SRS0=") and new.endswith(f"=1={carol[:-2]}@{domain().decode()}")
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT v, lt FROM kv WHERE k = ?", (carol,)).fetchall()
    db.close()
    assert [row[0] for row in rows] == ["carol@example.net"]
    # kept until its address stops verifying: the end of day today + max-age (UTC)
    assert rows[0][1] == (int(STOP + 5) // DAY + MAX_AGE + 1) * DAY
