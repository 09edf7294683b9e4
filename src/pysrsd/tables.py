"""Policy: a forward or reverse lookup → ``Answer``. The one place statuses are decided.

Forward table (sender_canonical_maps), in order (docs/settings.md, "Tables"):
  not an address → NOT_FOUND; excluded → NOT_FOUND "domain/address excluded";
  already at our SRS domain → NOT_FOUND (Postfix re-queries a result until it maps to itself,
  so our own SRS addresses must stay as they are; always-rewrite rewrites only plain ones);
  otherwise the engine's SRS0 (or SRS1 for SRS addresses minted elsewhere).
Reverse table (recipient_canonical_maps), asked for every recipient of every message:
  not SRS0/SRS1 → NOT_FOUND (first and cheapest); an SRS address at another domain →
  NOT_FOUND unless reverse-any-domain; otherwise the engine decides (hash, day stamp).
An address problem is never TEMP_FAIL: a 400 on the reverse table defers every mail to that
recipient (postsrsd PR #198). TEMP_FAIL is only for an unexpected fault, which is logged.
Logs: a rewrite at info; an SRS address of our domain that the engine refuses (forged or stale
backscatter) at info with its reason, bounded per minute (``refusals``); every other not-found
(ordinary recipients above all) only at debug, at no cost when debug is off.
"""

from __future__ import annotations

import structlog

from pysrsd import logs
from pysrsd.engine import Rewritten, is_srs
from pysrsd.logs import printable
from pysrsd.lookup import Answer, Status, Table
from pysrsd.refusals import RefusalLog
from pysrsd.state import State

log = structlog.get_logger("pysrsd.lookup")

_NOT_SRS = Answer(Status.NOT_FOUND, b"not an SRS address")
_FOREIGN = Answer(Status.NOT_FOUND, b"SRS address of another domain")
_OWN = Answer(Status.NOT_FOUND, b"already at the SRS domain")
_FAULT = Answer(Status.TEMP_FAIL, b"internal error")
_NOT_SRS_REASON = "not an SRS address"  # e.g. a quoted ordinary local part: stays silent
REFUSALS = RefusalLog()  # housekeeping calls REFUSALS.flush() for the summary line


def _domain(address: bytes) -> bytes:
    return address.rpartition(b"@")[2].lower()


def forward(state: State, key: bytes) -> Answer:
    excluded = state.exclusions.match(key)
    if excluded is not None:
        return Answer(Status.NOT_FOUND, excluded.encode())
    if _domain(key) == state.policy.domain and (
        not state.policy.always_rewrite or is_srs(key.lstrip(b'"'))
    ):
        # Postfix re-queries each result until it maps to itself: even with always-rewrite,
        # an SRS address we minted must not be wrapped again (SRS0 → SRS1 → ...).
        return _OWN
    outcome = state.engine.forward(key)
    if isinstance(outcome, Rewritten):
        return Answer(Status.FOUND, outcome.address)
    return Answer(Status.NOT_FOUND, outcome.reason.encode())


def reverse(state: State, key: bytes) -> Answer:
    if not is_srs(key) and key[:1] != b'"':  # quoted SRS local parts are rare: engine checks
        return _NOT_SRS
    if not state.policy.reverse_any_domain and _domain(key) != state.policy.domain:
        return _FOREIGN
    outcome = state.engine.reverse(key)
    if isinstance(outcome, Rewritten):
        return Answer(Status.FOUND, outcome.address)
    if outcome.reason != _NOT_SRS_REASON:
        REFUSALS.refused(Table.REVERSE.value, key, outcome.reason)
    return Answer(Status.NOT_FOUND, outcome.reason.encode())


_HANDLERS = {Table.FORWARD: forward, Table.REVERSE: reverse}


def lookup(state: State, table: Table, key: bytes) -> Answer:
    """Answer one query and log it: rewrites at info, refused bounces at info (bounded, by
    ``reverse``), other not-found at debug, faults at error."""
    try:
        answer = _HANDLERS[table](state, key)
    except Exception:  # a bug must not take the daemon down; Postfix retries a 400
        log.exception("lookup_failed", table=table.value, address=printable(key))
        return _FAULT
    if answer.status is Status.FOUND:
        logs.rewrite(table.value, printable(key), printable(answer.text))
    elif logs.debug_enabled:  # the not-SRS path every delivery takes: no work when off
        log.debug(
            "not_found", table=table.value, address=printable(key), reason=answer.text.decode()
        )
    return answer
