"""A fresh client in its own process (so the load generator's event loop cannot delay it):
every 0.2 s, a new connection and one checked lookup, until stdin closes. Prints
``lookups failures wrong worst_ms`` on exit.

    python -m reliability.probe FORWARD_PORT REVERSE_PORT
"""

from __future__ import annotations

import random
import select
import socket
import sys
import time

from reliability.oracle import parse_reply, probes, quote


def main() -> None:
    ports = {"forward": int(sys.argv[1]), "reverse": int(sys.argv[2])}
    make = probes(random.Random(42), time.time())
    lookups = failures = wrong = 0
    worst = 0.0
    while not select.select([sys.stdin], [], [], 0.2)[0]:
        probe = make()
        started = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", ports[probe.table]), timeout=10) as s:
                s.sendall(b"get " + quote(probe.key) + b"\n")
                with s.makefile("rb") as stream:
                    line = stream.readline()
        except OSError:
            failures += 1
            continue
        worst = max(worst, time.monotonic() - started)
        if not line.endswith(b"\n"):
            failures += 1
        elif probe.check(parse_reply(line[:-1])):
            lookups += 1
        else:
            wrong += 1
    print(lookups, failures, wrong, round(worst * 1000))


if __name__ == "__main__":
    main()
