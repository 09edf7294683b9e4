"""``pysrsctl health``: is the running daemon answering, and answering right?

With the daemon's own settings (flags, ``PYSRSD_*``, config file), for every way in that is
configured (tcp_table on each ``--listen`` address, each ``--socketmap`` endpoint), ask the
daemon to forward a probe address, then to reverse the result: the forward answer must be an
address at the SRS domain and the reverse answer the probe itself. One line on stdout, in the
form monitoring plugins use (``PYSRSD OK: ... | perfdata``), and their exit status:

  0 OK        every endpoint answered right, none slower than --warning
  1 WARNING   every endpoint answered right but one was slow, or some (not all) are down
  2 CRITICAL  all are down, or any answer was wrong (a wrong answer loses mail)
  3 UNKNOWN   the configuration cannot be read, or names no endpoint
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from pysrsd.config.settings import Settings
from pysrsd.ctl import options
from pysrsd.ctl.probe import Endpoint
from pysrsd.errors import ConfigError

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
LISTENER_OPTIONS = ("listen", "forward_port", "reverse_port", "socketmap")
PROBE = "pysrsd-health-probe@health.invalid"


@dataclass(frozen=True)
class Outcome:
    endpoint: Endpoint
    seconds: float
    problem: str | None = None  # None: answered right
    wrong: bool = False  # answered, but not what SRS requires


def endpoints(settings: Settings) -> list[Endpoint]:
    found = [
        Endpoint("tcp_table", host, settings.forward_port, settings.reverse_port)
        for host in settings.listen
        if host != "none"
    ]
    return found + [Endpoint("socketmap", where) for where in settings.socketmap]


def probe(endpoint: Endpoint, domain: str, address: str, timeout: float) -> Outcome:
    start = time.monotonic()
    key = address.encode()
    try:
        forward = endpoint.ask("forward", key, timeout)
        if forward.status != "found" or not forward.text.lower().endswith(
            b"@" + domain.lower().encode()
        ):
            return _wrong(endpoint, start, f"forward: {forward.status} {forward.text[:80]!r}")
        back = endpoint.ask("reverse", forward.text, timeout)
        if (back.status, back.text) != ("found", key):
            return _wrong(endpoint, start, f"reverse: {back.status} {back.text[:80]!r}")
    except OSError as exc:
        return Outcome(endpoint, time.monotonic() - start, f"down ({exc})")
    return Outcome(endpoint, time.monotonic() - start)


def _wrong(endpoint: Endpoint, start: float, problem: str) -> Outcome:
    return Outcome(endpoint, time.monotonic() - start, problem, wrong=True)


def verdict(outcomes: list[Outcome], warning: float) -> int:
    if not outcomes:
        return UNKNOWN
    failed = [o for o in outcomes if o.problem is not None]
    if any(o.wrong for o in failed) or len(failed) == len(outcomes):
        return CRITICAL
    if failed or any(o.seconds > warning for o in outcomes):
        return WARNING
    return OK


def report(outcomes: list[Outcome], status: int, warning: float, timeout: float) -> str:
    parts, perf = [], []
    for o in outcomes:
        latency = f"{o.seconds * 1000:.1f} ms"
        parts.append(f"{o.endpoint.name} {latency}" + (f" {o.problem}" if o.problem else ""))
        if o.problem is None:
            perf.append(f"'{o.endpoint.name}'={o.seconds:.6f}s;{warning:g};{timeout:g};0")
    line = f"PYSRSD {LABELS[status]}: " + (", ".join(parts) or "no endpoint configured")
    return line + (" | " + " ".join(perf) if perf else "")


def run(args: argparse.Namespace) -> int:
    try:
        settings = options.settings(args, *LISTENER_OPTIONS)
    except ConfigError as exc:
        print(f"PYSRSD UNKNOWN: {exc}")
        return UNKNOWN
    outcomes = [
        probe(endpoint, settings.domain, args.probe, args.timeout)
        for endpoint in endpoints(settings)
    ]
    status = verdict(outcomes, args.warning)
    print(report(outcomes, status, args.warning, args.timeout))
    return status
