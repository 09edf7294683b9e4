"""What a reload applies of a changed configuration, and what needs a restart.

A reload (SIGHUP) reads the settings again from the same sources as at start: the same command
line, the environment and the config file, in that order. Every setting that needs no new
socket, file descriptor or account is applied (``RELOADED``); the others keep the value the
daemon started with, and each one that changed is named so that the reload can say "restart
needed for". A setting not listed here (a new one included) needs a restart: that is the safe
side, since nothing is half-applied.
"""

from __future__ import annotations

from pysrsd.config.settings import Settings

RELOADED = frozenset(
    {
        "domain",
        "secrets_file",
        "exclude_file",
        "separator",
        "hash_length",
        "hash_min",
        "max_age",
        "always_rewrite",
        "reverse_any_domain",
        "hash_input",
        "accept_concatenated_before",
        "hash_alphabet",
        "original_envelope",
        "idle_timeout",
        "max_connections",
        "max_line",
        "log_level",
        "log_format",
    }
)


def dashed(names: list[str]) -> str:
    """Setting names as the config file and the flags spell them, for a log line."""
    return ", ".join(name.replace("_", "-") for name in names)


def changed(old: Settings, new: Settings) -> list[str]:
    """The settings whose value differs, in the order Settings declares them."""
    return [name for name in Settings.model_fields if getattr(old, name) != getattr(new, name)]


def split(old: Settings, new: Settings) -> tuple[Settings, list[str]]:
    """(the settings a reload applies: ``new`` where it may, ``old`` elsewhere; the changed
    settings that need a restart)."""
    restart = [name for name in changed(old, new) if name not in RELOADED]
    kept = {name: getattr(old, name) for name in restart}
    return new.model_copy(update=kept), restart
