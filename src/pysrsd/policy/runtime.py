"""``Runtime``: holds the ``State`` in use and reloads it.

Every reload builds a whole new State with ``build_state`` and swaps one reference, so a
lookup sees either the old State or the new one, never a mix.

- ``reload()`` (SIGHUP) re-reads the secrets file and the exclusion map at once.
- ``check_files()`` (each second) reloads the two files, not the settings, once they changed
  and have been still since the previous look (``watch``), so a file being written is not read
  half-way. It never takes a secrets file that keeps none of the secrets in use: that is a half
  written file as often as a replacement, and a replacement drops every address in flight, so
  it waits for a SIGHUP (which applies it, with a warning).
- A file that cannot be read (missing, unreadable, empty) keeps its last good contents; at
  start the same problem is a ``ConfigError``. Each reload logs one event (``reports``):
  ``reloaded`` or ``reload_failed`` (what was kept, what was reloaded, why), never both.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from pysrsd.config.keyring import Keyring, load_keyring
from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError
from pysrsd.policy import reports
from pysrsd.policy.envelopes import display
from pysrsd.policy.envelopes.database import EnvelopeDatabase, open_store
from pysrsd.policy.exclusions import Exclusions, load_exclusions
from pysrsd.policy.state import State, build_state
from pysrsd.policy.watch import FileSignature, FileWatch, signatures

log = structlog.get_logger("pysrsd.state")
Errors = dict[str, str]  # what was kept ("secrets", "exclusions") → why


def _envelopes(settings: Settings, clock: Callable[[], float]) -> EnvelopeDatabase | None:
    """The envelope database when a mode uses one; opening does no I/O (see ``probe``)."""
    if settings.original_envelope == "embedded":
        return None
    uri = settings.envelope_database
    return EnvelopeDatabase(open_store(uri, clock), display(uri))


def _files(settings: Settings) -> tuple[FileWatch, tuple[Keyring, Exclusions]]:
    watch = FileWatch(settings.secrets_file, settings.exclude_file)
    return watch, (load_keyring(settings.secrets_file), load_exclusions(settings.exclude_file))


class Runtime:
    """Holds the current State; ``reload`` and ``check_files`` replace it."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self.watch, (keyring, exclusions) = _files(settings)  # ConfigError at start: exit
        self.envelopes = _envelopes(settings, clock)
        self.state = build_state(settings, keyring, exclusions, clock, self.envelopes)
        self.reports = reports.Reports(clock)
        self.reports.loaded("loaded", settings, self.state)
        # For metrics, read at scrape time: reload results, and since when the signing
        # secret signs (the secrets file's modification time when it was first seen).
        self.reloads_ok = self.reloads_failed = 0
        self.last_reload_ok = True
        self.last_good_load = clock()
        self.signing_since = self._modified(self.watch.read[0])

    def hash_lines(self) -> list[str]:
        return reports.hash_lines(self._settings, self._clock)

    def reload(self, why: str = "SIGHUP") -> bool:
        """Both files, at once. True if both were read."""
        return self._load(why, asked=True)

    def check_files(self) -> bool:
        """Reload the two files if they changed and have been still since the last look."""
        self.reports.check_window(self._settings)
        if not self.watch.settled():
            return False
        self._load("file changed", asked=False)
        return True

    def _load(self, why: str, *, asked: bool) -> bool:
        """Build and swap a State from the files, keeping the last good contents of a file
        that fails."""
        settings = self._settings
        paths = (settings.secrets_file, settings.exclude_file)
        read = signatures(paths)  # before reading: a change after it is seen at the next look
        old, errors = self.state, Errors()
        keyring = self._keyring(settings, old.keyring, errors, asked)
        try:
            exclusions = load_exclusions(settings.exclude_file)
        except ConfigError as exc:
            exclusions, errors["exclusions"] = old.exclusions, str(exc)
        state = build_state(settings, keyring, exclusions, self._clock, self.envelopes)
        self.watch.seen(paths, read)
        if keyring.fingerprint != old.keyring.fingerprint:
            self.signing_since = self._modified(read[0])
        self.state = state
        return self._report(why, state, errors)

    def _keyring(self, settings: Settings, old: Keyring, errors: Errors, asked: bool) -> Keyring:
        try:
            keyring = load_keyring(settings.secrets_file)
        except ConfigError as exc:
            errors["secrets"] = str(exc)
            return old
        if set(keyring.secrets) & set(old.secrets):
            return keyring
        if asked:
            reports.secrets_replaced(settings, len(old))
            return keyring
        errors["secrets"] = (
            f"secrets-file: {settings.secrets_file} keeps none of the {len(old)} secrets in use "
            "(written half-way, or replaced?); send SIGHUP to use it as it is"
        )
        return old

    def _report(self, why: str, state: State, errors: Errors) -> bool:
        names = ("secrets", "exclusions")
        extra = {"reloaded": ", ".join(n for n in names if n not in errors) or "nothing"}
        if errors:
            extra["kept"] = ", ".join(f"previous {name}" for name in errors)
            extra["error"] = "; ".join(errors.values())
        self.last_reload_ok = not errors
        if errors:
            self.reloads_failed += 1
        else:
            self.reloads_ok += 1
            self.last_good_load = self._clock()
        event = "reload_failed" if errors else "reloaded"
        self.reports.loaded(event, self._settings, state, why=why, **extra)
        return not errors

    def _modified(self, signature: FileSignature) -> float:
        return self._clock() if signature is None else signature[2] / 1e9
