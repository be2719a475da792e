"""The redraw pace's arithmetic (ui/redraw_pace.py) with the UI thread's CPU time and the clock
given: the wait between redraws is what keeps the UI thread's work at BUDGET of a core."""

from __future__ import annotations

import pytest

from qwen_tui.ui.redraw_pace import BUDGET, FASTEST, SLOWEST, RedrawPace


class Clocks:
    def __init__(self) -> None:
        self.now = 0.0
        self.cpu = 0.0


def paced(cost: float, redraws: int = 30) -> tuple[RedrawPace, list[float]]:
    """A pace whose every redraw costs ``cost`` seconds of CPU; the waits it gave."""
    clocks = Clocks()
    pace = RedrawPace(cpu=lambda: clocks.cpu, clock=lambda: clocks.now)
    waits = []
    for _ in range(redraws):
        wait = pace.next_wait()
        waits.append(wait)
        clocks.now += wait
        clocks.cpu += cost
    return pace, waits


@pytest.mark.parametrize("cost", [0.01, 0.02, 0.03])
def test_a_costly_redraw_settles_where_the_ui_spends_its_budget(cost):
    _, waits = paced(cost)
    assert waits[0] == FASTEST
    assert waits[-1] == pytest.approx(cost / BUDGET, rel=1e-3)
    assert cost / waits[-1] == pytest.approx(BUDGET, rel=1e-3)


def test_cheap_redraws_come_ten_times_a_second_and_dear_ones_once_a_second():
    assert paced(0.001)[1][-1] == FASTEST
    assert paced(0.5)[1][-1] == SLOWEST


def test_one_slow_redraw_does_not_stall_the_next_ones():
    clocks = Clocks()
    pace = RedrawPace(cpu=lambda: clocks.cpu, clock=lambda: clocks.now)
    pace.next_wait()
    clocks.cpu += 0.2  # a garbage collection
    after_spike = pace.next_wait()
    assert FASTEST < after_spike < SLOWEST
    for _ in range(6):
        wait = pace.next_wait()  # cheap again
    assert wait < 0.1 + FASTEST


def test_a_new_reply_starts_at_the_fastest_pace():
    pace, waits = paced(0.5)
    assert waits[-1] == SLOWEST
    pace.restart()
    assert pace.next_wait() == FASTEST
