"""The fast path: the common lookup answered over what a State precomputes, or handed back.

A cache of the general path (``tables.lookup``), never a second policy: for the keys it takes
it gives the answer ``tables.lookup`` would give and logs the line it would log; for any
other it returns None, and the caller asks ``tables.lookup``. A property test drives both with
the same requests under every setting and compares reply bytes and log lines; that test is
what allows this module to exist.

Taken (everything else is handed back):
- forward, in the embedded mode: a plain sender (local part unquoted, without ``@``, not
  SRS0/SRS1; host without ``=``), not excluded, not shaped like a database alias, at most
  ``MAX_ADDRESS`` octets before and after: its SRS0 address, logged as a rewrite; a key at
  our own domain (without always-rewrite, or an SRS address with it): ``already at the SRS
  domain``;
- reverse, in every mode: a key that cannot be SRS (its first byte is not ``s``, ``S`` or a
  quote, or it is not SRS0/SRS1 plus a separator): ``not an SRS address``; an SRS address
  at another domain (without reverse-any-domain): ``SRS address of another domain``; an SRS0
  address whose stamp and hash verify exactly (``Shortcut.original``) and whose original is
  not a database alias: that original, logged as a rewrite.
Not-found answers are handed back while debug logging is on: the general path logs them.

Results: ``bytes`` (the value found), an ``Answer`` (one of the fixed not-found answers here,
which ``tables`` uses too), or None (ask ``tables.lookup``).
"""

from __future__ import annotations

from collections.abc import Callable

from pysrsd.observe import logs
from pysrsd.policy.envelopes import ALIAS_HOST, is_alias
from pysrsd.policy.exclusions import Exclusions
from pysrsd.srs.engine import MAX_ADDRESS, is_srs
from pysrsd.srs.shortcut import Shortcut
from pysrsd.wire.lookup import Answer, Status, Table

NOT_SRS = Answer(Status.NOT_FOUND, b"not an SRS address")
FOREIGN = Answer(Status.NOT_FOUND, b"SRS address of another domain")
OWN = Answer(Status.NOT_FOUND, b"already at the SRS domain")
_MAYBE_SRS = frozenset((b"s", b"S", b'"'))  # first bytes of SRS0/SRS1 keys, and quoted ones
_ALIAS_LENGTH = 32 + len(ALIAS_HOST)  # is_alias: 32 base32hex characters and "@1"
_UTF8, _ESCAPE = "utf-8", "backslashreplace"  # logs.printable
_FORWARD = Table.FORWARD
Result = bytes | Answer | None


class FastPath:
    """What one State's fast path needs, built with it (so a reload swaps it)."""

    __slots__ = ("_any_domain", "_domain", "_exclusions", "_forwarding", "_rewrite_own", "_srs0")

    def __init__(
        self,
        shortcut: Shortcut,
        exclusions: Exclusions,
        *,
        domain: bytes,
        always_rewrite: bool,
        reverse_any_domain: bool,
        embedded: bool,
    ) -> None:
        self._srs0 = shortcut
        self._exclusions = exclusions if len(exclusions) else None
        self._domain = domain  # lower case
        self._rewrite_own = always_rewrite
        self._any_domain = reverse_any_domain
        self._forwarding = embedded  # a database mode stores senders: the general path

    def forward(self, table: Table, key: bytes) -> Result:
        """The forward table's answer to ``key`` (``table`` is FORWARD: the signature is
        ``lookup``'s, so that a listener of one table calls this without a dispatch)."""
        local, _, host = key.rpartition(b"@")
        first = local[:1]
        if (
            not self._forwarding
            or not host
            or not first
            or first == b'"'
            or len(key) > MAX_ADDRESS
            or b"@" in local
        ):
            return None
        if self._exclusions is not None and self._exclusions.match(key) is not None:
            return None
        if len(key) == _ALIAS_LENGTH and is_alias(key):
            return None
        if host.lower() == self._domain and (not self._rewrite_own or is_srs(key)):
            return None if logs.debug_enabled else OWN
        if b"=" in host or (first in _MAYBE_SRS and is_srs(local)):
            return None
        address = self._srs0.address(host, local)
        if len(address) > MAX_ADDRESS:
            return None
        # logs.printable, inline: the rewrite line is written for every rewrite
        logs.rewrite("forward", key.decode(_UTF8, _ESCAPE), address.decode(_UTF8, _ESCAPE))
        return address

    def reverse(self, table: Table, key: bytes) -> Result:
        """The reverse table's answer to ``key`` (``table`` is REVERSE, as in ``forward``)."""
        if key[:1] not in _MAYBE_SRS or not is_srs(key):
            return None if key[:1] == b'"' or logs.debug_enabled else NOT_SRS
        local, _, host = key.rpartition(b"@")
        if len(key) > MAX_ADDRESS:
            return None
        if not self._any_domain and host.lower() != self._domain:
            return None if logs.debug_enabled else FOREIGN
        if not local or not host or b"@" in local:
            return None
        address = self._srs0.original(local)
        if address is None or (len(address) == _ALIAS_LENGTH and is_alias(address)):
            return None
        logs.rewrite("reverse", key.decode(_UTF8, _ESCAPE), address.decode(_UTF8, _ESCAPE))
        return address


def lookup(fast: FastPath, table: Table, key: bytes) -> Result:
    """``tables.lookup``'s answer to a key the codec took whole, or None (ask it)."""
    return fast.forward(table, key) if table is _FORWARD else fast.reverse(table, key)


Lookup = Callable[[FastPath, Table, bytes], Result]


def lookup_for(table: Table | None) -> Lookup:
    """``lookup`` for a listener of one table (tcp_table), or of both (None: socketmap)."""
    if table is None:
        return lookup
    return FastPath.forward if table is _FORWARD else FastPath.reverse
