"""The forwarded-only layout with real Postfix: the sender is rewritten exactly on the copies
that leave the host, decided after alias expansion, per recipient copy.

Each forwarder is built by the project's own setup plan (``forwarded_only_layout``: the
commands ``pysrsctl setup --forwarded-only --postfix`` runs), once with tcp_table maps and
once with socketmap inside Debian's chroot layout; the scenarios share one forwarder per map
kind. Root's mailbox (postmaster's alias) is the local mailbox; the sink is the outside world
and relayhost, and refuses "refused@" recipients at RCPT. How often a copy took the SRS hop
is counted in its Received: lines (``hops``); a loop would show more than one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import postfix_instance
import pytest
from harness import DOMAIN
from mailflow import (
    ALIAS,
    FORWARD_TO,
    LOCAL,
    NULL_SENDER,
    bounce,
    local_copy,
    mint,
    post,
    return_path,
    reverse,
    token,
    wait_subject,
)
from postfix_instance import (
    EXCLUDED_DOMAIN,
    REFUSED,
    Delivery,
    World,
    chrooted_socketmap_maps,
    world,
)

pytestmark = pytest.mark.postfix

MYHOSTNAME = "mx.fwd.example"  # PostfixInstance's
ALIASES = [
    pytest.param(ALIAS, id="virtual_alias_maps"),
    pytest.param(f"fwdlocal@{DOMAIN}", id="aliases"),
]
MAPS = [
    pytest.param({}, id="tcp"),
    pytest.param({"maps": chrooted_socketmap_maps, "chroot": True}, id="socketmap-chroot"),
]


@pytest.fixture(scope="module", params=MAPS)
def forwarder(request: pytest.FixtureRequest) -> Iterator[World]:
    with world(forwarded_only=True, **request.param) as running:
        yield running


def hops(copy: Delivery) -> int:
    """Passes through the SRS hop: its smtp client greets the hop's smtpd as myhostname (the
    test client greets as client.example, and a copy forwarded by local(8) gets a Received:
    line without "from")."""
    return copy.received_from(MYHOSTNAME)


def test_mail_to_a_local_mailbox_keeps_its_sender(forwarder: World) -> None:
    sender = f"alice-{token()}@example.com"
    subject = post(forwarder, sender, LOCAL)
    assert return_path(local_copy(forwarder, subject)) == sender
    assert [d for d in forwarder.sink.deliveries() if d.subject == subject] == []


@pytest.mark.parametrize("alias", ALIASES)
def test_a_forwarded_copy_leaves_with_srs0_through_the_hop_once(
    forwarder: World, alias: str
) -> None:
    sender = f"alice-{token()}@example.com"
    copy = wait_subject(forwarder, post(forwarder, sender, alias))
    assert copy.rcpt_tos == (FORWARD_TO,)
    assert copy.mail_from.startswith("SRS0=") and copy.mail_from.endswith(f"@{DOMAIN}")
    assert reverse(copy.mail_from) == sender
    assert hops(copy) == 1
    assert copy.header("From") == f"<{sender}>"


def test_one_message_to_a_mailbox_and_an_alias_is_rewritten_only_where_it_leaves(
    forwarder: World,
) -> None:
    sender = f"alice-{token()}@example.com"
    subject = post(forwarder, sender, LOCAL, ALIAS)
    forwarded = wait_subject(forwarder, subject)
    assert reverse(forwarded.mail_from) == sender
    assert (forwarded.rcpt_tos, hops(forwarded)) == ((FORWARD_TO,), 1)
    assert return_path(local_copy(forwarder, subject)) == sender


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda t: f"carol-{t}@{EXCLUDED_DOMAIN}", id="excluded-domain"),
        pytest.param(lambda t: f"dave-{t}@{DOMAIN}", id="own-domain"),
        pytest.param(lambda t: mint(f"dave-{t}@example.com"), id="own-srs0"),
    ],
)
def test_a_sender_pysrsd_keeps_leaves_unchanged_through_the_hop_once(
    forwarder: World, make: Callable[[str], str]
) -> None:
    """A local user writing out (relayed for 127.0.0.1, in mynetworks), or a forward of
    mail from such a sender: pysrsd answers "not found", the copy leaves as it came, once."""
    sender = make(token())
    for rcpt in (FORWARD_TO, ALIAS):
        copy = wait_subject(forwarder, post(forwarder, sender, rcpt))
        assert (copy.mail_from, copy.rcpt_tos, hops(copy)) == (sender, (FORWARD_TO,), 1)


def test_relay_domains_copies_take_the_hop_too(forwarder: World) -> None:
    sender = f"alice-{token()}@example.com"
    copy = wait_subject(forwarder, post(forwarder, sender, f"fwdrelay@{DOMAIN}"))
    assert copy.rcpt_tos == ("carol@relayed.example",)
    assert (reverse(copy.mail_from), hops(copy)) == (sender, 1)


def test_a_bounce_to_the_srs_address_reaches_the_original_sender(forwarder: World) -> None:
    sender = f"alice-{token()}@example.com"
    srs = wait_subject(forwarder, post(forwarder, sender, ALIAS)).mail_from
    back = bounce(forwarder, srs)
    assert back.rcpt_tos == (sender,)
    assert hops(back) == 1  # the bounce left through the hop, its null sender kept


def test_a_recipient_refused_outside_makes_postfix_tell_the_original_sender(
    forwarder: World,
) -> None:
    """The outside MX refuses the forwarded copy at RCPT: the hop's queue entry bounces to
    its (SRS) sender, which the reverse map turns back into the original one."""
    sender = f"alice-{token()}@example.com"
    subject = post(forwarder, sender, f"fwdrefused@{DOMAIN}")

    def notice(d: Delivery) -> bool:
        return d.rcpt_tos == (sender,) and subject.encode() in d.content

    (dsn,) = forwarder.sink.wait(notice, flush=forwarder.postfix.flush)
    assert dsn.mail_from == NULL_SENDER
    assert f"{REFUSED}@gmail.example".encode() in dsn.content
    assert b"no such user here" in dsn.content
    assert [d for d in forwarder.sink.deliveries() if d.subject == subject] == []


def test_without_relayhost_a_copy_leaves_for_the_recipient_domain_rewritten() -> None:
    """No relayhost: after the hop, the copy goes to the recipient domain's own host (here an
    address literal, [127.0.0.2]), as it would have gone without the hop."""
    with world(forwarded_only=True, outside="127.0.0.2") as w:
        sender, outside = f"alice-{token()}@example.com", "bob@[127.0.0.2]"
        copy = wait_subject(w, post(w, sender, outside))
        assert (copy.rcpt_tos, reverse(copy.mail_from), hops(copy)) == ((outside,), sender, 1)
        assert "relay=127.0.0.2[127.0.0.2]" in w.postfix.log_text()


# Postfix's complaints while pysrsd is down, the point of the next test: the reverse map (a
# bounce to an SRS address), then the hop's cleanup refusing the copy.
DOWN = (
    "connect to TCP map 127.0.0.1:",
    "connect to pysrsd/socketmap:",
    "lookup error",
    "map lookup problem for",
)


@pytest.mark.parametrize("variant", MAPS)
def test_with_pysrsd_down_forwarded_copies_wait_and_local_mail_is_delivered(
    monkeypatch: pytest.MonkeyPatch, variant: dict[str, object]
) -> None:
    expected = (*postfix_instance.EXPECTED_WARNINGS, *DOWN)
    monkeypatch.setattr(postfix_instance, "EXPECTED_WARNINGS", expected)
    with world(forwarded_only=True, **variant) as w:  # type: ignore[arg-type]
        w.daemon.stop()
        sender = f"queued-{token()}@example.com"
        subject = post(w, sender, LOCAL, ALIAS)  # accepted: no pysrsd needed for that
        assert return_path(local_copy(w, subject)) == sender
        bounced = mint(sender)
        assert w.postfix.send("", [bounced])[bounced][0] == 451  # bounces wait outside
        w.postfix.wait_log(f"map lookup problem for {sender}")  # the hop refused the copy
        assert FORWARD_TO in w.postfix.queue_listing()
        with w.daemon_again():
            w.postfix.flush()
            copy = wait_subject(w, subject)
        assert reverse(copy.mail_from) == sender
        assert [d for d in w.sink.deliveries() if d.mail_from == sender] == []
