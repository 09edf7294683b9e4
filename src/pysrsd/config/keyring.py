"""Secrets file → ``Keyring``: the first secret signs, every secret verifies.

File format (shared with postsrsd and pfix-srsd): one secret per line; the trailing CR/LF is
removed; blank (or whitespace-only) lines are ignored. Rotation: put a new line on top and keep
the old ones for ``max-age`` days.

Secrets never leave this module except as bytes handed to the engine; ``fingerprint`` (a
short SHA-256 prefix of the signing secret) is what logs may show.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pysrsd.config.files import read_trusted, too_open
from pysrsd.errors import ConfigError

MAX_SECRETS_FILE = 1 << 20  # a secrets file is a few lines; refuse to slurp a huge file


@dataclass(frozen=True, slots=True)
class Keyring:
    secrets: tuple[bytes, ...] = field(repr=False)
    fingerprint: str
    too_open: bool  # writable by its group, or open to others

    def __len__(self) -> int:
        return len(self.secrets)


def parse_secrets(data: bytes) -> tuple[bytes, ...]:
    lines = (line.rstrip(b"\r") for line in data.split(b"\n"))
    return tuple(line for line in lines if line.strip())


def fingerprint(secret: bytes) -> str:
    return hashlib.sha256(b"pysrsd fingerprint\0" + secret).hexdigest()[:12]


def load_keyring(path: Path) -> Keyring:
    """Read ``path``; raise ConfigError (naming the setting) if it is unusable: missing,
    unreadable, not a regular file (a FIFO would hang a blocking open), too large, empty."""
    data, info = read_trusted(path, MAX_SECRETS_FILE, "secrets-file")
    secrets = parse_secrets(data)
    if not secrets:
        raise ConfigError(f"secrets-file: {path} contains no secret")
    if b"\0" in b"".join(secrets):
        raise ConfigError(f"secrets-file: {path} contains a NUL byte")
    return Keyring(
        secrets=secrets,
        fingerprint=fingerprint(secrets[0]),
        too_open=too_open(info),  # 0640 root:pysrsd is the layout
    )
