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

Envelope database (``original_envelope``): ``embedded`` never touches it; ``database`` stores
every plain sender that would be rewritten (not SRS0/SRS1 ones: those become SRS1 as usual,
as postsrsd 2.x does) and signs its alias ``KEY@1`` instead; ``auto`` does so only when the
embedded local part would exceed 64 octets (RFC 5321 4.5.3.1.1). ``forward``/``reverse`` are
pure: they return an ``Answer`` or a plan (``Store``/``Fetch``) that ``lookup`` carries out:
a fetch from a local store (SQLite) synchronously, anything else as an awaitable (a row is
committed on the store's thread with the others of the same turn of the loop, and its answer
leaves only once it is committed; Redis is network I/O).
Faults: a failed store answers the embedded form if its local part fits in 64 octets, else
TEMP_FAIL; a failed fetch is TEMP_FAIL, never NOT_FOUND (that would bounce the bounce); an
alias the database does not hold is NOT_FOUND "unknown alias", as in postsrsd 2.x.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass

import structlog

from pysrsd.observe import logs
from pysrsd.observe.logs import printable
from pysrsd.observe.metrics import observe_database
from pysrsd.policy import fast
from pysrsd.policy.envelopes import AsyncStore, LocalStore, StoreError, alias, is_alias
from pysrsd.policy.refusals import RefusalLog
from pysrsd.policy.state import State
from pysrsd.srs.engine import MAX_ADDRESS, Rewritten, is_srs
from pysrsd.wire.lookup import Answer, Status, Table

log = structlog.get_logger("pysrsd.lookup")

_NOT_SRS, _FOREIGN, _OWN = fast.NOT_SRS, fast.FOREIGN, fast.OWN  # the fast path's too
_FAULT = Answer(Status.TEMP_FAIL, b"internal error")
_NOT_SRS_REASON = "not an SRS address"  # e.g. a quoted ordinary local part: stays silent
REFUSALS = RefusalLog()  # housekeeping calls REFUSALS.flush() for the summary line
_DB_DOWN = Answer(Status.TEMP_FAIL, b"envelope database unavailable")
_NO_DB = Answer(Status.NOT_FOUND, b"database address, no envelope database configured")
_TOO_LONG = Answer(Status.NOT_FOUND, b"address too long")
_LOOKS_LIKE_ALIAS = Answer(Status.NOT_FOUND, b"sender has the form of a database alias")
_UNKNOWN_ALIAS = Answer(Status.NOT_FOUND, b"unknown alias")
LOCAL_PART_MAX = 64  # octets, RFC 5321 4.5.3.1.1


@dataclass(frozen=True, slots=True)
class Store:
    """Keep ``value`` under ``key``, then answer ``done``; if the database fails, ``fallback``."""

    key: bytes
    value: bytes
    done: Answer
    fallback: Answer


@dataclass(frozen=True, slots=True)
class Fetch:
    """Answer the sender stored under ``key``."""

    key: bytes


Plan = Answer | Store | Fetch


def _domain(address: bytes) -> bytes:
    return address.rpartition(b"@")[2].lower()


def _unquoted(key: bytes) -> bytes:
    """``key`` with the quotes around its local part removed: what the hash covers."""
    local, at, domain = key.rpartition(b"@")
    if len(local) >= 2 and local[:1] == b'"' and local[-1:] == b'"':
        return local[1:-1] + at + domain
    return key


def forward(state: State, key: bytes) -> Plan:
    if len(key) > MAX_ADDRESS:  # first: no policy work on a key no address can be
        return _TOO_LONG
    excluded = state.exclusions.match(key)
    if excluded is not None:
        return Answer(Status.NOT_FOUND, excluded.encode())
    # Its SRS address would reverse to a database lookup, not to it. The quotes do not count:
    # "KEY"@1 is signed without them, and its SRS address, unquoted, reverses to KEY@1.
    if is_alias(key) or (key[:1] == b'"' and is_alias(_unquoted(key))):
        return _LOOKS_LIKE_ALIAS
    if _domain(key) == state.policy.domain and (
        not state.policy.always_rewrite or is_srs(key.lstrip(b'"'))
    ):
        # Postfix re-queries each result until it maps to itself: even with always-rewrite,
        # an SRS address we minted must not be wrapped again (SRS0 → SRS1 → ...).
        return _OWN
    outcome = state.engine.forward(key)
    if not isinstance(outcome, Rewritten):
        return Answer(Status.NOT_FOUND, outcome.reason.encode())
    embedded = Answer(Status.FOUND, outcome.address)
    mode = state.policy.original_envelope
    if mode == "embedded" or is_srs(key.lstrip(b'"')):
        return embedded
    fits = len(outcome.address.rpartition(b"@")[0]) <= LOCAL_PART_MAX
    if mode == "auto" and fits:
        return embedded
    key_alias = alias(key)
    via = state.engine.forward(key_alias)
    if not isinstance(via, Rewritten):  # the alias is always signable; a bug if not
        raise AssertionError(f"alias not rewritten: {via}")
    return Store(key_alias, key, Answer(Status.FOUND, via.address), embedded if fits else _DB_DOWN)


