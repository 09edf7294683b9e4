"""``Runtime``: holds the ``State`` in use and reloads it.

Every reload builds a whole new State with ``build_state`` and swaps one reference, so a
lookup sees either the old State or the new one, never a mix.

- ``reload()`` (SIGHUP) reads the settings again, from the same command line, the environment
  and the config file (``reread``), applies every one that needs no new socket
  (``config.reloading``) and re-reads the secrets file and the exclusion map. A configuration
  that does not validate changes nothing: the error names the setting, and the State, the
  settings and the files in use stay as they were. A changed setting that needs a restart keeps
  its old value and is named in the reload's event (``restart_needed``).
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

from pysrsd.config import reloading
from pysrsd.config.keyring import Keyring, load_keyring
from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError
from pysrsd.policy import reports
from pysrsd.policy.envelopes.database import open_database
from pysrsd.policy.exclusions import Exclusions, load_exclusions
from pysrsd.policy.state import State, build_state
from pysrsd.policy.watch import FileSignature, FileWatch, signatures

log = structlog.get_logger("pysrsd.state")
Errors = dict[str, str]  # what was kept ("secrets", "exclusions") → why


def _files(settings: Settings) -> tuple[FileWatch, tuple[Keyring, Exclusions]]:
    watch = FileWatch(settings.secrets_file, settings.exclude_file)
    return watch, (load_keyring(settings.secrets_file), load_exclusions(settings.exclude_file))


class Runtime:
    """Holds the current State; ``reload`` and ``check_files`` replace it."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        reread: Callable[[], Settings] | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        """``read_only`` (pysrsctl): the envelope database is read, never created or written."""
        self._settings = settings
        self._clock = clock
        self._reread = reread  # None: a reload re-reads the two files only
        self.watch, (keyring, exclusions) = _files(settings)  # ConfigError at start: exit
        self.envelopes = open_database(settings, clock, read_only=read_only)
        self.state = build_state(settings, keyring, exclusions, clock, self.envelopes)
        self.reports = reports.Reports(clock)
        self.reports.loaded("loaded", settings, self.state)
        # For metrics, read at scrape time: reload results, and since when the signing
        # secret signs (the secrets file's modification time when it was first seen).
        self.reloads_ok = self.reloads_failed = 0
        self.last_reload_ok = True
        self.last_good_load = clock()
        self.signing_since = self._modified(self.watch.read[0])

    @property
    def settings(self) -> Settings:
        """The settings in use (those that need a restart as the daemon started with them)."""
        return self._settings

    def hash_lines(self) -> list[str]:
        return reports.hash_lines(self._settings, self._clock)

    def reload(self, why: str = "SIGHUP") -> bool:
        """The settings and both files, at once. True if everything asked for was applied."""
        if self._reread is None:
            return self._load(self._settings, why, restart=None)
        try:
            wanted = self._reread()
        except ConfigError as exc:
            return self._failed(why, str(exc))
        settings, restart = reloading.split(self._settings, wanted)
        if settings.original_envelope != "embedded" and self.envelopes is None:
            settings = settings.model_copy(update={"original_envelope": "embedded"})
            restart.append("original_envelope")  # the database is opened and checked at start
        return self._load(settings, why, restart=restart)

    def check_files(self) -> bool:
        """Reload the two files if they changed and have been still since the last look."""
        self.reports.check_window(self._settings)
        if not self.watch.settled():
            return False
        self._load(self._settings, "file changed", restart=None, asked=False)
        return True

    def _load(
        self, settings: Settings, why: str, *, restart: list[str] | None, asked: bool = True
    ) -> bool:
        """Build and swap a State from ``settings`` and the files they name, keeping the last
        good contents of a file that fails. ``restart``: the changed settings not applied
        (None: the configuration was not read again)."""
        paths = (settings.secrets_file, settings.exclude_file)
        read = signatures(paths)  # before reading: a change after it is seen at the next look
        old, errors = self.state, Errors()
        keyring = self._keyring(settings, old.keyring, errors, asked)
        try:
            exclusions = load_exclusions(settings.exclude_file)
        except ConfigError as exc:
            exclusions, errors["exclusions"] = old.exclusions, str(exc)
        try:
            state = build_state(settings, keyring, exclusions, self._clock, self.envelopes)
        except (ConfigError, ValueError) as exc:
            return self._failed(why, str(exc))
        self.watch.seen(paths, read)
        changed = self._swap(settings, state, read[0])
        return self._report(why, state, errors, restart, changed)

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

    def _swap(self, settings: Settings, state: State, secrets_read: FileSignature) -> list[str]:
        """Put ``settings`` and ``state`` in use; the names of the settings that changed."""
        old, self._settings = self._settings, settings
        if state.keyring.fingerprint != self.state.keyring.fingerprint:
            self.signing_since = self._modified(secrets_read)
        self.state = state
        if settings.domain.lower() != old.domain.lower():
            reports.domain_changed(old, settings)
        return reloading.changed(old, settings)

    def _report(
        self,
        why: str,
        state: State,
        errors: Errors,
        restart: list[str] | None,
        changed: list[str],
    ) -> bool:
        names = ("configuration", "secrets", "exclusions")[0 if restart is not None else 1 :]
        extra = {"reloaded": ", ".join(n for n in names if n not in errors) or "nothing"}
        if errors:
            extra["kept"] = ", ".join(f"previous {name}" for name in errors)
            extra["error"] = "; ".join(errors.values())
        if changed:
            extra["changed"] = reloading.dashed(changed)
        if restart:
            extra["restart_needed"] = reloading.dashed(restart)
        self.last_reload_ok = not errors
        if errors:
            self.reloads_failed += 1
        else:
            self.reloads_ok += 1
            self.last_good_load = self._clock()
        event = "reload_failed" if errors else "reloaded"
        self.reports.loaded(event, self._settings, state, why=why, **extra)
        return not errors

    def _failed(self, why: str, error: str) -> bool:
        """Nothing was applied: the configuration, the secrets and the exclusions in use stay."""
        self.reloads_failed += 1
        self.last_reload_ok = False
        kept = "previous configuration, secrets, exclusions"
        why_failed = {"why": why, "reloaded": "nothing", "kept": kept, "error": error}
        self.reports.loaded("reload_failed", self._settings, self.state, **why_failed)
        return False

    def _modified(self, signature: FileSignature) -> float:
        return self._clock() if signature is None else signature[2] / 1e9
