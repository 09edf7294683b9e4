"""``State`` (immutable: keyring, exclusions, engine, policy) and ``Runtime`` (reloads it).

Reload (SIGHUP, or a change seen on the secrets or exclusion file) builds a new State and
swaps one reference, so a lookup sees either the old State or the new one, never a mix. A file
that cannot be read (missing, unreadable, empty) keeps its last good contents; at start the
same problem is a ``ConfigError``. Each reload logs one event: ``reloaded`` (info) or
``reload_failed`` (error: what was kept, what was reloaded, why), never both.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from pysrsd.config.keyring import Keyring, load_keyring
from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError
from pysrsd.policy.envelopes.database import EnvelopeDatabase, open_database
from pysrsd.policy.exclusions import Exclusions, load_exclusions
from pysrsd.srs.engine import Engine
from pysrsd.srs.hashing import Window, describe, today

log = structlog.get_logger("pysrsd.state")
FileSignature = tuple[int, int, int, int, int] | None
MANY_SECRETS = 8  # with 4-character hashes, 8 secrets already make a forgery 8x likelier
SHORT_SECRET = 16  # bytes; a shorter secret can be guessed from a few SRS addresses
WEAK_HASH_MIN = 4  # base64 characters: below 4, a random hash verifies once in 2**18 tries


@dataclass(frozen=True, slots=True)
class Policy:
    """What the tables need besides the engine."""

    domain: bytes  # lower case, for comparisons
    always_rewrite: bool
    reverse_any_domain: bool
    original_envelope: str = "embedded"  # embedded | database | auto


@dataclass(frozen=True, slots=True)
class State:
    engine: Engine
    exclusions: Exclusions
    keyring: Keyring
    policy: Policy
    envelopes: EnvelopeDatabase | None = None  # the same one across reloads


def _signature(path: Path | None) -> FileSignature:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size, st.st_mode)


def _on_engine_warning(message: str) -> None:
    log.info("srs_warning", message=message)


def build_state(
    settings: Settings,
    keyring: Keyring,
    exclusions: Exclusions,
    clock: Callable[[], float],
    envelopes: EnvelopeDatabase | None = None,
) -> State:
    domain = settings.domain.encode()
    engine = Engine(
        keyring.secrets,
        domain,
        separator=settings.separator.encode(),
        hash_length=settings.hash_length,
        hash_min=settings.hash_min,
        max_age=settings.max_age,
        hash_input=settings.hash_input,
        hash_alphabet=settings.hash_alphabet,
        accept_concatenated_before=settings.accept_concatenated_before,
        clock=clock,
        on_warning=_on_engine_warning,
    )
    policy = Policy(
        domain.lower(),
        settings.always_rewrite,
        settings.reverse_any_domain,
        settings.original_envelope,
    )
    return State(engine, exclusions, keyring, policy, envelopes)


class Runtime:
    """Holds the current State; ``reload`` and ``check_files`` replace it."""

    def __init__(
        self, settings: Settings, clock: Callable[[], float] = time.time, *, read_only: bool = False
    ) -> None:
        """``read_only`` (pysrsctl): the envelope database is read, never created or written."""
        self._settings = settings
        self._clock = clock
        self._signatures = self._stat()
        keyring = load_keyring(settings.secrets_file)  # ConfigError at start: exit
        exclusions = load_exclusions(settings.exclude_file)
        self.envelopes = open_database(settings, clock, read_only=read_only)
        self.state = build_state(settings, keyring, exclusions, clock, self.envelopes)
        self._window_logged = ""  # "open" or "closed" once logged; every reload logs again
        self._report(keyring, exclusions, "loaded")
        # For metrics, read at scrape time: reload results, and since when the signing
        # secret signs (the secrets file's modification time when it was first seen).
        self.reloads_ok = self.reloads_failed = 0
        self.last_reload_ok = True
        self.last_good_load = clock()
        self.signing_since = self._modified(self._signatures[0])

    def _stat(self) -> tuple[FileSignature, FileSignature]:
        return _signature(self._settings.secrets_file), _signature(self._settings.exclude_file)

    def _report(self, keyring: Keyring, exclusions: Exclusions, event: str, **why: str) -> None:
        level = log.error if event == "reload_failed" else log.info
        level(
            event,
            **why,
            secrets=len(keyring),
            signing_key=keyring.fingerprint,
            exclusions=len(exclusions),
        )
        if len(keyring) > MANY_SECRETS:
            log.warning(
                "many_secrets",
                secrets=len(keyring),
                advice="every secret is tried when verifying, so each one adds to the odds "
                "of a forged hash; remove secrets older than max-age days",
            )
        self._report_hash(keyring)
        if keyring.too_open:
            log.warning(
                "secrets_file_too_open",
                path=str(self._settings.secrets_file),
                advice="chown root:pysrsd, chmod 0640: the daemon's group reads it, no one else",
            )

    def window(self) -> Window | None:
        before = self._settings.accept_concatenated_before
        if before is None or self._settings.hash_input != "separated":
            return None
        return Window(before, self._settings.max_age)

    def hash_lines(self) -> list[str]:
        """How hashes are made and checked today (for ``pysrsctl check``)."""
        settings = self._settings
        return describe(settings.hash_input, settings.hash_alphabet, self.window(), self._day())

    def _day(self) -> int:
        return today(self._clock)

    def _report_hash(self, keyring: Keyring) -> None:
        """At start and on every reload: what could make a forged hash verify."""
        if self._settings.hash_input == "concatenated":
            log.warning(
                "hash_input_forgeable",
                advice="concatenated input (classic SRS) lets a hash minted for one address "
                "verify for another (mbob@gmail.co -> bob@gmail.com): use hash-input separated "
                "with accept-concatenated-before set to the day after the last classic hash "
                "was minted (UTC)",
            )
        if any(len(secret) < SHORT_SECRET for secret in keyring.secrets):
            log.warning("short_secret", advice=f"use secrets of at least {SHORT_SECRET} bytes")
        if self._settings.hash_min < WEAK_HASH_MIN:
            log.warning(
                "weak_hash_min",
                hash_min=self._settings.hash_min,
                advice=f"a hash-min below {WEAK_HASH_MIN} makes forged hashes easy to guess",
            )
        self._window_logged = ""
        self._check_window()

    def _check_window(self) -> None:
        """Log the acceptance window at start and reload, and once when it closes."""
        window = self.window()
        if window is None:
            return
        state = "open" if window.is_open(self._day()) else "closed"
        if state == self._window_logged:
            return
        self._window_logged = state
        log.info(
            f"concatenated_window_{state}",
            accepted="classic hashes on addresses stamped before the date",
            date=str(window.before),
            last_day=str(window.last_day),
        )

    def reload(self, why: str = "signal") -> bool:
        """Re-read both files; keep the last good contents of a file that fails. One event
        says what was reloaded and what was kept: ``reloaded`` (info) when both files were
        read, ``reload_failed`` (error, with the reasons) when either was kept; the counts
        are those now in use."""
        self._signatures = self._stat()
        old = self.state
        errors: dict[str, str] = {}
        try:
            keyring = load_keyring(self._settings.secrets_file)
        except ConfigError as exc:
            keyring, errors["secrets"] = old.keyring, str(exc)
        try:
            exclusions = load_exclusions(self._settings.exclude_file)
        except ConfigError as exc:
            exclusions, errors["exclusions"] = old.exclusions, str(exc)
        self.state = build_state(self._settings, keyring, exclusions, self._clock, self.envelopes)
        if keyring.fingerprint != old.keyring.fingerprint:
            self.signing_since = self._modified(self._signatures[0])
        done = [name for name in ("secrets", "exclusions") if name not in errors]
        self.last_reload_ok = not errors
        if not errors:
            self.reloads_ok += 1
            self.last_good_load = self._clock()
            self._report(keyring, exclusions, "reloaded", why=why, reloaded="secrets, exclusions")
            return True
        self.reloads_failed += 1
        kept = ", ".join(f"previous {name}" for name in errors)
        reloaded = ", ".join(done) or "nothing"
        error = "; ".join(errors.values())
        self._report(
            keyring, exclusions, "reload_failed", why=why, kept=kept, reloaded=reloaded, error=error
        )
        return False

    def _modified(self, signature: FileSignature) -> float:
        return self._clock() if signature is None else signature[2] / 1e9

    def check_files(self) -> bool:
        """Reload if either file changed since the last look (in place or renamed over)."""
        self._check_window()
        if self._stat() == self._signatures:
            return False
        self.reload("file changed")
        return True