def reverse(state: State, key: bytes) -> Plan:
    if not is_srs(key) and key[:1] != b'"':  # quoted SRS local parts are rare: engine checks
        return _NOT_SRS
    if len(key) > MAX_ADDRESS:
        return _TOO_LONG
    if not state.policy.reverse_any_domain and _domain(key) != state.policy.domain:
        return _FOREIGN
    outcome = state.engine.reverse(key)
    if not isinstance(outcome, Rewritten):
        if outcome.reason != _NOT_SRS_REASON:
            REFUSALS.refused(Table.REVERSE.value, key, outcome.reason)
        return Answer(Status.NOT_FOUND, outcome.reason.encode())
    if is_alias(outcome.address):  # postsrsd 2.x: user@1 is a database key, any case
        return Fetch(outcome.address.upper()) if state.envelopes else _NO_DB
    return Answer(Status.FOUND, outcome.address)


_HANDLERS = {Table.FORWARD: forward, Table.REVERSE: reverse}


def lookup(state: State, table: Table, key: bytes) -> Answer | Awaitable[Answer]:
    """Answer one query and log it: rewrites at info, refused bounces at info (bounded, by
    ``reverse``), other not-found at debug, faults at error. An awaitable when the answer
    waits for the database: a row to commit (SQLite, Redis) or a network read (Redis)."""
    try:
        plan = _HANDLERS[table](state, key)
        if type(plan) is not Answer:
            assert state.envelopes is not None  # a plan is only made when there is one
            store = state.envelopes.store
            if isinstance(store, AsyncStore):
                return _remote(state, store, table, key, plan)
            assert isinstance(store, LocalStore)
            if isinstance(plan, Store):
                return _stored(state, store, table, key, plan)
            assert isinstance(plan, Fetch)
            return _local(state, store, table, key, plan)
    except Exception:  # a bug must not take the daemon down; Postfix retries a 400
        log.exception("lookup_failed", table=table.value, address=printable(key))
        return _FAULT
    assert type(plan) is Answer
    return _logged(table, key, plan)


def ask(state: State, table: Table, key: bytes) -> Answer:
    """``lookup`` outside the daemon (pysrsctl): in an event loop of its own, which an answer
    that waits for the database needs."""

    async def wait() -> Answer:
        result = lookup(state, table, key)
        return result if isinstance(result, Answer) else await result

    return asyncio.run(wait())


def _local(state: State, store: LocalStore, table: Table, key: bytes, plan: Fetch) -> Answer:
    """A read of a local store, on the loop: microseconds, and never a wait for a lock."""
    start = time.perf_counter()
    try:
        value: bytes | StoreError | None = store.get(plan.key)
    except StoreError as exc:
        value = exc
    return _finish(state, table, key, plan, value, start)


def _stored(
    state: State, store: LocalStore, table: Table, key: bytes, plan: Store
) -> asyncio.Future[Answer]:
    """The answer once the row is committed (or could not be): the store commits the rows of
    a turn of the loop together, on a thread of its own."""
    answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
    start = time.perf_counter()

    def done(error: StoreError | None) -> None:
        if answer.done():  # cancelled: the connection is gone
            return
        try:
            answer.set_result(_finish(state, table, key, plan, error, start))
        except Exception:  # as in lookup: a bug answers 400, the daemon goes on
            log.exception("lookup_failed", table=table.value, address=printable(key))
            answer.set_result(_FAULT)

    store.put(plan.key, plan.value, state.engine.valid_until(), done)
    return answer


async def _remote(state: State, store: AsyncStore, table: Table, key: bytes, plan: Plan) -> Answer:
    start = time.perf_counter()
    result: bytes | StoreError | None = None
    try:
        if isinstance(plan, Store):
            await store.put(plan.key, plan.value, state.engine.valid_until())
        else:
            assert isinstance(plan, Fetch)
            result = await store.get(plan.key)
    except StoreError as exc:
        result = exc
    except Exception:  # as in lookup: a bug answers 400, the daemon goes on
        log.exception("lookup_failed", table=table.value, address=printable(key))
        return _FAULT
    return _finish(state, table, key, plan, result, start)


def _finish(
    state: State,
    table: Table,
    key: bytes,
    plan: Plan,
    result: bytes | StoreError | None,
    start: float,
) -> Answer:
    """The logged answer to ``plan`` once the database has done its part: ``result`` is the
    value fetched (None: no such alias; None too once a row is stored) or the fault."""
    operation = "put" if isinstance(plan, Store) else "get"
    ok = not isinstance(result, StoreError)
    observe_database(operation, ok, time.perf_counter() - start)
    health = state.envelopes.health if state.envelopes else None
    if isinstance(result, StoreError):
        if health is not None:
            health.failed(operation, result)
        answer = plan.fallback if isinstance(plan, Store) else _DB_DOWN
    else:
        if health is not None:
            health.ok()
        if isinstance(plan, Store):
            answer = plan.done
        else:
            answer = Answer(Status.FOUND, result) if result else _UNKNOWN_ALIAS
    return _logged(table, key, answer)


def _logged(table: Table, key: bytes, answer: Answer) -> Answer:
    if answer.status is Status.FOUND:
        logs.rewrite(table.value, printable(key), printable(answer.text))
    elif logs.debug_enabled:  # the not-SRS path every delivery takes: no work when off
        log.debug(
            "not_found", table=table.value, address=printable(key), reason=answer.text.decode()
        )
    return answer
