"""What the README's operations section promises when pysrsd is down: Postfix defers, loses
nothing. SMTP clients get ``451 4.3.0`` at RCPT (they retry), locally submitted mail stays
queued, and once pysrsd answers again the queued mail goes out, rewritten."""

from __future__ import annotations

import postfix_instance
import pytest
from mailflow import ALIAS, FORWARD_TO, reverse, token
from postfix_instance import world

pytestmark = pytest.mark.postfix


def test_a_stopped_daemon_defers_mail_and_loses_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # Postfix's own complaints while pysrsd is down are the point of this test
    down = ("connect to TCP map 127.0.0.1:", "lookup error")
    expected = (*postfix_instance.EXPECTED_WARNINGS, *down)
    monkeypatch.setattr(postfix_instance, "EXPECTED_WARNINGS", expected)
    with world() as w:
        w.daemon.stop()
        sender = f"queued-{token()}@example.com"
        code, text = w.postfix.send(sender, [ALIAS])[ALIAS]
        assert (code, text.split()[0]) == (451, "4.3.0"), text
        w.postfix.sendmail(sender, ALIAS, subject=sender)
        assert not w.sink.to(FORWARD_TO)
        with w.daemon_again():
            (delivery,) = w.sink.wait(lambda d: d.subject == sender, flush=w.postfix.flush)
        assert delivery.rcpt_tos == (FORWARD_TO,)
        assert reverse(delivery.mail_from) == sender
