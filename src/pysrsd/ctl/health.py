"""``pysrsctl health``: is the running daemon answering, and answering right?

With the daemon's own settings (flags, ``PYSRSD_*``, config file), for every way in that is
configured (tcp_table on each ``--listen`` address, each ``--socketmap`` endpoint), ask the
daemon to forward a probe address, then to reverse the result: the forward answer must be an
address at the SRS domain and the reverse answer the probe itself. Then every map of the daemon
that Postfix is configured to ask (``postfix_maps``): the forward maps must forward the probe,
the reverse maps reverse it back. One line on stdout, in the form monitoring plugins use
(``PYSRSD OK: ... | perfdata``), and their exit status:

  0 OK        every endpoint answered right, none slower than --warning
  1 WARNING   every endpoint answered right but one was slow, or some (not all) of the
              daemon's own endpoints are down while every map Postfix asks answers
  2 CRITICAL  all are down, any answer was wrong (a wrong answer loses mail), or a map that
              Postfix asks does not answer (Postfix defers mail on it)
  3 UNKNOWN   the configuration cannot be read, or names no endpoint

Without Postfix, or when its maps name no tcp: or socketmap: table, only the daemon's own
endpoints are probed, and the line says why.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from pysrsd.config.settings import Settings
from pysrsd.ctl import options, postfix_maps
from pysrsd.ctl.postconf import Postfix
from pysrsd.ctl.postfix_maps import Map
from pysrsd.ctl.probe import Endpoint
from pysrsd.errors import ConfigError
from pysrsd.observe import logs

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
LABELS = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
LISTENER_OPTIONS = ("listen", "forward_port", "reverse_port", "socketmap")
PROBE = logs.PROBE  # the daemon logs its lookups at debug, not as rewrites


@dataclass(frozen=True)
class Outcome:
    name: str  # "tcp_table 127.0.0.1", "postfix main.cf sender_canonical_maps tcp:..."
    seconds: float
    problem: str | None = None  # None: answered right
    wrong: bool = False  # answered, but not what SRS requires (or Postfix cannot reach it)
    answer: bytes | None = None  # the forward answer (an SRS address at the domain)


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
        if forward.status != "found" or not _at(forward.text, domain):
            return _wrong(endpoint.name, start, f"forward: {forward.status} {forward.text[:80]!r}")
        back = endpoint.ask("reverse", forward.text, timeout)
        if (back.status, back.text) != ("found", key):
            return _wrong(endpoint.name, start, f"reverse: {back.status} {back.text[:80]!r}")
    except OSError as exc:
        return Outcome(endpoint.name, time.monotonic() - start, f"down ({exc})")
    return Outcome(endpoint.name, time.monotonic() - start, answer=forward.text)


def probe_map(found: Map, domain: str, address: str, srs: bytes | None, timeout: float) -> Outcome:
    """A map Postfix asks: a forward map forwards the probe; a reverse map reverses an SRS
    address of the probe back to it (without one, it must at least answer). Down or wrong,
    Postfix defers mail on it: CRITICAL."""
    name, start, key = f"postfix {found.where} {found.table}", time.monotonic(), address.encode()
    try:
        if found.role == "forward":
            got = found.endpoint.ask(found.name, key, timeout)
            right = got.status == "found" and _at(got.text, domain)
        else:
            got = found.endpoint.ask(found.name, srs or key, timeout)
            right = (got.status, got.text) == ("found", key) if srs else got.status != "temporary"
    except OSError as exc:
        return _wrong(name, start, f"down ({found.endpoint.where}: {exc.strerror or exc})")
    if not right:
        return _wrong(name, start, f"{found.role}: {got.status} {got.text[:80]!r}")
    return Outcome(name, time.monotonic() - start, answer=got.text)


def _at(address: bytes, domain: str) -> bool:
    return address.lower().endswith(b"@" + domain.lower().encode())


def _wrong(name: str, start: float, problem: str) -> Outcome:
    return Outcome(name, time.monotonic() - start, problem, wrong=True)


def verdict(outcomes: list[Outcome], warning: float) -> int:
    if not outcomes:
        return UNKNOWN
    failed = [o for o in outcomes if o.problem is not None]
    if any(o.wrong for o in failed) or len(failed) == len(outcomes):
        return CRITICAL
    if failed or any(o.seconds > warning for o in outcomes):
        return WARNING
    return OK


def report(
    outcomes: list[Outcome], status: int, warning: float, timeout: float, note: str = ""
) -> str:
    parts, perf = [], []
    for o in outcomes:
        latency = f"{o.seconds * 1000:.1f} ms"
        parts.append(f"{o.name} {latency}" + (f" {o.problem}" if o.problem else ""))
        if o.problem is None:
            perf.append(f"'{o.name}'={o.seconds:.6f}s;{warning:g};{timeout:g};0")
    line = f"PYSRSD {LABELS[status]}: " + (", ".join(parts) or "no endpoint configured")
    line += f" ({note}: only the daemon's own endpoints probed)" if note and outcomes else ""
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
    maps = postfix_maps.configured(Postfix())
    if isinstance(maps, list):
        outcomes += _probe_maps(maps, settings.domain, args, outcomes)
    status = verdict(outcomes, args.warning)
    note = maps if isinstance(maps, str) else ""
    print(report(outcomes, status, args.warning, args.timeout, note))
    return status


def _probe_maps(
    maps: list[Map], domain: str, args: argparse.Namespace, done: list[Outcome]
) -> list[Outcome]:
    """Forward maps first: their answer (or the daemon's) is what the reverse maps get."""
    found = [
        probe_map(m, domain, args.probe, None, args.timeout) for m in maps if m.role == "forward"
    ]
    answers = [o.answer for o in [*done, *found] if o.problem is None and o.answer]
    srs = answers[0] if answers else None
    reverse = [m for m in maps if m.role == "reverse"]
    return found + [probe_map(m, domain, args.probe, srs, args.timeout) for m in reverse]
