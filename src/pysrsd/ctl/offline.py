"""``pysrsctl forward|reverse ADDRESS``: one lookup offline, with the daemon's policy.

Prints the rewritten address (exit 0) or says why it is not rewritten (stderr, exit 1).
The envelope database is only read, never created or written: run as root, writing it would
leave the daemon a file it cannot write. So a forward that the daemon would store (database
or auto mode) prints the address the daemon would answer, and says on stderr when the sender
is not stored yet (that address reverses once the daemon has stored it: ``pysrsctl query``
asks the running daemon, which does).
"""

from __future__ import annotations

import argparse
import os
import sys

from pysrsd.ctl import options
from pysrsd.observe import logs
from pysrsd.policy import tables
from pysrsd.policy.runtime import Runtime
from pysrsd.policy.state import State
from pysrsd.wire.lookup import Answer, Status, Table

EXIT_NOT_FOUND = 1


def run(args: argparse.Namespace) -> int:
    logs.configure("warning")
    state = Runtime(options.settings(args), read_only=True).state
    key = os.fsencode(args.address)
    if args.command == "forward":
        answer = _forward(state, key)
    else:
        answer = tables.ask(state, Table.REVERSE, key)
    if answer.status is Status.FOUND:
        sys.stdout.buffer.write(answer.text + b"\n")
        return 0
    print(f"not rewritten: {answer.text.decode()}", file=sys.stderr)
    return EXIT_NOT_FOUND


def _forward(state: State, key: bytes) -> Answer:
    plan = tables.forward(state, key)
    if not isinstance(plan, tables.Store):
        return tables.ask(state, Table.FORWARD, key)
    back = tables.ask(state, Table.REVERSE, plan.done.text)
    if back != Answer(Status.FOUND, key):
        print(
            "note: not stored: pysrsctl never writes the envelope database, so this address "
            "reverses only once the daemon has stored the sender ('pysrsctl query ADDRESS' "
            "asks the running daemon, which stores it)",
            file=sys.stderr,
        )
    return plan.done
