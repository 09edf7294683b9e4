"""What the metrics count, shared by the meter (``metrics``) and the scrape (``metrics_families``):
the series' slots and buckets, and the protocols of the objects whose figures are read at scrape
time (the connection hub, the runtime). Knows those objects only through these protocols.
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Protocol

from pysrsd.wire.lookup import Answer, Status, Table

PROTOCOLS = ("tcp_table", "socketmap")
# Seconds. An HMAC lookup takes microseconds; a database lookup milliseconds.
LOOKUP_BUCKETS = (5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1)
DATABASE_BUCKETS = (1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1, 0.5, 2.5)
DATABASE_OPERATIONS = ("get", "put")

# The reason a lookup was not rewritten, from the answer's text (tables.py and the engine's
# ``Unchanged`` reasons). A text not listed counts as "other": a test keeps this list whole.
NOT_REWRITTEN = {
    b"not a valid address": "not_address",
    b"sender has the form of a database alias": "not_address",
    b"domain excluded": "excluded",
    b"address excluded": "excluded",
    b"already at the SRS domain": "own_domain",
    b"not an SRS address": "not_srs",
    b"SRS address of another domain": "foreign",
    b"bad hash": "bad_hash",
    b"expired or invalid day stamp": "expired",
    b"malformed SRS0 address": "malformed",
    b"malformed SRS1 address": "malformed",
    b"address too long": "malformed",
    b"unknown alias": "unknown_alias",  # a database address the database does not hold
    b"database address, no envelope database configured": "unknown_alias",
}
TEMPORARY = {
    b"internal error": "internal",
    b"envelope database unavailable": "database",
}
REASONS = {
    Table.FORWARD: ("not_address", "excluded", "own_domain", "malformed"),
    Table.REVERSE: ("not_srs", "foreign", "bad_hash", "expired", "malformed", "unknown_alias"),
}
SAMPLE = 8  # one lookup in SAMPLE is timed: two clock reads cost more than the counting


def slots(table: Table) -> tuple[tuple[str, str], ...]:
    """(outcome, reason) of each counter of ``table``, in the order of ``Counts.counts``."""
    return (
        ("rewritten", "none"),
        *(("not_rewritten", reason) for reason in (*REASONS[table], "other")),
        *(("temporary_failure", r) for r in (*dict.fromkeys(TEMPORARY.values()), "other")),
    )


class Counts:
    """One table's lookups on one protocol: one integer per (outcome, reason) slot."""

    def __init__(self, table: Table) -> None:
        names = slots(table)
        self.counts = [0] * len(names)
        self.index = {
            text: names.index(("not_rewritten", reason))
            for text, reason in NOT_REWRITTEN.items()
            if reason in REASONS[table]
        }
        self.index.update({t: names.index(("temporary_failure", r)) for t, r in TEMPORARY.items()})
        self.other = names.index(("not_rewritten", "other")), len(names) - 1

    def slot(self, answer: Answer) -> int:
        """The slot of an answer whose text is not in ``index`` (rare: the slow way)."""
        return self.other[answer.status is Status.TEMP_FAIL]


class Connections(Protocol):
    """What the transport's connection hub already counts."""

    max_connections: int
    accepted: int
    evicted: int
    refused: int

    def __len__(self) -> int: ...


class LoadedState(Protocol):
    """What a scrape reads of the state in use."""

    @property
    def keyring(self) -> Sized: ...

    @property
    def exclusions(self) -> Sized: ...


class Reloads(Protocol):
    """What the runtime (the state and its reloads) already keeps, read at scrape time."""

    @property
    def state(self) -> LoadedState: ...

    @property
    def reloads_ok(self) -> int: ...

    @property
    def reloads_failed(self) -> int: ...

    @property
    def last_reload_ok(self) -> bool: ...

    @property
    def last_good_load(self) -> float: ...

    @property
    def signing_since(self) -> float: ...
