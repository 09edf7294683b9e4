"""What the daemon says at start and at each reload about the state it loaded.

One event per load: ``loaded`` (start), ``reloaded`` (info; warning when a changed setting
needs a restart) or ``reload_failed`` (error), with the counts now in use and the signing
secret's fingerprint, never a secret. Then the advice that applies to what was loaded: too many
secrets, short secrets, a secrets file open to others, a forgeable hash input or ``hash-min``,
an acceptance window for classic hashes that reaches further ahead than ``max-age`` days; and
at a reload, a secrets file that kept none of the previous secrets and a changed domain. The
window's state is logged at start, at reload, and once more when it closes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog

from pysrsd.config.keyring import Keyring
from pysrsd.config.settings import Settings
from pysrsd.policy.state import State
from pysrsd.srs.hashing import Window, describe, today

log = structlog.get_logger("pysrsd.state")
MANY_SECRETS = 8  # with 4-character hashes, 8 secrets already make a forgery 8x likelier
SHORT_SECRET = 16  # bytes; a shorter secret can be guessed from a few SRS addresses
WEAK_HASH_MIN = 4  # base64 characters: below 4, a random hash verifies once in 2**18 tries


def window(settings: Settings) -> Window | None:
    """Classic hashes accepted before a day, in separated mode (``None``: not at all)."""
    before = settings.accept_concatenated_before
    if before is None or settings.hash_input != "separated":
        return None
    return Window(before, settings.max_age)


def hash_lines(settings: Settings, clock: Callable[[], float]) -> list[str]:
    """How hashes are made and checked today (for ``pysrsctl check``)."""
    return describe(settings.hash_input, settings.hash_alphabet, window(settings), today(clock))


class Reports:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._window_logged = ""  # "open" or "closed" once logged; every load logs again

    def loaded(self, event: str, settings: Settings, state: State, **why: str) -> None:
        keyring = state.keyring
        level = log.info if event != "reload_failed" else log.error
        if event == "reloaded" and why.get("restart_needed"):
            level = log.warning
        level(
            event,
            **why,
            secrets=len(keyring),
            signing_key=keyring.fingerprint,
            exclusions=len(state.exclusions),
        )
        if len(keyring) > MANY_SECRETS:
            log.warning(
                "many_secrets",
                secrets=len(keyring),
                advice="every secret is tried when verifying, so each one adds to the odds "
                "of a forged hash; remove secrets older than max-age days",
            )
        self._hash(settings, keyring)
        if keyring.too_open:
            log.warning(
                "secrets_file_too_open",
                path=str(settings.secrets_file),
                advice="chown root:pysrsd, chmod 0640: the daemon's group reads it, no one else",
            )

    def _hash(self, settings: Settings, keyring: Keyring) -> None:
        """What could make a forged hash verify."""
        if settings.hash_input == "concatenated":
            log.warning(
                "hash_input_forgeable",
                advice="concatenated input (classic SRS) lets a hash minted for one address "
                "verify for another (mbob@gmail.co -> bob@gmail.com): use hash-input separated "
                "with accept-concatenated-before set to the day after the last classic hash "
                "was minted (UTC)",
            )
        if any(len(secret) < SHORT_SECRET for secret in keyring.secrets):
            log.warning("short_secret", advice=f"use secrets of at least {SHORT_SECRET} bytes")
        if settings.hash_min < WEAK_HASH_MIN:
            log.warning(
                "weak_hash_min",
                hash_min=settings.hash_min,
                advice=f"a hash-min below {WEAK_HASH_MIN} makes forged hashes easy to guess",
            )
        self._far_window(settings)
        self._window_logged = ""
        self.check_window(settings)

    def _far_window(self, settings: Settings) -> None:
        accepted = window(settings)
        if accepted is None:
            return
        ahead = accepted.days_ahead(today(self._clock))
        if ahead > settings.max_age:
            log.warning(
                "concatenated_window_far",
                date=str(accepted.before),
                days_ahead=ahead,
                last_day=str(accepted.last_day),
                advice="classic hashes can be forged, and addresses stamped up to the day "
                "before this date keep them accepted until the last day: set "
                "accept-concatenated-before to the day after the last classic hash was minted "
                "(UTC)",
            )

    def check_window(self, settings: Settings) -> None:
        """Log the acceptance window at start and reload, and once when it closes."""
        accepted = window(settings)
        if accepted is None:
            return
        state = "open" if accepted.is_open(today(self._clock)) else "closed"
        if state == self._window_logged:
            return
        self._window_logged = state
        log.info(
            f"concatenated_window_{state}",
            accepted="classic hashes on addresses stamped before the date",
            date=str(accepted.before),
            last_day=str(accepted.last_day),
        )


def secrets_replaced(settings: Settings, previous: int) -> None:
    """A reload asked for (SIGHUP) found a secrets file that keeps no secret in use."""
    log.warning(
        "secrets_replaced",
        path=str(settings.secrets_file),
        previous_secrets=previous,
        effect="bounces to addresses signed before now are refused (bad hash)",
        advice="to rotate, put the new secret on top and keep the old ones for max-age days",
    )


def domain_changed(old: Settings, new: Settings) -> None:
    advice: dict[str, Any] = {}
    if not new.reverse_any_domain:
        advice["advice"] = (
            f"turn on reverse-any-domain for max-age days ({new.max_age}) to keep reversing "
            f"them, while {old.domain} still routes mail here"
        )
    log.warning(
        "domain_changed",
        previous=old.domain,
        domain=new.domain,
        effect="bounces to SRS addresses at the previous domain are answered 500 (SRS address "
        "of another domain), as after a restart",
        **advice,
    )
