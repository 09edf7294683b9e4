"""Prometheus metrics: what is counted, and the cheap meter on the lookup path.

Contract:
- ``build(settings, runtime, connections)`` returns ``Metrics``: the real thing when the
  ``metrics`` setting is given, otherwise a stand-in whose ``meter`` hands back the lookup
  function itself, so a daemon without metrics pays nothing and no caller branches per lookup.
  Asking for metrics without ``prometheus-client`` installed is a ``ConfigError``.
- Observed at the edges only: the transport wraps its lookup function (``meter``); connection,
  reload, secret and exclusion figures are read from the objects that already keep them, at
  scrape time. The engine and the codecs never import this module.
- The lookup path touches plain integers, not the library's locked values: the event loop's
  thread is the only writer and scrapes are served on that same loop (``scrape``), so a scrape
  always sees whole lookups. Per lookup: two clock reads, one bisect, three integer updates.
- Every series the daemon can produce exists from the start, at zero (alerts on ``increase``
  see the first event).
- ``observe_database(operation, ok, seconds)`` is the envelope database's entry point; a
  no-op until a daemon with metrics and a database enables it.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError
from pysrsd.observe.counts import (
    DATABASE_BUCKETS,
    DATABASE_OPERATIONS,
    LOOKUP_BUCKETS,
    PROTOCOLS,
    SAMPLE,
    Connections,
    Counts,
    Reloads,
)
from pysrsd.wire.lookup import Answer, Status, Table

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric
    from prometheus_client.registry import CollectorRegistry

S = TypeVar("S")  # the state a lookup reads: the policy's, unknown here
Lookup = Callable[[S, Table, bytes], Answer | Awaitable[Answer]]


class Metrics:
    """The stand-in (metrics off): nothing is measured, nothing is served."""

    enabled = False
    registry: CollectorRegistry | None = None

    def meter(self, protocol: str, lookup: Lookup[S]) -> Lookup[S]:
        return lookup


class LiveMetrics(Metrics):
    enabled = True

    def __init__(self, runtime: Reloads, connections: Connections, database: bool) -> None:
        from prometheus_client import (
            CollectorRegistry,
            GCCollector,
            PlatformCollector,
            ProcessCollector,
        )

        self.runtime = runtime
        self.connections = connections
        # per table: one count per bucket (the last is +Inf), then the sum of seconds
        self.histograms = {t: [0.0] * (len(LOOKUP_BUCKETS) + 2) for t in Table}
        self.counts = {(p, t): Counts(t) for p in PROTOCOLS for t in Table}
        self.registry = CollectorRegistry(auto_describe=False)
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=self.registry)
        self.registry.register(self)
        if database:
            _enable_database(self.registry)

    def meter(self, protocol: str, lookup: Lookup[S]) -> Lookup[S]:
        """``lookup``, counted (every one) and timed (one in ``SAMPLE``), for one protocol."""
        forward = self.counts[protocol, Table.FORWARD]
        reverse = self.counts[protocol, Table.REVERSE]
        f_counts, f_slot = forward.counts, forward.index.get
        r_counts, r_slot = reverse.counts, reverse.index.get
        f_hist, r_hist = self.histograms[Table.FORWARD], self.histograms[Table.REVERSE]
        clock, bounds = time.perf_counter, LOOKUP_BUCKETS
        found, is_forward = Status.FOUND, Table.FORWARD
        countdown = SAMPLE

        def metered(state: S, table: Table, key: bytes) -> Answer | Awaitable[Answer]:
            nonlocal countdown
            countdown -= 1
            if countdown:
                answer = lookup(state, table, key)
            else:
                countdown = SAMPLE
                start = clock()
                answer = lookup(state, table, key)
                elapsed = clock() - start
                histogram = f_hist if table is is_forward else r_hist
                histogram[bisect_left(bounds, elapsed)] += 1
                histogram[-1] += elapsed
            if type(answer) is not Answer:  # awaits Redis: seen by observe_database
                return answer
            if table is is_forward:
                if answer.status is found:
                    f_counts[0] += 1
                else:  # a reason not listed counts as "other"
                    f_counts[f_slot(answer.text) or forward.slot(answer)] += 1
            elif answer.status is found:
                r_counts[0] += 1
            else:
                r_counts[r_slot(answer.text) or reverse.slot(answer)] += 1
            return answer

        return metered

    def collect(self) -> Iterator[Metric]:
        from pysrsd.observe import metrics_families

        yield from metrics_families.lookups(self.counts, self.histograms)
        yield from metrics_families.connections(self.connections)
        yield from metrics_families.runtime(self.runtime, time.time())


def build(settings: Settings, runtime: Reloads, connections: Connections) -> Metrics:
    if settings.metrics is None:
        return Metrics()
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise ConfigError(
            "--metrics (PYSRSD_METRICS): prometheus-client is not installed "
            "(pip install 'pysrsd[metrics]')"
        ) from None
    return LiveMetrics(runtime, connections, settings.original_envelope != "embedded")


# -- envelope database ------------------------------------------------------------------
def _ignore(operation: str, ok: bool, seconds: float) -> None:
    return None


_database: Callable[[str, bool, float], None] = _ignore


def observe_database(operation: str, ok: bool, seconds: float) -> None:
    """Count one envelope database operation ("get", "put") and its duration in seconds."""
    _database(operation, ok, seconds)


def _enable_database(registry: CollectorRegistry) -> None:
    from prometheus_client import Counter, Histogram

    global _database
    operations = Counter(
        "pysrsd_database_operations",
        "Envelope database operations, by operation and result (ok, error).",
        ("operation", "result"),
        registry=registry,
    )
    latency = Histogram(
        "pysrsd_database_operation_duration_seconds",
        "Time taken by envelope database operations.",
        ("operation",),
        buckets=DATABASE_BUCKETS,
        registry=registry,
    )
    children = {}  # pre-bound: no label lookup per operation
    for op in DATABASE_OPERATIONS:
        for ok in (True, False):
            children[op, ok] = operations.labels(op, "ok" if ok else "error")
        latency.labels(op)

    def observe(operation: str, ok: bool, seconds: float) -> None:
        child = children.get((operation, ok))
        if child is None:  # an operation not foreseen: bound on first use
            child = children[operation, ok] = operations.labels(operation, "ok" if ok else "error")
        child.inc()
        latency.labels(operation).observe(seconds)

    _database = observe
