"""Refused SRS bounces: logged one by one up to a limit, then summarised per interval."""

from __future__ import annotations

import pytest

from pysrsd.policy.refusals import RefusalLog


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def info(self, event: str, **values: object) -> None:
        self.events.append((event, values))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def make(clock: Clock, recorder: Recorder, limit: int = 3) -> RefusalLog:
    return RefusalLog(limit=limit, interval=60.0, clock=clock, logger=recorder)


def test_each_refusal_names_reason_and_address(clock: Clock, recorder: Recorder) -> None:
    refusals = make(clock, recorder)
    refusals.refused("reverse", b"SRS0=XXXX=AB=example.com=bob@fwd.example", "bad hash")
    assert recorder.events == [
        (
            "refused",
            {
                "table": "reverse",
                "address": "SRS0=XXXX=AB=example.com=bob@fwd.example",
                "reason": "bad hash",
            },
        )
    ]


def test_a_flood_costs_limit_lines_then_one_summary(clock: Clock, recorder: Recorder) -> None:
    refusals = make(clock, recorder)
    for i in range(10_000):
        reason = "bad hash" if i % 4 else "expired or invalid day stamp"
        refusals.refused("reverse", b"SRS0=x@fwd.example", reason)
        clock.now += 0.001
    assert recorder.names() == ["refused"] * 3
    clock.now += 60
    refusals.flush()
    assert recorder.names() == ["refused"] * 3 + ["refused_summary"]
    summary = recorder.events[-1][1]
    assert summary["not_logged"] == 9_997
    # i = 0 (expired), 1 and 2 (bad hash) were logged one by one
    assert summary["reasons"] == {"bad hash": 7_498, "expired or invalid day stamp": 2_499}


def test_lines_resume_in_the_next_interval(clock: Clock, recorder: Recorder) -> None:
    refusals = make(clock, recorder, limit=2)
    for _ in range(5):
        refusals.refused("reverse", b"SRS0=x@fwd.example", "bad hash")
    clock.now += 61
    refusals.refused("reverse", b"SRS0=y@fwd.example", "malformed SRS0 address")
    assert recorder.names() == ["refused", "refused", "refused_summary", "refused"]
    assert recorder.events[-1][1]["reason"] == "malformed SRS0 address"


def test_no_summary_when_nothing_was_held_back(clock: Clock, recorder: Recorder) -> None:
    refusals = make(clock, recorder)
    refusals.refused("reverse", b"SRS0=x@fwd.example", "bad hash")
    clock.now += 120
    refusals.flush()
    assert recorder.names() == ["refused"]


def test_flush_before_the_interval_ends_writes_nothing(clock: Clock, recorder: Recorder) -> None:
    refusals = make(clock, recorder, limit=1)
    for _ in range(3):
        refusals.refused("reverse", b"SRS0=x@fwd.example", "bad hash")
    clock.now += 30
    refusals.flush()
    assert recorder.names() == ["refused"]
    clock.now += 30
    refusals.flush()
    assert recorder.names() == ["refused", "refused_summary"]
