"""pysrsd answering every lookup with a fixed not-found, without policy or SRS work: what its
transport path costs by itself (event loop, connection, codec, hub bookkeeping, the reply's
write), beside the ceiling's C server. ``compare.py --trivial`` measures it as
``pysrsd-trivial``.

Usage: python benchmarks/trivial.py [pysrsd arguments]
"""

from __future__ import annotations

import sys

from pysrsd import cli
from pysrsd.policy import fast, tables
from pysrsd.wire.lookup import Answer, Status, Table

NOTHING = Answer(Status.NOT_FOUND, b"trivial")


def nothing(state: object, table: Table, key: bytes) -> Answer:
    return NOTHING


def nothing_for(table: Table | None) -> fast.Lookup:
    return nothing


if __name__ == "__main__":
    tables.lookup = nothing  # the general path's
    fast.lookup_for = nothing_for  # the fast path's: a request Postfix sends takes it
    sys.exit(cli.main())
