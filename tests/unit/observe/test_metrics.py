"""Metrics: each lookup is counted under the reason a user would give it, the stand-in costs
nothing, and reloads, secrets and the envelope database are reported as they happen."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from harness import write_secrets
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from pysrsd.config.settings import Settings
from pysrsd.errors import ConfigError
from pysrsd.observe import counts, metrics
from pysrsd.policy import tables
from pysrsd.policy.runtime import Runtime
from pysrsd.srs.engine import Engine, Rewritten
from pysrsd.wire.lookup import Status, Table

DOMAIN = "fwd.example"
SECRET = "metrics unit secret"
DAY = 86400.0


class FakeHub:
    def __init__(self) -> None:
        self.max_connections, self.accepted, self.evicted, self.refused = 10, 3, 2, 1

    def __len__(self) -> int:
        return 4


def make_settings(tmp_path: Path, *, metrics_at: str | None = "inet:127.0.0.1:0") -> Settings:
    secrets = write_secrets(tmp_path / "secrets", SECRET)
    exclude = tmp_path / "exclude"
    exclude.write_text("excluded.example\n.sub.example\n")
    return Settings(domain=DOMAIN, secrets_file=secrets, exclude_file=exclude, metrics=metrics_at)


def scrape(
    registry: CollectorRegistry | None,
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    from prometheus_client import generate_latest

    assert registry is not None
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def lookups(values: dict[tuple[str, frozenset[tuple[str, str]]], float], **labels: str) -> float:
    return values[("pysrsd_lookups_total", frozenset(labels.items()))]


def srs0(address: bytes, *, days_ago: float = 0.0, secret: str = SECRET) -> bytes:
    now = time.time() - days_ago * DAY
    outcome = Engine([secret.encode()], DOMAIN.encode(), clock=lambda: now).forward(address)
    assert isinstance(outcome, Rewritten)
    return outcome.address


CASES = [
    pytest.param(Table.FORWARD, b"alice@example.org", "rewritten", "none", id="fwd-rewritten"),
    pytest.param(Table.FORWARD, b"alice", "not_rewritten", "not_address", id="fwd-no-at"),
    pytest.param(Table.FORWARD, b"a@excluded.example", "not_rewritten", "excluded", id="fwd-excl"),
    pytest.param(Table.FORWARD, b"a@x.sub.example", "not_rewritten", "excluded", id="fwd-sub"),
    pytest.param(Table.FORWARD, b"a@FWD.example", "not_rewritten", "own_domain", id="fwd-own"),
    pytest.param(
        Table.FORWARD, b"SRS1=x=h=@o.example", "not_rewritten", "malformed", id="fwd-srs1"
    ),
    pytest.param(
        Table.FORWARD, b"a" * 5000 + b"@b.example", "not_rewritten", "malformed", id="long"
    ),
    pytest.param(Table.REVERSE, b"bob@example.org", "not_rewritten", "not_srs", id="rev-plain"),
    pytest.param(
        Table.REVERSE, b"SRS0=a=b=c=d@other.example", "not_rewritten", "foreign", id="fgn"
    ),
    pytest.param(
        Table.REVERSE, b"SRS0=ab@fwd.example", "not_rewritten", "malformed", id="rev-mal0"
    ),
    pytest.param(
        Table.REVERSE, b"SRS1=ab@fwd.example", "not_rewritten", "malformed", id="rev-mal1"
    ),
]


@pytest.mark.parametrize(("table", "key", "outcome", "reason"), CASES)
def test_each_lookup_counted_under_its_reason(
    tmp_path: Path, table: Table, key: bytes, outcome: str, reason: str
) -> None:
    settings = make_settings(tmp_path)
    runtime = Runtime(settings)
    live = metrics.build(settings, runtime, FakeHub())
    metered = live.meter("tcp_table", tables.lookup)
    metered(runtime.state, table, key)
    values = scrape(live.registry)
    labels = {"table": table.value, "protocol": "tcp_table"}
    assert lookups(values, **labels, outcome=outcome, reason=reason) == 1
    total = sum(v for (name, _), v in values.items() if name == "pysrsd_lookups_total")
    assert total == 1  # counted once, nowhere else (not under the other protocol either)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        pytest.param(lambda: srs0(b"alice@example.org"), "none", id="valid"),
        pytest.param(lambda: srs0(b"a@example.org", secret="other"), "bad_hash", id="forged"),
        pytest.param(lambda: srs0(b"a@example.org", days_ago=40), "expired", id="expired"),
    ],
)
def test_reverse_of_srs_addresses(tmp_path: Path, address: object, reason: str) -> None:
    settings = make_settings(tmp_path)
    runtime = Runtime(settings)
    live = metrics.build(settings, runtime, FakeHub())
    metered = live.meter("socketmap", tables.lookup)
    assert callable(address)
    answer = metered(runtime.state, Table.REVERSE, address())
    outcome = "rewritten" if reason == "none" else "not_rewritten"
    assert (answer.status is Status.FOUND) == (outcome == "rewritten")
    values = scrape(live.registry)
    assert lookups(values, table="reverse", protocol="socketmap", outcome=outcome, reason=reason)


def test_fault_is_a_temporary_failure(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    runtime = Runtime(settings)
    live = metrics.build(settings, runtime, FakeHub())

    def broken(*args: object) -> None:
        raise RuntimeError("bug")

    object.__setattr__(runtime.state.engine, "forward", broken)
    answer = live.meter("tcp_table", tables.lookup)(runtime.state, Table.FORWARD, b"a@b.example")
    assert answer.status is Status.TEMP_FAIL
    values = scrape(live.registry)
    kind = {"outcome": "temporary_failure", "reason": "internal"}
    assert lookups(values, table="forward", protocol="tcp_table", **kind) == 1


def test_every_reason_the_tables_give_has_a_name() -> None:
    """A reason text added to tables.py or the engine without a metric name would be counted
    as "other": every Unchanged reason in the source must be listed."""
    import re

    source = (
        Path(tables.__file__).read_text()
        + Path(sys.modules["pysrsd.srs.engine"].__file__ or "").read_text()
    )
    texts = set(re.findall(r'(?:Unchanged|_Reject)\("([^"]+)"\)', source))
    texts |= set(re.findall(r'Answer\(Status\.NOT_FOUND, b"([^"]+)"\)', source))
    assert texts, "the patterns no longer match the source"
    assert texts <= {t.decode() for t in counts.NOT_REWRITTEN}


def test_latency_sampled_one_in_sample(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    runtime = Runtime(settings)
    live = metrics.build(settings, runtime, FakeHub())
    metered = live.meter("tcp_table", tables.lookup)
    for _ in range(counts.SAMPLE * 5):
        metered(runtime.state, Table.REVERSE, b"bob@example.org")
    values = scrape(live.registry)
    count = values[("pysrsd_lookup_duration_seconds_count", frozenset({("table", "reverse")}))]
    assert count == 5
    inf = frozenset({("table", "reverse"), ("le", "+Inf")})
    assert values[("pysrsd_lookup_duration_seconds_bucket", inf)] == 5
    assert values[("pysrsd_lookup_duration_seconds_sum", frozenset({("table", "reverse")}))] > 0


def test_connections_reloads_secrets_exclusions(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    ten_days_ago = time.time() - 10 * DAY
    os.utime(settings.secrets_file, (ten_days_ago, ten_days_ago))
    runtime = Runtime(settings)
    live = metrics.build(settings, runtime, FakeHub())
    values = scrape(live.registry)
    plain = frozenset[tuple[str, str]]()
    assert values[("pysrsd_connections", plain)] == 4
    assert values[("pysrsd_connections_max", plain)] == 10
    assert values[("pysrsd_connections_accepted_total", plain)] == 3
    assert values[("pysrsd_connections_evicted_total", plain)] == 2
    assert values[("pysrsd_connections_refused_total", plain)] == 1
    assert values[("pysrsd_secrets", plain)] == 1
    assert values[("pysrsd_exclusions", plain)] == 2
    assert values[("pysrsd_last_reload_successful", plain)] == 1
    assert 10 * DAY <= values[("pysrsd_signing_secret_age_seconds", plain)] < 10 * DAY + 60

    write_secrets(settings.secrets_file, "new signing secret", SECRET)  # rotation: now
    assert runtime.reload()
    settings.secrets_file.unlink()
    assert not runtime.reload()
    values = scrape(live.registry)
    assert values[("pysrsd_reloads_total", frozenset({("result", "ok")}))] == 1
    assert values[("pysrsd_reloads_total", frozenset({("result", "failed")}))] == 1
    assert values[("pysrsd_last_reload_successful", plain)] == 0
    assert values[("pysrsd_secrets", plain)] == 2  # the last good secrets are kept
    assert values[("pysrsd_signing_secret_age_seconds", plain)] < 60
    last_good = values[("pysrsd_last_good_load_timestamp_seconds", plain)]
    assert time.time() - 60 < last_good <= time.time()


def test_off_is_the_lookup_itself(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_at=None)
    off = metrics.build(settings, Runtime(settings), FakeHub())
    assert off.meter("tcp_table", tables.lookup) is tables.lookup
    assert off.registry is None


def test_asked_for_without_the_library_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path)
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(ConfigError, match=r"--metrics.*prometheus-client is not installed"):
        metrics.build(settings, Runtime(settings), FakeHub())


def test_database_operations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "_database", metrics._database)  # restored after the test
    metrics.observe_database("get", True, 0.001)  # before a database is enabled: ignored
    settings = make_settings(tmp_path).model_copy(update={"original_envelope": "database"})
    live = metrics.build(settings, Runtime(settings), FakeHub())
    metrics.observe_database("get", True, 0.002)
    metrics.observe_database("put", False, 0.5)
    values = scrape(live.registry)
    ops = "pysrsd_database_operations_total"
    assert values[(ops, frozenset({("operation", "get"), ("result", "ok")}))] == 1
    assert values[(ops, frozenset({("operation", "put"), ("result", "error")}))] == 1
    assert values[(ops, frozenset({("operation", "get"), ("result", "error")}))] == 0
    count = "pysrsd_database_operation_duration_seconds_count"
    assert values[(count, frozenset({("operation", "put")}))] == 1


def test_no_database_metrics_without_a_database(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    live = metrics.build(settings, Runtime(settings), FakeHub())
    assert not any(name.startswith("pysrsd_database") for name, _ in scrape(live.registry))
