"""Mail scenarios' building blocks: send through the forwarder and see what the sink got;
mint and reverse SRS addresses with pysrsd.srs.engine.Engine and a known secret (an independent
check: the daemon under test is never asked)."""

from __future__ import annotations

import re
import time
import uuid

from harness import DOMAIN, SECRET
from postfix_instance import WAIT, Delivery, World

from pysrsd.srs.engine import Engine, Rewritten
from pysrsd.srs.hashing import Alphabet

FORWARD_TO = "bob@gmail.example"
ALIAS = f"fwd@{DOMAIN}"
LOCAL = f"postmaster@{DOMAIN}"  # delivered by local(8) to root's mailbox
NULL_SENDER = "<>"  # how aiosmtpd records MAIL FROM:<>
DAY = 86400.0


def token() -> str:
    return uuid.uuid4().hex[:8]


def engine(
    *secrets: str, domain: str = DOMAIN, days_ago: float = 0, alphabet: Alphabet = "base64url"
) -> Engine:
    return Engine(
        [s.encode() for s in secrets or (SECRET,)],
        domain.encode(),
        hash_alphabet=alphabet,
        clock=lambda: time.time() - days_ago * DAY,
    )


def reverse(address: str, *secrets: str, domain: str = DOMAIN) -> str | None:
    outcome = engine(*secrets, domain=domain).reverse(address.encode())
    return outcome.address.decode() if isinstance(outcome, Rewritten) else None


def mint(
    address: str,
    *secrets: str,
    domain: str = DOMAIN,
    days_ago: float = 0,
    alphabet: Alphabet = "base64url",
) -> str:
    outcome = engine(*secrets, domain=domain, days_ago=days_ago, alphabet=alphabet).forward(
        address.encode()
    )
    assert isinstance(outcome, Rewritten), outcome
    return outcome.address.decode()


def send(world: World, sender: str, rcpt: str, *, smtputf8: bool = False) -> Delivery:
    """One mail from ``sender`` to ``rcpt`` through Postfix: what the sink received."""
    subject = token()
    replies = world.postfix.send(sender, [rcpt], subject=subject, smtputf8=smtputf8)
    assert replies[rcpt][0] == 250, replies
    return wait_subject(world, subject)


def post(world: World, sender: str, *rcpts: str) -> str:
    """One mail from ``sender`` to ``rcpts``, every one accepted; its (unique) Subject."""
    subject = token()
    replies = world.postfix.send(sender, rcpts, subject=subject)
    assert all(code == 250 for code, _ in replies.values()), replies
    return subject


def wait_subject(world: World, subject: str) -> Delivery:
    """The one delivery of the mail with this Subject; Postfix's log tail if it never comes."""
    try:
        (delivery,) = world.sink.wait(lambda d: d.subject == subject, flush=world.postfix.flush)
    except AssertionError as exc:
        log = "\n".join(world.postfix.log_text().splitlines()[-30:])
        queue = world.postfix.queue_listing()
        raise AssertionError(f"{exc}\nqueue: {queue}\nmaillog:\n{log}") from None
    return delivery


def forward(world: World, sender: str, *, smtputf8: bool = False, alias: str = ALIAS) -> Delivery:
    delivery = send(world, sender, alias, smtputf8=smtputf8)
    assert delivery.rcpt_tos == (FORWARD_TO,)
    return delivery


def bounce(world: World, srs_address: str, *, smtputf8: bool = False) -> Delivery:
    delivery = send(world, "", srs_address, smtputf8=smtputf8)
    assert delivery.mail_from == NULL_SENDER
    return delivery


def local_copy(world: World, subject: str, user: str = "root") -> str:
    """The copy of the mail with this Subject that local(8) put in ``user``'s mailbox (root's:
    postmaster's alias), headers included; Postfix's log tail if it never comes."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        copies = world.postfix.mailbox(user).split("\nFrom ")
        found = [copy for copy in copies if f"\nSubject: {subject}\n" in copy]
        if found:
            (copy,) = found
            return copy
        time.sleep(0.05)
    log = "\n".join(world.postfix.log_text().splitlines()[-30:])
    raise AssertionError(f"no copy of {subject} in {user}'s mailbox\nmaillog:\n{log}")


def return_path(copy: str) -> str:
    """The envelope sender local(8) recorded in a delivered copy."""
    found = re.search(r"^Return-Path: <(.*)>$", copy, re.MULTILINE)
    assert found, copy
    return found.group(1)
