"""Known-answer vectors from another implementation's own test suite: postsrsd 2.x's
blackbox table (tests/blackbox/socketmap.py: secret ``tops3cr3t``, domain ``example.com``,
clock 2020-01-01 00:01:00 UTC). They are postsrsd's values, not ours. Where postsrsd 2.x
answers PERM for an address problem we answer NOT_FOUND, as docs/settings.md says (postsrsd
PR #198 made the same change)."""

from __future__ import annotations

import pytest

from pysrsd.config.keyring import Keyring
from pysrsd.policy import tables
from pysrsd.policy.exclusions import Exclusions
from pysrsd.policy.state import Policy, State
from pysrsd.srs.engine import Engine
from pysrsd.wire.lookup import Answer, Status, Table

WHEN = 1577836860.0  # 2020-01-01 00:01:00 UTC
LONG = b"a" * (512 - 9)
LONGER = b"a" * (512 - 34)


def postsrsd_state() -> State:
    engine = Engine(
        [b"tops3cr3t"],
        b"example.com",
        hash_input="concatenated",  # postsrsd 2.x signs the classic way, in base64url
        hash_alphabet="base64url",
        clock=lambda: WHEN,
    )
    keyring = Keyring((b"tops3cr3t",), "fp", too_open=False)
    return State(engine, Exclusions(), keyring, Policy(b"example.com", False, False))


F, R = Table.FORWARD, Table.REVERSE
VECTORS = [
    pytest.param(F, b"test@example.com", None, id="local-domain"),
    pytest.param(
        F, b"test@otherdomain.com", b"SRS0=vmyz=2W=otherdomain.com=test@example.com", id="srs0"
    ),
    pytest.param(F, b"foo", None, id="no-domain"),
    pytest.param(F, b"SRS0=XjO9=2V=otherdomain.com=test@example.com", None, id="own-srs0"),
    pytest.param(
        F,
        b"SRS0=opaque+string@otherdomain.com",
        b"SRS1=chaI=otherdomain.com==opaque+string@example.com",
        id="foreign-srs0-to-srs1",
    ),
    pytest.param(
        F,
        b"SRS1=X=thirddomain.com==opaque+string@otherdomain.com",
        b"SRS1=JIBX=thirddomain.com==opaque+string@example.com",
        id="foreign-srs1",
    ),
    pytest.param(
        R, b"SRS0=XjO9=2V=otherdomain.com=test@example.com", b"test@otherdomain.com", id="rev"
    ),
    pytest.param(
        R,
        b"SRS1=JIBX=thirddomain.com==opaque+string@example.com",
        b"SRS0=opaque+string@thirddomain.com",
        id="rev-srs1",
    ),
    pytest.param(R, b"test@example.com", None, id="not-srs"),
    pytest.param(R, b"SRS0=te87=T7=otherdomain.com=test@example.com", None, id="too-old"),
    pytest.param(R, b"SRS0=VcIb=7N=otherdomain.com=test@example.com", None, id="future"),
    pytest.param(R, b"SRS0=FAKE=2V=otherdomain.com=test@example.com", None, id="fake-hash"),
    pytest.param(
        R, b"srs0=xjo9=2v=otherdomain.com=test@example.com", b"test@otherdomain.com", id="lower"
    ),
    pytest.param(
        R, b"SRS0=XJO9=2V=OTHERDOMAIN.COM=TEST@EXAMPLE.COM", b"TEST@OTHERDOMAIN.COM", id="upper"
    ),
    pytest.param(R, b"SRS0=@example.com", None, id="no-hash"),
    pytest.param(R, b"SRS0=XjO9@example.com", None, id="no-stamp"),
    pytest.param(R, b"SRS0=XjO9=2V@example.com", None, id="no-host"),
    pytest.param(R, b"SRS0=XjO9=2V=otherdomain.com@example.com", None, id="no-user"),
    pytest.param(
        F,
        b"test@" + LONG + b".net",
        b"SRS0=G7tR=2W=" + LONG + b".net=test@example.com",
        id="long",
    ),
    pytest.param(
        R,
        b"SRS0=iCvJ=2W=" + LONGER + b".net=test@example.com",
        b"test@" + LONGER + b".net",
        id="long-reverse",
    ),
    pytest.param(F, b'""', None, id="empty-quotes"),
]


@pytest.mark.parametrize(("table", "key", "value"), VECTORS)
def test_postsrsd_blackbox_vectors(table: Table, key: bytes, value: bytes | None) -> None:
    answer = tables.lookup(postsrsd_state(), table, key)
    if value is None:
        assert answer.status is Status.NOT_FOUND
    else:
        assert answer == Answer(Status.FOUND, value)
