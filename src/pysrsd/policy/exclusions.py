"""Exclusion map file → ``Exclusions``: senders whose address is never rewritten.

Format: Postfix map source (the file a ``hash:`` map is built from): the first field of each
line is the key, the rest of the line is ignored, ``#`` starts a comment as the first non-blank
character of a line, and a line starting with white space continues the previous one
(postmap(1)). Keys, matched case-insensitively (ASCII):
  ``example.com``       that domain          ``@example.com``  that domain
  ``.example.com``      its subdomains, not example.com itself
  ``user@example.com``  that address
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pysrsd.config.files import read_trusted

MAX_EXCLUDE_FILE = 64 << 20


@dataclass(frozen=True, slots=True)
class Exclusions:
    domains: frozenset[bytes] = frozenset()
    parents: frozenset[bytes] = frozenset()  # ".example.com": subdomains of these
    addresses: frozenset[bytes] = frozenset()
    longest: int = field(default=0, init=False, repr=False, compare=False)  # of the parents

    def __post_init__(self) -> None:
        object.__setattr__(self, "longest", max(map(len, self.parents), default=0))

    def __len__(self) -> int:
        return len(self.domains) + len(self.parents) + len(self.addresses)

    def match(self, address: bytes) -> str | None:
        """Why ``address`` is excluded ("domain excluded" / "address excluded"), or None."""
        if not self:
            return None
        lowered = address.lower()
        if lowered in self.addresses:
            return "address excluded"
        domain = lowered.rpartition(b"@")[2]
        if domain in self.domains:
            return "domain excluded"
        if self.parents:
            # Only a suffix no longer than the longest entry can match: starting there keeps
            # the work linear in the key's length (slicing at every dot was quadratic).
            dot = domain.find(b".", max(0, len(domain) - self.longest))
            while dot >= 0:
                if domain[dot:] in self.parents:
                    return "domain excluded"
                dot = domain.find(b".", dot + 1)
        return None


def _logical_lines(data: bytes) -> list[bytes]:
    """postmap(1) input rules: ``#`` starts a comment only as a line's first non-blank
    character; a line that starts with white space continues the previous line."""
    lines: list[bytes] = []
    for raw in data.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith(b"#"):
            continue
        if raw[:1].isspace() and lines:
            lines[-1] += b" " + stripped
        else:
            lines.append(stripped)
    return lines


def parse_exclusions(data: bytes) -> Exclusions:
    domains: set[bytes] = set()
    parents: set[bytes] = set()
    addresses: set[bytes] = set()
    for line in _logical_lines(data):
        key = line.split(None, 1)[0].lower().rstrip(b".")
        if key.startswith(b"@"):
            domains.add(key[1:])
        elif key.startswith(b"."):
            parents.add(key)
        elif b"@" in key:
            addresses.add(key)
        else:
            domains.add(key)
    domains.discard(b"")
    parents.discard(b".")
    return Exclusions(frozenset(domains), frozenset(parents), frozenset(addresses))


def load_exclusions(path: Path | None) -> Exclusions:
    if path is None:
        return Exclusions()
    data, _ = read_trusted(path, MAX_EXCLUDE_FILE, "exclude-file")
    return parse_exclusions(data)
