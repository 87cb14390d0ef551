"""The clock a run and its training keep: a resumed run counts the seconds of its earlier sittings."""

from __future__ import annotations

from engine.training.clock import Clock


def test_a_resumed_run_counts_its_earlier_sittings_wall_and_cpu_seconds() -> None:
    clock = Clock()
    clock.carry_over(30.0, 20.0, step="training")
    assert clock.wall_elapsed() >= 30.0 and clock.cpu_elapsed() >= 20.0
    assert clock.seconds == {"training": 30.0} and clock.carried == (30.0, 20.0)


def test_an_earlier_sitting_without_cpu_time_leaves_it_unknown_not_short() -> None:
    """A checkpoint from before CPU time was kept: a part of the CPU time would read as waiting."""
    clock = Clock()
    clock.carry_over(30.0, None)
    assert clock.wall_elapsed() >= 30.0 and clock.cpu_elapsed() is None and clock.seconds == {}
    clock.carry_over(5.0, 4.0)
    assert clock.cpu_elapsed() is None and clock.carried == (35.0, None)
