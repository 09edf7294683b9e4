"""A private Postfix instance and an SMTP sink, for end-to-end mail tests.

``PostfixInstance`` runs Debian's Postfix (3.7) from its own configuration directory
(``postfix -c DIR``) with its own queue, data directory and log file, one smtpd on a free
loopback port, no chroot, no DNS, local mailboxes inside the instance, and every non-local
domain relayed to ``Sink``: an aiosmtpd server in a thread on another free loopback port,
which records each envelope it receives ("the outside world").

Quirks of a private instance, found the hard way:
- the queue directory must exist before ``postfix start`` (it chdirs there first, then runs
  ``postfix check``, whose post-install creates the subdirectories: about 2 s on a fresh
  queue) and must not lie inside the configuration directory: the check wants everything
  under the configuration directory owned by root, and queue subdirectories belong to
  mail_owner; ``set-permissions`` is not needed;
- the data directory must be owned by mail_owner;
- the whole path to the instance must be traversable by mail_owner (pytest's tmp_path sits
  under a 0700 directory): daemons that drop privileges open the maillog, maps and the
  socketmap unix socket by absolute path;
- ``maillog_file`` needs the postlog service in master.cf and its directory listed in
  ``maillog_file_prefixes`` (the default allows only /var and /dev/stdout);
- ``postfix stop`` returns before master and its children have exited: wait for them.
Only root can run a Postfix instance (master starts as root); ``require_instance`` skips
otherwise, or fails under PYSRSD_REQUIRE_SYSTEM=1.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from harness import (
    SECRET,
    Daemon,
    free_ports,
    require,
    running_daemon,
    settled,
    write_secrets,
)

from pysrsd.ctl import forwarded, postconf
from pysrsd.ctl.postconf import Postfix

POSTFIX = "/usr/sbin/postfix"
WAIT = 30.0  # longest wait for a delivery, seconds

# The Debian master.cf services an SMTP relay needs, without chroot (column 5 "n").
_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
local      unix  - n n -  - local
virtual    unix  - n n -  - virtual
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


# Debian's master.cf runs these outside the chroot; every other service is chrooted in the queue
# directory (column 5 "y"), smtpd and cleanup included. Debian's postfix init script copies
# these files into the chroot.
_UNCHROOTED = {"qmgr", "proxymap", "proxywrite", "local", "virtual", "postlog"}
_CHROOT_FILES = ("localtime", "services", "resolv.conf", "hosts", "nsswitch.conf", "host.conf")


def debian_chroot(master_cf: str) -> str:
    """``master_cf`` with the chroot column as Debian ships it."""
    lines = []
    for line in master_cf.splitlines():
        fields = line.split()
        if fields[-1] not in _UNCHROOTED:
            fields[4] = "y"
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"


def require_instance() -> None:
    """Skip (or fail under PYSRSD_REQUIRE_SYSTEM=1) unless a private Postfix can run here."""
    require(POSTFIX, "postconf", "postqueue")
    if os.geteuid() != 0:
        message = "a private Postfix instance needs root (master(8) starts as root)"
        if os.environ.get("PYSRSD_REQUIRE_SYSTEM") == "1":
            pytest.fail(message + " (PYSRSD_REQUIRE_SYSTEM=1)")
        pytest.skip(message)


@contextmanager
def instance_dir(prefix: str = "pysrsd-e2e-") -> Iterator[Path]:
    """A fresh directory that the postfix account can traverse, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the outside world ---------------------------------------------------------------------
REFUSED = "refused"  # the sink refuses at RCPT every recipient whose local part starts so


@dataclass(frozen=True)
class Delivery:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    content: bytes

    def header(self, name: str) -> str:
        found = re.search(rb"^%s: (.*?)\r?$" % name.encode(), self.content, re.MULTILINE)
        return found.group(1).decode("utf-8", "replace") if found else ""

    @property
    def subject(self) -> str:
        return self.header("Subject")

    def received_from(self, helo: str) -> int:
        """Received: lines of SMTP hops whose client greeted as ``helo``."""
        pattern = rb"^Received: from %s " % re.escape(helo.encode())
        return len(re.findall(pattern, self.content, re.MULTILINE))


