"""The capture -> engine hand-over queue: what is due when, order, bounds."""

from __future__ import annotations

import numpy as np

from activesec.core.events import EVENT_DTYPE, Kind, make
from activesec.service.handover import HandOver

MS = 1_000_000


def moves(t0_ms: int, n: int = 3) -> np.ndarray:
    return make((t0_ms + np.arange(n) * 8) * MS, Kind.MOVE, np.arange(n), np.arange(n))


def test_motion_waits_up_to_max_wait_a_release_is_due_at_once() -> None:
    h = HandOver(1000, max_wait_s=0.25)
    h.put(moves(0), now_ns=0)
    assert not h.due(100 * MS) and len(h.take(100 * MS)) == 0  # kept, not lost
    h.put(moves(100), now_ns=100 * MS)
    assert h.due(250 * MS)  # the oldest batch has waited 0.25 s
    assert len(h.take(250 * MS)) == 6
    h.put(moves(300), now_ns=300 * MS)
    h.put(make([330 * MS], Kind.BUTTON_UP, 0, 0, code=1), now_ns=330 * MS)
    assert h.due(330 * MS)  # a release can complete an action: no waiting
    got = h.take(330 * MS)
    assert list(got["kind"]) == [Kind.MOVE] * 3 + [Kind.BUTTON_UP]
    assert not h.due(10_000 * MS) and len(h.take(10_000 * MS)) == 0  # empty


def test_moves_that_end_an_action_are_due_at_once() -> None:
    """It ends the movement before it (the segmenter's pause), as the first move after a scroll
    ends the scroll: no reason to wait for a tick. Keys typed meanwhile do not shorten the
    pause — they are another stream."""
    h = HandOver(1000, max_wait_s=0.25, pause_s=0.5)
    h.put(moves(0), now_ns=0)
    assert not h.due(10 * MS) and not h.wake.is_set()
    assert len(h.take(10 * MS, force=True)) == 3
    h.put(moves(400), now_ns=400 * MS)  # 0.38 s after the last move: the same movement
    assert not h.due(410 * MS) and not h.wake.is_set()
    assert len(h.take(700 * MS)) == 3
    h.put(make([800 * MS], Kind.KEY_DOWN, 1, 0, 1), now_ns=800 * MS)
    assert len(h.take(800 * MS)) == 1
    h.wake.clear()
    h.put(moves(1000), now_ns=1000 * MS)  # 0.58 s after the last move
    assert h.due(1000 * MS) and h.wake.is_set()
    assert len(h.take(1000 * MS)) == 3
    h.wake.clear()
    h.put(np.concatenate([moves(1100), moves(1700)]), now_ns=1700 * MS)  # a pause inside
    assert h.due(1700 * MS) and h.wake.is_set()
    h.take(1700 * MS)
    h.put(make([1800 * MS], Kind.BUTTON_UP, 0, 0, code=1), now_ns=1800 * MS)
    h.take(1800 * MS)
    h.wake.clear()
    h.put(moves(2600), now_ns=2600 * MS)  # after a click, which ended its action itself
    assert not h.due(2600 * MS) and not h.wake.is_set()
    h.take(2600 * MS, force=True)
    h.put(make([2700 * MS], Kind.SCROLL, 0, 0, code=1), now_ns=2700 * MS)
    h.take(2700 * MS)
    h.wake.clear()
    h.put(moves(2750), now_ns=2750 * MS)  # no pause, but it ends the scroll action
    assert h.due(2750 * MS) and h.wake.is_set()


def test_input_that_can_complete_an_action_wakes_the_agent_motion_does_not() -> None:
    h = HandOver(1000)
    h.put(moves(0), now_ns=0)
    assert not h.wake.is_set()  # motion waits for the tick
    h.put(make([30 * MS], Kind.BUTTON_UP, 0, 0, code=1), now_ns=30 * MS)
    assert h.wake.is_set()  # a release ends the agent's wait at once
    h.wake.clear()
    h.put(make([40 * MS], Kind.KEY_DOWN, 0, 0, code=1), now_ns=40 * MS)
    assert h.wake.is_set()
    h.wake.clear()
    full = HandOver(2)
    full.put(make([0, 1, 2], Kind.KEY_DOWN, 0, 0, code=1), now_ns=0)
    assert not full.wake.is_set() and full.dropped == 3  # nothing queued: nothing to wake for


def test_keys_and_scrolls_are_due_at_once_force_takes_motion() -> None:
    for kind in (Kind.KEY_DOWN, Kind.KEY_UP, Kind.SCROLL, Kind.BUTTON_DOWN):
        h = HandOver(1000)
        h.put(make([5 * MS], kind, 0, 0, code=1), now_ns=5 * MS)
        assert h.due(5 * MS), kind
    h = HandOver(1000)
    h.put(moves(0), now_ns=0)
    assert len(h.take(1 * MS, force=True)) == 3  # the agent's final drain


def test_batches_come_out_in_time_order_and_copied() -> None:
    h = HandOver(1000)
    late, early = moves(100), moves(0)
    h.put(late, now_ns=0)
    h.put(early, now_ns=0)
    late["x"][:] = -7  # the backend reuses its buffer
    got = h.take(0, force=True)
    assert np.all(np.diff(got["t_ns"]) >= 0) and got.dtype == EVENT_DTYPE
    assert not (got["x"] == -7).any()


def test_full_queue_counts_drops_and_keeps_what_it_has() -> None:
    h = HandOver(5)
    h.put(moves(0, 4), now_ns=0)
    h.put(moves(100, 3), now_ns=0)  # would exceed 5
    assert h.dropped == 3
    assert len(h.take(0, force=True)) == 4
