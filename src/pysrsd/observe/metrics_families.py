"""Scrape time: the daemon's own figures → Prometheus metric families.

Called only by ``metrics.LiveMetrics.collect`` (on the event loop, between lookups), so the
figures it reads are whole. Names follow the Prometheus conventions: ``pysrsd_`` prefix, base
units (seconds), ``_total`` on counters (the library appends it to a counter family's name).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from pysrsd.observe.counts import LOOKUP_BUCKETS, SAMPLE, Connections, Counts, Reloads, slots
from pysrsd.wire.lookup import Table

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric


def lookups(
    tables: Mapping[tuple[str, Table], Counts], histograms: Mapping[Table, Sequence[float]]
) -> Iterator[Metric]:
    family = CounterMetricFamily(
        "pysrsd_lookups",
        "Lookups answered, by table, protocol, outcome (rewritten, not_rewritten, "
        "temporary_failure) and reason.",
        labels=("table", "protocol", "outcome", "reason"),
    )
    for (protocol, table), meter in tables.items():
        for (outcome, reason), count in zip(slots(table), meter.counts, strict=True):
            family.add_metric((table.value, protocol, outcome, reason), count)
    yield family
    latency = HistogramMetricFamily(
        "pysrsd_lookup_duration_seconds",
        "Time taken to answer a lookup (policy and SRS), by table; one lookup in "
        f"{SAMPLE} is timed.",
        labels=("table",),
    )
    for table, counts in histograms.items():
        buckets: list[tuple[str, float]] = []
        running = 0.0
        for bound, observed in zip((*LOOKUP_BUCKETS, float("inf")), counts[:-1], strict=True):
            running += observed
            buckets.append((_bound(bound), running))
        latency.add_metric((table.value,), buckets, counts[-1])
    yield latency


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)


def connections(hub: Connections) -> Iterator[Metric]:
    yield GaugeMetricFamily("pysrsd_connections", "Client connections open now.", len(hub))
    yield GaugeMetricFamily(
        "pysrsd_connections_max", "The connection limit (max-connections).", hub.max_connections
    )
    for name, value, text in (
        ("accepted", hub.accepted, "Client connections accepted."),
        ("evicted", hub.evicted, "Idle connections closed at the limit to admit a new one."),
        ("refused", hub.refused, "Connections refused at the limit (none was idle)."),
    ):
        yield CounterMetricFamily(f"pysrsd_connections_{name}", text, value)


def runtime(runtime: Reloads, now: float) -> Iterator[Metric]:
    reloads = CounterMetricFamily(
        "pysrsd_reloads",
        "Reloads of the configuration, secrets and exclusion files, by result (ok, failed).",
        labels=("result",),
    )
    reloads.add_metric(("ok",), runtime.reloads_ok)
    reloads.add_metric(("failed",), runtime.reloads_failed)
    yield reloads
    yield GaugeMetricFamily(
        "pysrsd_last_reload_successful",
        "1 if the last reload applied all it read (or none was asked for yet), else 0.",
        int(runtime.last_reload_ok),
    )
    yield GaugeMetricFamily(
        "pysrsd_last_good_load_timestamp_seconds",
        "When the files were last loaded without error (start or reload), Unix time.",
        runtime.last_good_load,
    )
    state = runtime.state
    yield GaugeMetricFamily(
        "pysrsd_secrets", "Secrets loaded (the first signs).", len(state.keyring)
    )
    yield GaugeMetricFamily(
        "pysrsd_signing_secret_age_seconds",
        "Age of the signing secret: since the modification time of the secrets file when "
        "this signing secret was first seen.",
        max(0.0, now - runtime.signing_since),
    )
    yield GaugeMetricFamily(
        "pysrsd_exclusions", "Entries in the exclusion map.", len(state.exclusions)
    )
