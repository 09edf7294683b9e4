"""Markdown tables of ``compare.py``'s results (medians), ready for docs/performance.md."""

from __future__ import annotations

import statistics
from typing import Any


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def tables(
    names: list[str],
    workloads: list[str],
    clients_list: list[int],
    results: dict[tuple[str, str, int], list[Any]],
    lat: dict[tuple[str, str], tuple[float, float]],
) -> None:
    ratios = [f"pysrsd / {n}" for n in ("pfix-srsd", "ceiling") if n in names]
    print()
    print("| workload | clients | " + " | ".join(f"{n} /s" for n in names) + " | ")
    print("|---|---:|" + "---:|" * len(names))
    for workload in workloads:
        for clients in clients_list:
            rates = [_median([x.rate for x in results[workload, n, clients]]) for n in names]
            print(f"| {workload} | {clients} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |")
    if ratios:
        print()
        print("| workload | clients | " + " | ".join(ratios) + " |")
        print("|---|---:|" + "---:|" * len(ratios))
        for workload in workloads:
            for clients in clients_list:
                mine = _median([x.rate for x in results[workload, "pysrsd", clients]])
                cells = [
                    mine / _median([x.rate for x in results[workload, other, clients]])
                    for other in ("pfix-srsd", "ceiling")
                    if other in names
                ]
                print(f"| {workload} | {clients} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
    print()
    print("server CPU per lookup, µs, user + system (process and reaped children):")
    print("| workload | clients | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for workload in workloads:
        for clients in clients_list:
            cpu_cells = []
            for n in names:
                point = results[workload, n, clients]
                total = _median([x.cpu_us for x in point])
                user, system = (
                    _median([x.user_us for x in point]),
                    _median([x.system_us for x in point]),
                )
                cpu_cells.append(f"{total:.1f} ({user:.1f} + {system:.1f})")
            print(f"| {workload} | {clients} | " + " | ".join(cpu_cells) + " |")
    print()
    print("| workload | " + " | ".join(f"{n} p50 / p99 µs" for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for workload in workloads:
        latencies = [f"{lat[workload, n][0]:.0f} / {lat[workload, n][1]:.0f}" for n in names]
        print(f"| {workload} | " + " | ".join(latencies) + " |")


def footer(names: list[str], startup: dict[str, list[float]], hwm: dict[str, int]) -> None:
    print()
    for name in names:
        times = startup[name]
        print(
            f"start-up to first answer, {name}: median {_median(times) * 1000:.0f} ms "
            f"(max {max(times) * 1000:.0f} ms, {len(times)} starts); "
            f"peak RSS {hwm[name] / 1024:.1f} MiB"
        )
