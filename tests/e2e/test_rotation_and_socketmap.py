"""Scenarios that need a forwarder of their own: rotating the secret under load and
the socketmap protocol over a unix socket."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
from harness import DOMAIN, SECRET, Daemon, write_secrets
from mailflow import ALIAS, FORWARD_TO, bounce, forward, mint, reverse, token
from postfix_instance import chrooted_socketmap_maps, socketmap_maps, world

pytestmark = pytest.mark.postfix

N = 50
NEW_SECRET = "the secret after rotation"


def _reloads(daemon: Daemon) -> int:
    return daemon.log_text().count("event='reloaded'")


def test_rotating_the_secret_while_mail_flows_loses_nothing() -> None:
    """N mails submitted back to back; after a third, the secrets file gets a new line on top
    and the daemon SIGHUP. Every mail arrives once, each sender reverses; mails finished before
    the rotation are signed with the old secret, mails started after the reload with the new."""
    with world() as w:
        tag = token()
        senders = [f"r{i:02d}-{tag}@example.com" for i in range(N)]
        started, finished = [0], [0]
        problems: list[object] = []
        third = threading.Event()

        def submit_all() -> None:
            try:
                for sender in senders:
                    started[0] += 1
                    replies = w.postfix.send(sender, [ALIAS], subject=sender)
                    if replies[ALIAS][0] != 250:
                        problems.append(replies)
                    finished[0] += 1
                    if finished[0] == N // 3:
                        third.set()
            except Exception as exc:  # re-raised by the main thread
                problems.append(exc)
                third.set()

        reloads = _reloads(w.daemon)
        thread = threading.Thread(target=submit_all, name="submitter")
        thread.start()
        try:
            assert third.wait(30)
            old_only = finished[0]
            write_secrets(w.secrets, NEW_SECRET, SECRET)  # new line on top, old one kept
            w.daemon.signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while _reloads(w.daemon) == reloads and time.monotonic() < deadline:
                time.sleep(0.005)
            new_only = started[0]
        finally:
            thread.join(60)
        assert not thread.is_alive()
        assert not problems, problems
        assert _reloads(w.daemon) > reloads, w.daemon.log_text()
        assert new_only < N, "the reload came after the last mail: not a rotation under load"

        got = w.sink.wait(lambda d: d.subject in senders, N, flush=w.postfix.flush)
        assert sorted(d.subject for d in got) == senders  # each exactly once
        by_sender = {d.subject: d for d in got}
        for i, sender in enumerate(senders):
            srs = by_sender[sender].mail_from
            assert by_sender[sender].rcpt_tos == (FORWARD_TO,)
            assert reverse(srs, NEW_SECRET, SECRET) == sender
            if i < old_only:
                assert reverse(srs, NEW_SECRET) is None, (i, srs)
            elif i >= new_only:
                assert reverse(srs, SECRET) is None, (i, srs)

        # after the rotation, bounces to addresses signed with either secret still come back
        assert bounce(w, by_sender[senders[0]].mail_from).rcpt_tos == (senders[0],)
        assert bounce(w, by_sender[senders[-1]].mail_from).rcpt_tos == (senders[-1],)


def _proxied(daemon: Daemon, sock: Path) -> dict[str, str]:
    maps = socketmap_maps(daemon, sock)
    maps["recipient_canonical_maps"] = "proxy:" + maps["recipient_canonical_maps"]
    return maps


@pytest.mark.parametrize(
    ("maps", "chroot"),
    [
        pytest.param(socketmap_maps, False, id="socketmap"),
        pytest.param(_proxied, False, id="proxy-socketmap"),
        # README and examples/main.cf: the socket in the queue directory, smtpd and cleanup
        # chrooted there as Debian ships them
        pytest.param(chrooted_socketmap_maps, True, id="chrooted-queue-socketmap"),
    ],
)
def test_socketmap_over_unix_socket_forward_and_bounce(maps, chroot: bool) -> None:  # type: ignore[no-untyped-def]
    with world(maps=maps, chroot=chroot) as w:
        sender = f"alice-{token()}@example.com"
        srs = forward(w, sender).mail_from
        local = sender.split("@")[0]
        assert srs.startswith("SRS0=") and srs.endswith(f"=example.com={local}@{DOMAIN}")
        assert reverse(srs) == sender
        assert bounce(w, srs).rcpt_tos == (sender,)
        forged = mint(sender, "not our secret")
        code, text = w.postfix.send("", [forged])[forged]
        assert code == 550 and "User unknown" in text
        assert "tcp:" not in (w.postfix.config_dir / "main.cf").read_text()
        if chroot:  # the mail really went through chrooted smtpd and cleanup
            master_cf = (w.postfix.config_dir / "master.cf").read_text()
            for service in ("smtpd", "cleanup"):
                (line,) = [x for x in master_cf.splitlines() if x.endswith(" " + service)]
                assert line.split()[4] == "y", line