@dataclass
class _Recorder:
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower().startswith(REFUSED):  # an outside MX that knows no such user
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        delivery = Delivery(
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            mail_options=tuple(envelope.mail_options),
            content=bytes(envelope.original_content or b""),
        )
        with self.lock:
            self.deliveries.append(delivery)
        return "250 2.0.0 OK: recorded"


class Sink:
    """aiosmtpd on a free loopback port, SMTPUTF8 on, recording every delivery."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.port = free_ports()[0]
        self._recorder = _Recorder()
        self._controller = Controller(
            self._recorder,
            hostname=host,
            port=self.port,
            server_hostname="sink.example",  # not Postfix's myhostname: no mail loop
            enable_SMTPUTF8=True,
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def deliveries(self) -> list[Delivery]:
        with self._recorder.lock:
            return list(self._recorder.deliveries)

    def to(self, recipient: str) -> list[Delivery]:
        want = recipient.lower()
        return [d for d in self.deliveries() if want in (r.lower() for r in d.rcpt_tos)]

    def wait(
        self,
        match: Callable[[Delivery], bool],
        count: int = 1,
        *,
        flush: Callable[[], None] | None = None,
        timeout: float = WAIT,
    ) -> list[Delivery]:
        """The matching deliveries once there are ``count`` of them. Polls; after 5 s (and
        every 5 s) ``flush`` is called in case Postfix deferred something."""
        start = time.monotonic()
        next_flush = start + 5.0
        while True:
            found = [d for d in self.deliveries() if match(d)]
            if len(found) >= count:
                return found
            now = time.monotonic()
            if now - start > timeout:
                raise AssertionError(
                    f"{len(found)}/{count} matching deliveries after {timeout}s; sink has "
                    f"{[(d.mail_from, d.rcpt_tos) for d in self.deliveries()]}"
                )
            if flush is not None and now >= next_flush:
                flush()
                next_flush = now + 5.0
            time.sleep(0.05)


# -- Postfix ------------------------------------------------------------------------------
class PostfixInstance:
    """A private Postfix: ``postfix -c base/etc``, queue in base/spool, log in base/maillog."""

    def __init__(
        self,
        base: Path,
        *,
        relay_port: int,
        settings: Mapping[str, str],
        chroot: bool = False,
        configure: Callable[[Path], None] | None = None,
    ) -> None:
        self.base = base
        self.config_dir = base / "etc"
        self.queue_dir = base / "spool"
        self.data_dir = base / "data"
        self.maillog = base / "maillog"
        self.smtpd_port = free_ports()[0]
        self.relay_port = relay_port
        self.settings = dict(settings)
        self.chroot = chroot  # as Debian ships master.cf: smtpd, cleanup... chrooted
        self.configure = configure  # given the configuration directory before Postfix starts
        self._master_pid: int | None = None

    def main_cf(self) -> dict[str, str]:
        return {
            "compatibility_level": "3.6",
            "queue_directory": str(self.queue_dir),
            "data_directory": str(self.data_dir),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mx.fwd.example",
            "mydomain": "fwd.example",
            "myorigin": "$myhostname",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": f"[127.0.0.1]:{self.relay_port}",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtputf8_enable": "yes",
            "recipient_delimiter": "+",  # as Debian's main.cf; SRS hashes may contain "+"
            # Local mail stays in the instance: mailboxes under base/mail, and only the aliases
            # below are local recipients (an unknown one is "User unknown in local recipient
            # table" at RCPT time).
            "alias_maps": "inline:{ postmaster=root }",
            "alias_database": "",
            "local_recipient_maps": "$alias_maps",
            "mail_spool_directory": str(self.base / "mail"),
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.base),
            "biff": "no",
            # No postmaster notices (a double bounce is discarded rather than delivered).
            "notify_classes": "",
            **self.settings,
        }

    def _write_config(self) -> None:
        for path in (self.config_dir, self.queue_dir, self.data_dir):
            path.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.data_dir, user="postfix")
        (self.base / "mail").mkdir(exist_ok=True)
        (self.base / "mail").chmod(0o1777)
        lines = [f"{key} = {value}\n" for key, value in self.main_cf().items()]
        (self.config_dir / "main.cf").write_text("".join(lines))
        master_cf = _MASTER_CF.format(port=self.smtpd_port)
        if self.chroot:
            master_cf = debian_chroot(master_cf)
            (self.queue_dir / "etc").mkdir(exist_ok=True)
            for name in _CHROOT_FILES:
                with suppress(FileNotFoundError):
                    shutil.copy(Path("/etc") / name, self.queue_dir / "etc" / name)
        (self.config_dir / "master.cf").write_text(master_cf)
        settled(self.config_dir)

    def postfix(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [POSTFIX, "-c", str(self.config_dir), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"postfix {' '.join(args)} exited {result.returncode}: {result.stderr}\n"
                f"{self.log_text()}"
            )
        return result

    def start(self) -> None:
        self._write_config()
        if self.configure is not None:
            self.configure(self.config_dir)
        self.postfix("start")  # runs "postfix check" first, which creates the queue
        pid_file = self.queue_dir / "pid" / "master.pid"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self._master_pid = int(pid_file.read_text().split()[0])
                with socket.create_connection(("127.0.0.1", self.smtpd_port), timeout=2) as s:
                    if s.recv(512).startswith(b"220"):
                        return
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        raise RuntimeError(f"Postfix not ready after 15 s:\n{self.log_text()}")

    def stop(self) -> None:
        """``postfix stop``, then wait until master and every child have exited; kill what
        is left after 10 s, so that nothing outlives the test."""
        self.postfix("stop", check=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.processes():
            time.sleep(0.05)
        for pid in self.processes():
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def processes(self) -> list[int]:
        """This instance's master and children: their working directory is its queue."""
        found = []
        queue = str(self.queue_dir)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if cwd == queue or cwd.startswith(queue + "/"):
                found.append(int(entry.name))
        if self._master_pid is not None and _alive(self._master_pid):
            found.append(self._master_pid)
        return sorted(set(found))

    def flush(self) -> None:
        subprocess.run(
            ["postqueue", "-c", str(self.config_dir), "-f"],
            capture_output=True,
            timeout=30,
            check=False,
        )

    def queue_listing(self) -> str:
        result = subprocess.run(
            ["postqueue", "-c", str(self.config_dir), "-p"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return result.stdout

    def sendmail(self, mail_from: str, rcpt: str, *, subject: str) -> None:
        """Local submission (sendmail -> postdrop -> pickup): no smtpd, no RCPT check."""
        message = f"To: <{rcpt}>\nSubject: {subject}\n\npysrsd end-to-end test\n"
        subprocess.run(
            ["sendmail", "-C", str(self.config_dir), "-i", "-f", mail_from, "--", rcpt],
            input=message.encode(),
            capture_output=True,
            timeout=30,
            check=True,
        )

    def mailbox(self, user: str) -> str:
        """The local user's mailbox (mbox), as local(8) delivered it; empty if none yet."""
        try:
            return (self.base / "mail" / user).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_log(self, text: str) -> None:
        """Until the maillog has ``text``; an error with the log's tail after ``WAIT``."""
        deadline = time.monotonic() + WAIT
        while text not in self.log_text():
            if time.monotonic() > deadline:
                tail = "\n".join(self.log_text().splitlines()[-30:])
                raise AssertionError(f"no {text!r} in the maillog after {WAIT}s:\n{tail}")
            time.sleep(0.05)

    def log_text(self) -> str:
        try:
            return self.maillog.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def send(
        self,
        mail_from: str,
        rcpt_tos: Iterable[str],
        *,
        subject: str = "test",
        smtputf8: bool = False,
    ) -> dict[str, tuple[int, str]]:
        """One SMTP transaction; returns the RCPT reply per recipient. Addresses go on the
        wire exactly as given (smtplib's own quoting would strip a quoted local part)."""
        return submit(self.smtpd_port, mail_from, rcpt_tos, subject=subject, smtputf8=smtputf8)


def submit(
    port: int,
    mail_from: str,
    rcpt_tos: Iterable[str],
    *,
    subject: str = "test",
    smtputf8: bool = False,
) -> dict[str, tuple[int, str]]:
    replies: dict[str, tuple[int, str]] = {}
    with smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=30) as smtp:
        smtp.ehlo()
        if smtputf8:
            smtp.command_encoding = "utf-8"
        code, text = smtp.docmd("MAIL", f"FROM:<{mail_from}>" + (" SMTPUTF8" if smtputf8 else ""))
        if code != 250:
            raise AssertionError(f"MAIL FROM:<{mail_from}> refused: {code} {text!r}")
        for rcpt in rcpt_tos:
            code, text = smtp.docmd("RCPT", f"TO:<{rcpt}>")
            replies[rcpt] = (code, text.decode("utf-8", "replace"))
        if any(code == 250 for code, _ in replies.values()):
            message = (
                f"From: <{mail_from or 'MAILER-DAEMON@fwd.example'}>\r\n"
                f"To: {', '.join(f'<{r}>' for r in replies)}\r\n"
                f"Subject: {subject}\r\n"
                "\r\n"
                "pysrsd end-to-end test\r\n"
            ).encode()
            code, text = smtp.data(message)
            if code != 250:
                raise AssertionError(f"DATA refused: {code} {text!r}")
        else:
            smtp.rset()
    return replies


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- a forwarder: sink, pysrsd and Postfix together ---------------------------------------
EXCLUDED_DOMAIN = "excluded.example"
# smtpd's own complaint about RCPT TO:<"...@..."@local.domain> (test_quoted_at_sign_...)
EXPECTED_WARNINGS = ("Illegal address syntax from localhost[127.0.0.1] in RCPT command",)


def tcp_maps(forward_port: int, reverse_port: int) -> dict[str, str]:
    """examples/main.cf, with the daemon's ports."""
    return {
        "sender_canonical_maps": f"tcp:127.0.0.1:{forward_port}",
        "sender_canonical_classes": "envelope_sender",
        "recipient_canonical_maps": f"tcp:127.0.0.1:{reverse_port}",
        "recipient_canonical_classes": "envelope_recipient, header_recipient",
    }


FORWARDING = {
    # the forwarder: fwd.example (pysrsd's domain, harness.DOMAIN) is local, and its alias
    # forwards to a mailbox "outside", i.e. at the sink (which refuses "refused@"), or to a
    # domain this host relays to (relay_domains: relay_transport)
    "mydestination": "$myhostname, localhost, fwd.example",
    "virtual_alias_maps": "inline:{ fwd@fwd.example=bob@gmail.example, "
    "fwdrefused@fwd.example=refused@gmail.example, fwdrelay@fwd.example=carol@relayed.example }",
    "relay_domains": "relayed.example",
    # the same through local(8): an /etc/aliases entry, re-submitted to cleanup(8)
    "alias_maps": "inline:{ postmaster=root, fwdlocal=bob@gmail.example }",
}


@dataclass
class World:
    base: Path
    sink: Sink
    daemon: Daemon
    postfix: PostfixInstance
    secrets: Path
    daemon_args: tuple[str, ...] = ()  # the daemon's own, without its ports

    @contextmanager
    def daemon_again(self) -> Iterator[Daemon]:
        """pysrsd once more, after ``daemon.stop()``: same settings, same endpoints."""
        forward, reverse = str(self.daemon.forward_port), str(self.daemon.reverse_port)
        ports = ("--forward-port", forward, "--reverse-port", reverse)
        with running_daemon(self.base, self.secrets, *self.daemon_args, *ports) as daemon:
            yield daemon


@contextmanager
def postfix_running(
    base: Path,
    sink: Sink,
    settings: dict[str, str],
    *,
    chroot: bool = False,
    configure: Callable[[Path], None] | None = None,
) -> Iterator[PostfixInstance]:
    instance = PostfixInstance(
        base,
        relay_port=sink.port,
        settings={**FORWARDING, **settings},
        chroot=chroot,
        configure=configure,
    )
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
    # Only after a passing test (a failure's own report matters more):
    trouble = [
        line
        for line in instance.log_text().splitlines()
        if re.search(r"postfix/\S+\[\d+\]: (warning|error|fatal|panic):", line)
        and not any(expected in line for expected in EXPECTED_WARNINGS)
    ]
    left = instance.processes()
    assert not left, f"Postfix processes left running: {left}"
    assert not trouble, "Postfix logged:\n" + "\n".join(trouble)


def socketmap_maps(daemon: Daemon, sock: Path) -> dict[str, str]:
    """examples/main.cf's socketmap variant, without proxy: (no chroot here)."""
    return {
        "sender_canonical_maps": f"socketmap:unix:{sock}:forward",
        "sender_canonical_classes": "envelope_sender",
        "recipient_canonical_maps": f"socketmap:unix:{sock}:reverse",
        "recipient_canonical_classes": "envelope_recipient, header_recipient",
    }


SOCKETMAP = "pysrsd/socketmap"  # README and examples/main.cf: relative to the queue directory


def chrooted_socketmap_maps(daemon: Daemon, sock: Path) -> dict[str, str]:
    """README's socketmap lines: the socket named relative to the queue directory."""
    assert sock.as_posix().endswith("/spool/" + SOCKETMAP)
    return {
        "sender_canonical_maps": f"socketmap:unix:{SOCKETMAP}:forward",
        "sender_canonical_classes": "envelope_sender",
        "recipient_canonical_maps": f"socketmap:unix:{SOCKETMAP}:reverse",
        "recipient_canonical_classes": "envelope_recipient, header_recipient",
    }


Maps = Callable[[Daemon, Path], dict[str, str]]


def _tcp(daemon: Daemon, _sock: Path) -> dict[str, str]:
    return tcp_maps(daemon.forward_port, daemon.reverse_port)


def forwarded_only_layout(maps: Mapping[str, str], port: int, config_dir: Path) -> None:
    """The forwarded-only layout as ``pysrsctl setup --forwarded-only --postfix`` writes it
    (the same plan and steps: backups, postconf -M/-P/-e/-X, postfix check), with the maps
    ``maps`` names in main.cf style and the SRS hop's listener on ``port``."""
    postfix = Postfix(config_dir)
    forward, reverse = maps["sender_canonical_maps"], maps["recipient_canonical_maps"]
    for step in postconf.steps(postfix, forwarded.plan(postfix, forward, reverse, port)):
        if step.action is not None:
            step.action()
            settled(config_dir)


@contextmanager
def world(
    *daemon_args: str,
    maps: Maps = _tcp,
    chroot: bool = False,
    forwarded_only: bool = False,
    outside: str | None = None,
) -> Iterator[World]:
    """A sink, a pysrsd serving tcp_table and a unix socketmap (with an exclusion map), and a
    Postfix whose canonical maps are ``maps(daemon, socket_path)``. With ``chroot``, Postfix
    runs its services chrooted as Debian does, and the socket is where the README puts it:
    QUEUE/pysrsd/socketmap (``chrooted_socketmap_maps`` names it as main.cf does). With
    ``forwarded_only``, the same maps in the forwarded-only layout instead of the plain one.
    With ``outside`` (a loopback address other than Postfix's), there is no relayhost: the
    sink listens there and is reached as the recipient domain's own host, for recipients
    ``user@[outside]``, on the sink's port (``smtp_tcp_port``)."""
    require_instance()
    with ExitStack() as stack:
        base = stack.enter_context(instance_dir())
        sink = Sink(outside or "127.0.0.1")
        sink.start()
        stack.callback(sink.stop)
        direct = {"relayhost": "", "smtp_tcp_port": str(sink.port)} if outside else {}
        secrets = write_secrets(base / "secrets", SECRET)
        exclude = base / "exclude"
        exclude.write_text(f"# pysrsd exclusion map\n{EXCLUDED_DOMAIN}\n")
        sock = base / "pysrsd.sock"
        if chroot:  # PostfixInstance's queue directory, made before Postfix starts
            sock = base / "postfix" / "spool" / SOCKETMAP
            sock.parent.mkdir(parents=True)
        args = ["--exclude-file", str(exclude), "--socketmap", f"unix:{sock}", *daemon_args]
        daemon = stack.enter_context(running_daemon(base, secrets, *args))
        settings, configure = maps(daemon, sock), None
        if forwarded_only:
            configure = functools.partial(forwarded_only_layout, settings, free_ports()[0])
            settings = {}
        settings.update(direct)
        running = postfix_running(
            base / "postfix", sink, settings, chroot=chroot, configure=configure
        )
        postfix = stack.enter_context(running)
        yield World(base, sink, daemon, postfix, secrets, tuple(args))
        _check_daemon_log(daemon)  # only after a passing test, as in postfix_running


def _check_daemon_log(daemon: Daemon) -> None:
    """pysrsd logged no fault (a 400 would have made Postfix defer mail)."""
    faults = [
        line
        for line in daemon.log_text().splitlines()
        if re.search(r"level='(warning|error|critical)'", line)
    ]
    assert not faults, "pysrsd logged:\n" + "\n".join(faults)
