"""The maps Postfix is configured to ask: the daemon's endpoints as main.cf and master.cf name
them, for ``pysrsctl health`` to probe what Postfix itself would reach.

Read with Postfix's own ``postconf``: ``sender_canonical_maps`` (the forward map) and
``recipient_canonical_maps`` (the reverse map) in main.cf (``postconf -h``), and the same
parameters as ``-o`` overrides of master.cf services (``postconf -P``: the forwarded-only
layout's ``pysrsd-cleanup``). Every ``tcp:HOST:PORT``, ``socketmap:unix:PATH:NAME`` and
``socketmap:inet:HOST:PORT:NAME`` table in them is one, also inside ``pipemap:{...}`` and
``unionmap:{...}`` or behind ``proxy:``. A relative unix path is relative to the queue
directory (``postconf -h queue_directory``), where Postfix's daemons work, chrooted or not.
Other tables (``hash:``, ``regexp:``, ...) are not the daemon's and are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pysrsd.ctl.postconf import Postfix
from pysrsd.ctl.probe import Endpoint
from pysrsd.errors import ConfigError

ROLES = {"sender_canonical_maps": "forward", "recipient_canonical_maps": "reverse"}
_TOKEN = re.compile(r"[^\s,{}]+")


@dataclass(frozen=True)
class Map:
    """One of the daemon's tables as Postfix names it, and how to reach it from here."""

    where: str  # "main.cf sender_canonical_maps", "master.cf pysrsd-cleanup/unix ..."
    table: str  # as written: socketmap:unix:pysrsd/socketmap:forward
    role: str  # "forward" or "reverse"
    endpoint: Endpoint
    name: str  # the socketmap name to ask (or the role, for tcp_table)


def configured(postfix: Postfix) -> list[Map] | str:
    """The daemon's maps in Postfix's configuration, or why there are none to probe."""
    try:
        if not postfix.available():
            return "Postfix not installed (no postconf or main.cf)"
        queue = Path(postfix.get("queue_directory") or "/var/spool/postfix")
        places = [(f"main.cf {n}", n, postfix.get(n)) for n in ROLES]
        places += [
            (f"master.cf {service} {name}", name, value)
            for service, name, value in postfix.all_options()
            if name in ROLES
        ]
    except ConfigError as exc:
        return f"Postfix maps not read ({exc})"
    maps = [
        one
        for where, name, value in places
        for token in _TOKEN.findall(value)
        if (one := parse(token, where, ROLES[name], queue)) is not None
    ]
    return maps or "Postfix's canonical maps name no tcp: or socketmap: table"


def parse(token: str, where: str, role: str, queue: Path) -> Map | None:
    """``token`` as one of the daemon's tables, or None if it is another kind of table."""
    table = token.removeprefix("proxy:")
    kind, _, rest = table.partition(":")
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if not port.isdigit() or not host:
            return None
        endpoint = Endpoint("tcp_table", host.strip("[]"), int(port), int(port))
        return Map(where, token, role, endpoint, role)
    if kind != "socketmap":
        return None
    transport, _, address = rest.partition(":")
    address, _, name = address.rpartition(":")
    if not (address and name) or transport not in ("unix", "inet"):
        return None
    if transport == "unix" and not address.startswith("/"):
        address = str(queue / address)
    return Map(where, token, role, Endpoint("socketmap", f"{transport}:{address}"), name)
