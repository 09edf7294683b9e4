"""``pysrsctl forward|reverse ADDRESS``: one lookup offline, with the daemon's policy.

Prints the rewritten address (exit 0) or says why it is not rewritten (stderr, exit 1).
"""

from __future__ import annotations

import argparse
import os
import sys

from pysrsd.ctl import options
from pysrsd.observe import logs
from pysrsd.policy import tables
from pysrsd.policy.runtime import Runtime
from pysrsd.wire.lookup import Status, Table

EXIT_NOT_FOUND = 1


def run(args: argparse.Namespace) -> int:
    logs.configure("warning")
    state = Runtime(options.settings(args)).state
    table = Table.FORWARD if args.command == "forward" else Table.REVERSE
    answer = tables.settle(tables.lookup(state, table, os.fsencode(args.address)))
    if answer.status is Status.FOUND:
        sys.stdout.buffer.write(answer.text + b"\n")
        return 0
    print(f"not rewritten: {answer.text.decode()}", file=sys.stderr)
    return EXIT_NOT_FOUND
