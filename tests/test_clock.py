"""The clocks a run keeps: its phases (a resumed run counts the seconds of its earlier sittings), and
the speed probe that times its machine."""

from __future__ import annotations

import torch

from engine.training.clock import Clock
from engine.training.speed import speed_probe_seconds


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


def test_the_speed_probe_times_the_machine_without_changing_what_a_run_draws_or_its_threads() -> None:
    torch.manual_seed(7)
    before, threads = torch.random.get_rng_state(), torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seconds = speed_probe_seconds(torch.device("cpu"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert 0 < seconds < 5 and torch.equal(torch.random.get_rng_state(), before)
