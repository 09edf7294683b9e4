"""The policy layer: which lookups are rewritten, which are not found, and that faults (and
only faults) become temporary failures."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pysrsd.config.keyring import Keyring
from pysrsd.policy import tables
from pysrsd.policy.exclusions import Exclusions, parse_exclusions
from pysrsd.policy.state import Policy, State
from pysrsd.srs.engine import Engine, Rewritten
from pysrsd.wire.lookup import Answer, Status, Table

NOW = 1_760_000_000.0
DOMAIN = b"fwd.example"
SECRET = b"tables unit secret"


def make_state(
    *, exclusions: bytes = b"", always_rewrite: bool = False, any_domain: bool = False
) -> State:
    engine = Engine([SECRET], DOMAIN, clock=lambda: NOW)
    keyring = Keyring((SECRET,), "fp", too_open=False)
    return State(
        engine, parse_exclusions(exclusions), keyring, Policy(DOMAIN, always_rewrite, any_domain)
    )


def srs0(address: bytes, domain: bytes = DOMAIN, secret: bytes = SECRET) -> bytes:
    outcome = Engine([secret], domain, clock=lambda: NOW).forward(address)
    assert isinstance(outcome, Rewritten)
    return outcome.address


@pytest.mark.parametrize(
    ("key", "status", "text"),
    [
        pytest.param(b"alice", Status.NOT_FOUND, b"not a valid address", id="no-at"),
        pytest.param(b"@example.com", Status.NOT_FOUND, b"not a valid address", id="no-local"),
        pytest.param(b"a@", Status.NOT_FOUND, b"not a valid address", id="no-domain"),
        pytest.param(b"a@fwd.example", Status.NOT_FOUND, b"already at the SRS domain", id="own"),
        pytest.param(b"a@FWD.EXAMPLE", Status.NOT_FOUND, b"already at the SRS domain", id="own-uc"),
        pytest.param(b"a@x.example.com", Status.NOT_FOUND, b"domain excluded", id="excl-sub"),
        pytest.param(b"a@example.net", Status.NOT_FOUND, b"domain excluded", id="excl-domain"),
        pytest.param(b"Bob@Example.Org", Status.NOT_FOUND, b"address excluded", id="excl-addr"),
    ],
)
def test_forward_not_found(key: bytes, status: Status, text: bytes) -> None:
    state = make_state(exclusions=b".example.com\nexample.net\nbob@example.org\n")
    assert tables.forward(state, key) == Answer(status, text)


@pytest.mark.parametrize("sender", [b"0@1", b"postmaster@1", b"0123456789ABCDEFGHIJKLMNOPQRSTU@1"])
def test_a_sender_at_domain_1_comes_back_from_its_bounce(sender: bytes) -> None:
    """postsrsd 2.x reads every ``user@1`` as a database alias: the SRS address of the sender
    ``0@1`` reversed to a 400 ("no envelope database"), deferring mail. Only a 32-character
    base32hex key at ``1`` is an alias."""
    state = make_state()
    minted = tables.forward(state, sender)
    assert isinstance(minted, Answer) and minted.status is Status.FOUND
    assert tables.reverse(state, minted.text) == Answer(Status.FOUND, sender)


def test_a_sender_shaped_like_a_database_alias_is_not_rewritten() -> None:
    """Its SRS address would reverse to a database lookup, never to the sender."""
    key = b"0123456789ABCDEFGHIJKLMNOPQRSTUV@1"
    for sender in (key, key.lower()):
        assert tables.forward(make_state(), sender) == Answer(
            Status.NOT_FOUND, b"sender has the form of a database alias"
        )


def test_forward_rewrites_and_guards_foreign_srs() -> None:
    state = make_state()
    assert tables.forward(state, b"alice@example.com") == Answer(
        Status.FOUND, srs0(b"alice@example.com")
    )
    foreign = srs0(b"alice@example.com", domain=b"hop1.example", secret=b"other")
    answer = tables.forward(state, foreign)
    assert answer.status is Status.FOUND and answer.text.startswith(b"SRS1=")
    assert answer.text.endswith(b"@fwd.example")


def test_always_rewrite_rewrites_own_domain_once() -> None:
    state = make_state(always_rewrite=True)
    answer = tables.forward(state, b"a@fwd.example")
    assert answer.status is Status.FOUND and answer.text.startswith(b"SRS0=")
    # Postfix feeds the result back in: it must map to itself, not become SRS1.
    assert tables.forward(state, answer.text).status is Status.NOT_FOUND


def test_results_map_to_themselves() -> None:
    """Postfix re-queries a result until it maps to itself: our results must be not found."""
    state = make_state()
    rewritten = tables.forward(state, b"carol@example.com").text
    assert tables.forward(state, rewritten).status is Status.NOT_FOUND
    original = tables.reverse(state, rewritten).text
    assert original == b"carol@example.com"
    assert tables.reverse(state, original).status is Status.NOT_FOUND


@pytest.mark.parametrize(
    ("key", "text"),
    [
        pytest.param(b"alice@example.com", b"not an SRS address", id="plain"),
        pytest.param(b"SRS2=x=y=z=w@fwd.example", b"not an SRS address", id="srs2"),
        pytest.param(
            b"SRS0=x=y=z=w@elsewhere.example", b"SRS address of another domain", id="foreign"
        ),
        pytest.param(
            b"SRS0=AAAA=AA=example.com=a@fwd.example", b"expired or invalid day stamp", id="stamp"
        ),
        pytest.param(b"SRS0=broken@fwd.example", b"malformed SRS0 address", id="fields"),
    ],
)
def test_reverse_not_found(key: bytes, text: bytes) -> None:
    assert tables.reverse(make_state(), key) == Answer(Status.NOT_FOUND, text)


def test_reverse_any_domain() -> None:
    address = srs0(b"dave@example.com").replace(b"@fwd.example", b"@alias.example")
    assert tables.reverse(make_state(), address).status is Status.NOT_FOUND
    assert tables.reverse(make_state(any_domain=True), address) == Answer(
        Status.FOUND, b"dave@example.com"
    )


def test_forged_reverse_is_not_found_never_temp() -> None:
    forged = srs0(b"victim@example.com", secret=b"attacker")
    assert tables.reverse(make_state(), forged) == Answer(Status.NOT_FOUND, b"bad hash")


class _BrokenExclusions(Exclusions):
    def match(self, address: bytes) -> str | None:
        raise RuntimeError("bug")


def test_internal_fault_is_a_temporary_failure() -> None:
    """A bug (here in the exclusion map, so that the engine and the tables stay as built,
    compiled or not) answers 400: Postfix retries, nothing is lost."""
    state = dataclasses.replace(make_state(), exclusions=_BrokenExclusions())
    assert tables.lookup(state, Table.FORWARD, b"e@example.com") == Answer(
        Status.TEMP_FAIL, b"internal error"
    )


def test_lookups_are_logged_without_the_secret() -> None:
    """One event per lookup at debug level, in a fresh process (loggers are cached)."""
    program = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pysrsd.policy import tables
from pysrsd.observe import logs
from pysrsd.wire.lookup import Table
from test_tables import make_state, srs0
logs.configure("debug", "json")
state = make_state()
for key in [b"f@example.com", srs0(b"f@example.com"), b"SRS0=x@fwd.example"]:
    tables.lookup(state, Table.FORWARD, key)
    tables.lookup(state, Table.REVERSE, key)
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [e["event"] for e in events].count("rewrite") == 2
    assert all({"table", "address"} <= e.keys() for e in events)
    assert SECRET.decode() not in result.stderr


def test_refused_bounces_are_logged_at_info_and_ordinary_recipients_are_not() -> None:
    """At the default level: each refused SRS bounce with its reason; nothing for the
    recipients every delivery asks about, nor for SRS addresses of other domains."""
    program = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pysrsd.policy import tables
from pysrsd.observe import logs
from pysrsd.wire.lookup import Table
from test_tables import make_state, srs0
logs.configure("info", "json")
state = make_state()
forged = srs0(b"victim@example.com", secret=b"attacker")
keys = [b"alice@example.com", b'"a b"@example.com', b"SRS0=x=y=z=w@elsewhere.example",
        forged, b"SRS0=AAAA=AA=example.com=a@fwd.example", b"SRS0=broken@fwd.example"]
for key in keys:
    tables.lookup(state, Table.REVERSE, key)
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert [(e["event"], e["level"], e["reason"]) for e in events] == [
        ("refused", "info", "bad hash"),
        ("refused", "info", "expired or invalid day stamp"),
        ("refused", "info", "malformed SRS0 address"),
    ]
    assert events[0]["address"] == srs0(b"victim@example.com", secret=b"attacker").decode()


class Untouchable(Exclusions):
    """An exclusion map that fails the test if any lookup reaches it."""

    def match(self, address: bytes) -> str | None:
        raise AssertionError(f"policy work on a key of {len(address)} bytes")


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(b"a." * 50_000 + b"@" + b"b." * 50_000 + b"example.com", id="many-dots"),
        pytest.param(b"x" * 1012 + b"@" + b"example.com", id="just-over"),
    ],
)
def test_a_key_longer_than_any_address_is_refused_before_any_policy_work(key: bytes) -> None:
    """An address is at most 1,023 octets here (as postsrsd 1.x's buffers): a longer key is
    not found at once, whatever the exclusion map holds, so it costs no more than a normal
    lookup. (A 100 KB socketmap key with many dots used to hold the event loop 1.36 s.)"""
    state = dataclasses.replace(make_state(), exclusions=Untouchable(parents=frozenset({b".x"})))
    assert tables.forward(state, key) == Answer(Status.NOT_FOUND, b"address too long")
    reverse_key = b"SRS0=" + key
    assert tables.reverse(state, reverse_key) == Answer(Status.NOT_FOUND, b"address too long")


def test_a_quoted_sender_shaped_like_a_database_alias_is_not_rewritten_either() -> None:
    """The quotes do not change what the hash covers: ``"KEY"@1`` was signed, and its SRS
    address (unquoted by Postfix) then reversed to the database alias ``KEY@1``: in database
    mode a direct client of the map could read the stored sender of any alias it named."""
    key = b"0123456789ABCDEFGHIJKLMNOPQRSTUV"
    for local in (key, key.lower()):
        assert tables.forward(make_state(), b'"' + local + b'"@1') == Answer(
            Status.NOT_FOUND, b"sender has the form of a database alias"
        )


def test_a_database_address_without_a_database_is_not_found_not_deferred() -> None:
    """Without an envelope database (embedded mode) a database SRS address can never be
    answered: 500, an address problem, not a 400 that would defer every mail to it."""
    state = make_state()
    alias_address = Engine([SECRET], DOMAIN, clock=lambda: NOW).forward(
        b"0123456789ABCDEFGHIJKLMNOPQRSTUV@1"
    )
    assert isinstance(alias_address, Rewritten)
    answer = tables.reverse(state, alias_address.address)
    assert isinstance(answer, Answer) and answer.status is Status.NOT_FOUND
