"""contrib/prometheus: the alert rules load in Prometheus and fire when they should (promtool
unit tests on made-up series), and every query of the rules and of the Grafana dashboard is
valid PromQL about metrics the daemon really exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from harness import require, write_secrets
from prometheus_client.registry import CollectorRegistry

from pysrsd.config.settings import Settings
from pysrsd.observe import metrics
from pysrsd.policy.runtime import Runtime

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "prometheus"
ALERTS = CONTRIB / "pysrsd-alerts.yml"
DASHBOARD = CONTRIB / "grafana-dashboard.json"
NAME = re.compile(r"\b((?:pysrsd|process)_[a-z_]+)\b")
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": "pysrsd", "$instance": ".*"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    require("promtool")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def exported_names(tmp_path: Path) -> set[str]:
    """Every sample name a daemon with metrics and an envelope database exports."""
    secrets = write_secrets(tmp_path / "secrets", "contrib test secret")
    settings = Settings(
        domain="fwd.example",
        secrets_file=secrets,
        metrics="inet:127.0.0.1:0",
        original_envelope="database",
    )
    registry = metrics.build(settings, Runtime(settings), _Hub()).registry
    assert isinstance(registry, CollectorRegistry)
    return {sample.name for family in registry.collect() for sample in family.samples}


class _Hub:
    max_connections = accepted = evicted = refused = 0

    def __len__(self) -> int:
        return 0


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            queries.append(expr)
    return queries


def test_alert_rules_load() -> None:
    result = promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def without_annotations(text: str) -> str:
    """The rules without their annotation blocks (promtool tests compare annotations too)."""
    kept, skip_deeper_than = [], None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if skip_deeper_than is not None and (indent > skip_deeper_than or not line.strip()):
            continue
        skip_deeper_than = indent if line.strip() == "annotations:" else None
        if skip_deeper_than is None:
            kept.append(line)
    return "\n".join(kept) + "\n"


def alert(name: str, at: str, *labels: dict[str, str]) -> dict[str, object]:
    return {
        "eval_time": at,
        "alertname": name,
        "exp_alerts": [{"exp_labels": dict(label)} for label in labels],
    }


WHO = {"job": "pysrsd", "instance": "mx1:9467"}
SERIES = [
    ('up{job="pysrsd",instance="mx1:9467"}', "1 1 1 0 0 0 0 0"),
    ('pysrsd_last_reload_successful{job="pysrsd",instance="mx1:9467"}', "1 1 0 0 0 0 0 0"),
    (
        'pysrsd_lookups_total{job="pysrsd",instance="mx1:9467",table="reverse",'
        'protocol="tcp_table",outcome="temporary_failure",reason="internal"}',
        "0 0 0 0 0 3 3 3",
    ),
    ('pysrsd_signing_secret_age_seconds{job="pysrsd",instance="mx1:9467"}', "15551500+0x7"),
    ('pysrsd_connections{job="pysrsd",instance="mx1:9467"}', "10 950 950 950 950 950 950 950"),
    ('pysrsd_connections_max{job="pysrsd",instance="mx1:9467"}', "1000+0x7"),
    ('pysrsd_connections_refused_total{job="pysrsd",instance="mx1:9467"}', "0+0x7"),
]


def test_alerts_fire_when_they_should(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(without_annotations(ALERTS.read_text()))
    old = {**WHO, "severity": "info"}
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in SERIES],
                "alert_rule_test": [
                    alert("PysrsdDown", "2m"),
                    alert("PysrsdDown", "6m", {**WHO, "severity": "critical"}),
                    alert("PysrsdReloadFailing", "1m"),
                    alert("PysrsdReloadFailing", "4m", {**WHO, "severity": "warning"}),
                    alert("PysrsdTemporaryFailures", "4m"),
                    alert(
                        "PysrsdTemporaryFailures",
                        "6m",
                        {**WHO, "severity": "critical", "table": "reverse"},
                    ),
                    alert("PysrsdSigningSecretOld", "1m"),  # 179.99 days: not yet
                    alert("PysrsdConnectionsNearLimit", "3m"),  # not for 5 minutes yet
                    alert("PysrsdConnectionsNearLimit", "7m", {**WHO, "severity": "warning"}),
                    alert("PysrsdConnectionsRefused", "7m"),
                    alert("PysrsdDatabaseErrors", "7m"),  # no database: never
                ],
            },
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": 'pysrsd_signing_secret_age_seconds{job="pysrsd",'
                        'instance="mx1:9467"}',
                        "values": "15551500+400x3",
                    }
                ],
                "alert_rule_test": [alert("PysrsdSigningSecretOld", "3m", old)],
            },
        ],
    }
    spec = tmp_path / "tests.yml"
    spec.write_text(json.dumps(tests))  # JSON is YAML
    result = promtool("test", "rules", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr


def test_forged_bounce_spike_against_the_days_average(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_text(without_annotations(ALERTS.read_text()))
    series = (
        'pysrsd_lookups_total{job="pysrsd",instance="mx1:9467",table="reverse",'
        'protocol="tcp_table",outcome="not_rewritten",reason="bad_hash"}'
    )
    # a day and a half at 1 refused bounce a minute, then 30 a second for half an hour
    quiet, storm = 36 * 60, 30
    values = f"0+1x{quiet} {quiet}+1800x{storm}"
    tests = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": series, "values": values}],
                "alert_rule_test": [
                    alert("PysrsdForgedBounceSpike", f"{quiet}m"),
                    alert(
                        "PysrsdForgedBounceSpike",
                        f"{quiet + 20}m",
                        {**WHO, "severity": "warning"},
                    ),
                ],
            }
        ],
    }
    spec = tmp_path / "tests.yml"
    spec.write_text(json.dumps(tests))
    result = promtool("test", "rules", str(spec))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 15
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query{i}", "expr": q} for i, q in enumerate(queries)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(json.dumps(rules))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_queries_name_only_exported_metrics(tmp_path: Path, source: str) -> None:
    text = ALERTS.read_text() if source == "alerts" else "\n".join(dashboard_queries())
    named = set(NAME.findall(text))
    assert named, "no metric name found"
    missing = named - exported_names(tmp_path)
    assert not missing, f"{source} refers to metrics pysrsd does not export: {sorted(missing)}"
