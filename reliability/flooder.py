"""The attacker of the flood scenarios, in its own process so that its sending does not slow
the suite's clients: opens CONNECTIONS sockets to PORT, writes BYTES of PATTERN (repeated) on
each as fast as the daemon takes them, never reads a reply, and holds every socket open until
stdin closes. Prints ``connected bytes_sent`` on exit.

    python -m reliability.flooder PORT CONNECTIONS BYTES PATTERN
"""

from __future__ import annotations

import contextlib
import select
import socket
import sys


def main() -> None:
    port, connections, total = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    pattern = sys.argv[4].encode().decode("unicode_escape").encode("latin-1")
    payload = (pattern * (total // len(pattern) + 1))[:total]
    socks: dict[int, tuple[socket.socket, memoryview]] = {}
    for _ in range(connections):
        with contextlib.suppress(OSError):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setblocking(False)
            socks[s.fileno()] = (s, memoryview(payload))
    connected = len(socks)
    sent = 0
    poll = select.poll()
    for fd in socks:
        poll.register(fd, select.POLLOUT)
    pending = dict(socks)
    while not select.select([sys.stdin], [], [], 0)[0]:
        for fd, _event in poll.poll(100):
            s, rest = pending[fd]
            try:
                n = s.send(rest[:65536])
            except BlockingIOError:
                continue
            except OSError:  # closed by the daemon: what it is allowed to do
                n = len(rest)
            sent += n
            if n == len(rest):
                poll.unregister(fd)
                del pending[fd]
            else:
                pending[fd] = (s, rest[n:])
        if not pending:
            select.select([sys.stdin], [], [])
            break
    print(connected, sent)
    for s, _ in socks.values():
        s.close()


if __name__ == "__main__":
    main()
