"""The host's own domains, proposed by ``pysrsctl setup`` as the exclusion map.

A sender at one of Postfix's ``$mydestination`` domains or at ``$myhostname`` is a local user
of this host, whose mail leaves from here: its SPF is this host's, and rewriting it only makes
replies and bounces take a detour. Setup reads them expanded (``postconf -x -h``), leaves out
lookup tables (``hash:/etc/postfix/...``), empty entries and the SRS domain itself (its senders
are never rewritten anyway), and writes the rest, one a line, to ``/etc/pysrsd/exclude``
(root:root 0644), named by ``exclude-file`` in the config file. An exclusion file that exists is
kept as it is; setup says which of the proposed domains it lacks.
"""

from __future__ import annotations

from pathlib import Path

from pysrsd.ctl import layout
from pysrsd.ctl.steps import Step, system, write_new
from pysrsd.errors import ConfigError
from pysrsd.policy.exclusions import load_exclusions

PARAMETERS = ("mydestination", "myhostname")
_WHY = "the host's own domains, Postfix's $mydestination and $myhostname"


def proposed(domain: str) -> list[str] | None:
    """Postfix's own domains for this host, or None without Postfix."""
    try:
        result = system("postconf", "-x", "-h", *PARAMETERS)
    except OSError:
        return None
    if result.returncode != 0:
        return None
    found: list[str] = []
    for entry in result.stdout.replace(",", " ").split():
        name = entry.lower().rstrip(".")
        if ":" in name or "/" in name or name == domain.lower() or name in found:
            continue
        found.append(name)
    return found


def text(domains: list[str]) -> str:
    lines = [
        "# The host's own domains (Postfix's $mydestination and $myhostname), written by",
        '# "pysrsctl setup": senders there are local users, their mail is not rewritten.',
        "# One key a line: example.com, .example.com (subdomains), user@example.com.",
        *domains,
    ]
    return "\n".join(lines) + "\n"


def step(domains: list[str], path: Path = layout.EXCLUDE) -> Step:
    if not path.exists():
        write = lambda: write_new(path, text(domains).encode(), 0o644)  # noqa: E731
        why = "senders there are local users: not rewritten"
        return Step(f"write {path} root:root 0644: {', '.join(domains)} ({_WHY}; {why})", write)
    try:
        have = load_exclusions(path)
        lacking = [d for d in domains if have.match(f"x@{d}".encode()) is None]
    except ConfigError:  # the daemon and pysrsctl check say what is wrong with it
        lacking = []
    note = f" (it does not exclude {', '.join(lacking)})" if lacking else ""
    return Step(f"{path} exists, kept{note}")
