"""The two systemd protocols pysrsd speaks, with the standard library only (no libsystemd).

Contract:

* ``notify(*states)`` sends the states as one datagram (newline-separated ``KEY=VALUE``) to
  ``$NOTIFY_SOCKET`` — a filesystem path, or ``@name`` for the abstract namespace (sd_notify(3)).
  Without ``$NOTIFY_SOCKET`` it does nothing and returns False. It never raises: a failed send
  is reported as False, because supervision must not take the daemon down. ``RELOADING=1`` is
  sent together with ``MONOTONIC_USEC=`` (CLOCK_MONOTONIC in µs): systemd ≥ 253 requires it
  for ``Type=notify-reload`` and older versions ignore it.
* ``listen_fds()`` returns the sockets handed over by socket activation (sd_listen_fds(3)),
  grouped by their ``FileDescriptorName=`` (``LISTEN_FDNAMES``; a missing name is
  ``"unknown"``). They start at fd 3, count ``LISTEN_FDS``, and are only ours when
  ``LISTEN_PID`` is our pid. Each is made close-on-exec, and the three variables are removed
  from the environment so no child mistakes them for its own. ``{}`` when not activated.
* ``journal_stderr()`` tells whether fd 2 is the journal's stream (``$JOURNAL_STREAM`` holds
  its ``device:inode``), i.e. whether log lines may carry ``<N>`` priority prefixes.
"""

from __future__ import annotations

import os
import socket
import time

from pysrsd.errors import ConfigError

__all__ = ["journal_stderr", "listen_fds", "notify"]

# sd_listen_fds(3): passed descriptors start right after stdin, stdout and stderr.
LISTEN_FDS_START = 3
UNNAMED = "unknown"
_ACTIVATION_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def notify(*states: str) -> bool:
    """Send ``states`` to the service manager; True when the datagram went out."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address or not states:
        return False
    if address.startswith("@"):
        # Abstract namespace: a leading NUL instead of the "@" shown to humans.
        address = "\0" + address[1:]
    elif not address.startswith("/"):
        return False  # vsock and other exotic addresses: not ours to support
    message = list(states)
    if "RELOADING=1" in message and not any(s.startswith("MONOTONIC_USEC=") for s in message):
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        message.append(f"MONOTONIC_USEC={usec}")
    payload = "\n".join(message).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(payload, address)  # a datagram goes out whole or not at all
    except OSError:
        return False
    return True


def listen_fds() -> dict[str, list[socket.socket]]:
    """The activated listening sockets by name; ``{}`` when the process was not activated."""
    pid, count, names_value = (os.environ.pop(name, "") for name in _ACTIVATION_VARS)
    if not pid.isdigit() or int(pid) != os.getpid():
        return {}  # not set, or meant for another process (we were forked or exec'ed)
    if not count.isdigit():
        return {}
    names = names_value.split(":") if names_value else []
    result: dict[str, list[socket.socket]] = {}
    for index in range(int(count)):
        fd = LISTEN_FDS_START + index
        name = names[index] if index < len(names) and names[index] else UNNAMED
        result.setdefault(name, []).append(_adopt(fd, name))
    return result


def _adopt(fd: int, name: str) -> socket.socket:
    """Wrap an inherited descriptor as a socket object, close-on-exec."""
    try:
        os.set_inheritable(fd, False)
        return socket.socket(fileno=fd)  # family and type are read from the descriptor
    except OSError as exc:
        raise ConfigError(
            f"LISTEN_FDS: descriptor {fd} ({name}) is not a usable socket: {exc.strerror}"
        ) from exc


def journal_stderr() -> bool:
    """True when standard error is connected to the systemd journal."""
    value = os.environ.get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        stat = os.fstat(2)
    except OSError:
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
