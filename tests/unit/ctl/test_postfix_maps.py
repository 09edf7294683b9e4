"""Which of Postfix's tables are the daemon's, and how health reaches them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pysrsd.ctl import postfix_maps
from pysrsd.ctl.probe import Endpoint

QUEUE = Path("/var/spool/postfix")


@pytest.mark.parametrize(
    ("token", "endpoint", "name"),
    [
        pytest.param(
            "tcp:127.0.0.1:10001",
            Endpoint("tcp_table", "127.0.0.1", 10001, 10001),
            "forward",
            id="tcp",
        ),
        pytest.param(
            "tcp:[::1]:10001", Endpoint("tcp_table", "::1", 10001, 10001), "forward", id="tcp-v6"
        ),
        pytest.param(
            "proxy:tcp:127.0.0.1:10001",
            Endpoint("tcp_table", "127.0.0.1", 10001, 10001),
            "forward",
            id="proxy",
        ),
        pytest.param(
            "socketmap:unix:pysrsd/socketmap:srsencoder",
            Endpoint("socketmap", "unix:/var/spool/postfix/pysrsd/socketmap"),
            "srsencoder",
            id="unix-relative",
        ),
        pytest.param(
            "socketmap:unix:/run/pysrsd.sock:forward",
            Endpoint("socketmap", "unix:/run/pysrsd.sock"),
            "forward",
            id="unix-absolute",
        ),
        pytest.param(
            "socketmap:inet:127.0.0.1:10003:forward",
            Endpoint("socketmap", "inet:127.0.0.1:10003"),
            "forward",
            id="inet",
        ),
    ],
)
def test_the_daemons_tables(token: str, endpoint: Endpoint, name: str) -> None:
    found = postfix_maps.parse(token, "main.cf sender_canonical_maps", "forward", QUEUE)
    assert found is not None and (found.endpoint, found.name) == (endpoint, name)


@pytest.mark.parametrize(
    "token",
    [
        "hash:/etc/postfix/canonical",
        "regexp:/etc/postfix/x",
        "tcp:127.0.0.1",
        "socketmap:unix:x",
        "socketmap:udp:h:1:forward",
        "pipemap:",
        "/^(srs.*)/",
    ],
)
def test_other_tables_are_left_alone(token: str) -> None:
    assert postfix_maps.parse(token, "main.cf", "forward", QUEUE) is None


def test_tokens_inside_braces() -> None:
    value = "pipemap:{regexp:{{/^(srs.*)/ $${1}}}, tcp:127.0.0.1:10002}, unionmap:{tcp:h:1}"
    tokens = postfix_maps._TOKEN.findall(value)
    found = [postfix_maps.parse(t, "w", "reverse", QUEUE) for t in tokens]
    assert [f.table for f in found if f] == ["tcp:127.0.0.1:10002", "tcp:h:1"]
