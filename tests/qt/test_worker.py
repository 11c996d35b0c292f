"""TaskRunner: events arrive in order and throttled, latest wins, errors/cancel/pause/NaN behave."""

import threading
import time
from functools import partial

import pytest

from lab_app.core.events import Message, Progress, Snapshot
from lab_app.qt.worker import TaskRunner


@pytest.fixture
def runner(qtbot):
    r = TaskRunner(rate_hz=50)
    yield r
    assert r.shutdown(5.0)


def counting(n, ctl, sleep=0.0):
    for i in range(n):
        ctl.checkpoint()
        yield Progress(i + 1, n, {"loss": 1.0 / (i + 1)})
        if sleep:
            time.sleep(sleep)
    return {"done": n}


def test_result_and_all_progress_events_arrive_in_order(qtbot, runner):
    got = []
    runner.progress.connect(lambda ev: got.append(ev.step))
    with qtbot.waitSignal(runner.finished, timeout=5000) as sig:
        runner.start(partial(counting, 200), label="count")
    assert sig.args[0] == {"done": 200}
    assert got == list(range(1, 201))
    assert not runner.busy


def snapshots(n, gate, ctl):
    for i in range(n):
        yield Snapshot("view", {"i": i})
    gate.wait(5)  # hold the run open until the test has seen the drain
    return n


def test_snapshots_coalesce_to_the_newest(qtbot, runner):
    got = []
    gate = threading.Event()
    runner.event.connect(lambda ev: isinstance(ev, Snapshot) and got.append(ev.data["i"]))
    runner.start(partial(snapshots, 5000, gate))
    qtbot.waitUntil(lambda: 4999 in got, timeout=5000)
    gate.set()
    qtbot.waitSignal(runner.finished, timeout=5000)
    assert got[-1] == 4999
    assert len(got) < 500, "snapshots were not coalesced between redraws"
    assert got == sorted(got)


def test_latest_wins_cancels_the_previous_run(qtbot, runner):
    finished = []
    runner.finished.connect(finished.append)
    runner.start(partial(counting, 10_000, sleep=0.001), label="slow")
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start(partial(counting, 3), label="fast")
    assert finished == [{"done": 3}]
    assert runner.wait(5.0)


def failing(ctl):
    yield Progress(1, 2)
    raise ValueError("points.ply: 0 points")


def test_exception_becomes_errored_and_runner_can_run_again(qtbot, runner):
    with qtbot.waitSignal(runner.errored, timeout=5000) as sig:
        runner.start(failing)
    assert sig.args[0] == "points.ply: 0 points"
    assert not runner.busy
    with qtbot.waitSignal(runner.finished, timeout=5000) as sig:
        runner.start(partial(counting, 2))
    assert sig.args[0] == {"done": 2}


def test_cancel_stops_the_thread(qtbot, runner):
    steps = []
    runner.progress.connect(lambda ev: steps.append(ev.step))
    runner.start(partial(counting, 10**7))
    qtbot.waitUntil(lambda: len(steps) > 0, timeout=5000)
    with qtbot.waitSignal(runner.cancelled, timeout=5000):
        runner.cancel()
    assert runner.wait(5.0)
    assert not runner.busy


def test_pause_stops_progress_and_resume_continues(qtbot, runner):
    steps = []
    runner.progress.connect(lambda ev: steps.append(ev.step))
    runner.start(partial(counting, 10**6, sleep=0.0005))
    qtbot.waitUntil(lambda: len(steps) > 5, timeout=5000)
    runner.pause()
    qtbot.wait(200)  # events already posted drain
    frozen = len(steps)
    qtbot.wait(300)
    assert len(steps) == frozen, "progress kept coming while paused"
    runner.resume()
    qtbot.waitUntil(lambda: len(steps) > frozen + 5, timeout=5000)
    runner.cancel()


def nan_loss(ctl):
    yield Progress(1, 10, {"loss": 0.5})
    yield Progress(2, 10, {"loss": float("nan")})
    yield Snapshot("garbage")
    return "resumed to the end"


def test_nan_loss_pauses_with_a_message(qtbot, runner):
    with qtbot.waitSignal(runner.paused_changed, timeout=5000) as sig:
        runner.start(nan_loss)
    paused, why = sig.args
    assert paused and "NaN" in why and "step 2" in why
    assert runner.paused and runner.busy
    with qtbot.waitSignal(runner.finished, timeout=5000) as sig:
        runner.resume()
    assert sig.args[0] == "resumed to the end"


def test_messages_and_plain_functions(qtbot, runner):
    def talk(ctl):
        yield Message("half way", "warning")
        return 1

    with qtbot.waitSignal(runner.message, timeout=5000) as sig:
        runner.start(talk)
    assert sig.args == ["half way", "warning"]
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    with qtbot.waitSignal(runner.finished, timeout=5000) as sig:
        runner.start(lambda ctl: 42)
    assert sig.args[0] == 42


def test_shutdown_joins_a_blocked_paused_run(qtbot):
    r = TaskRunner()
    r.start(partial(counting, 10**7, sleep=0.001))
    r.pause()
    t0 = time.monotonic()
    assert r.shutdown(5.0)
    assert time.monotonic() - t0 < 3.0
    assert not [t for t in threading.enumerate() if t.name.startswith("lab-task-")]


def test_worker_thread_uses_the_thread_policy(qtbot, runner):
    import torch

    with qtbot.waitSignal(runner.finished, timeout=5000) as sig:
        runner.threads = 1
        runner.start(lambda ctl: torch.get_num_threads())
    assert sig.args[0] == 1


def flood(n, ctl):
    for i in range(n):
        yield Progress(i + 1, n, {"loss": float(i)})
    yield Message("done")
    return n


def test_a_flood_of_progress_is_thinned_not_queued_without_bound(qtbot, runner):
    from lab_app.qt import worker

    got, messages = [], []
    runner.progress.connect(lambda ev: got.append(ev.step))
    runner.message.connect(lambda text, level: messages.append(text))
    with qtbot.waitSignal(runner.finished, timeout=20000):
        runner.start(partial(flood, 200_000))
    assert got[-1] == 200_000, "the newest progress point must survive thinning"
    assert got == sorted(got) and len(set(got)) == len(got)
    assert len(got) < 200_000  # thinned...
    assert len(got) >= worker.MAX_PENDING_PROGRESS // 2  # ...but a curve is left
    assert messages == ["done"], "messages are never thinned"


def burst(n, ctl):
    for i in range(n):
        yield Message(f"part {i}")
    return n


def test_a_drain_spends_its_budget_then_lets_the_event_loop_turn(qtbot, runner):
    """Slots that draw slowly: a drain delivers until it has spent DRAIN_BUDGET_S, leaves the rest for
    its next tick (a zero-delay timer, i.e. the event loop, runs in between), and emits the result in
    a tick of its own, after every event, in order."""
    from PySide6.QtCore import QTimer

    from lab_app.qt import worker

    log = []
    turns = [0]

    def draw(text, _level):
        log.append((text, turns[0]))
        QTimer.singleShot(0, lambda: turns.__setitem__(0, turns[0] + 1))
        time.sleep(0.6 * worker.DRAIN_BUDGET_S)   # drawing that costs most of the budget

    runner.message.connect(draw)
    runner.finished.connect(lambda n: log.append(("finished", turns[0])))
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start(partial(burst, 6), label="burst")
    assert [t for t, _ in log] == [f"part {i}" for i in range(6)] + ["finished"]
    seen = [turn for _, turn in log]
    # two slots per tick (the second runs past the budget), each tick after a turn of the loop
    assert seen[0] < seen[2] < seen[4] < seen[6], log


def test_all_in_one_tick_without_a_budget(qtbot, runner, monkeypatch):
    """The same burst with a budget no drawing reaches: one tick delivers it all and the result."""
    from PySide6.QtCore import QTimer

    from lab_app.qt import worker

    monkeypatch.setattr(worker, "DRAIN_BUDGET_S", 60.0)
    turns, seen = [0], []

    def draw(_text, _level):
        seen.append(turns[0])
        QTimer.singleShot(0, lambda: turns.__setitem__(0, turns[0] + 1))

    runner.message.connect(draw)
    gate = threading.Event()

    def held_burst(ctl):
        for i in range(6):
            yield Message(f"part {i}")
        gate.wait(5)
        return 6

    runner.start(held_burst)
    qtbot.waitUntil(lambda: len(seen) == 6, timeout=5000)
    gate.set()
    qtbot.waitSignal(runner.finished, timeout=5000)
    assert len(set(seen)) == 1


def test_a_left_snapshot_gives_way_to_its_newer_twin():
    """Events a drain left behind: a newer snapshot of the same view replaces the older one, other
    events keep their order."""
    from lab_app.core.control import Control
    from lab_app.qt.worker import _Run

    run = _Run("r", Control())
    run.keep_undelivered([Snapshot("view", {"i": 1}), Message("a"), Snapshot("other", {"i": 1})])
    run.keep_undelivered([Message("b"), Snapshot("view", {"i": 2})])
    got = [(type(e).__name__, getattr(e, "name", getattr(e, "text", None))) for e in run.undelivered]
    assert got == [("Message", "a"), ("Snapshot", "other"), ("Message", "b"), ("Snapshot", "view")]
    assert run.undelivered[-1].data == {"i": 2}


def test_a_drain_counts_its_slots_time_against_the_turn(qtbot, runner, monkeypatch):
    """What the slots of a drain spent is charged to the event-loop turn (lab_app/qt/turn_budget.py),
    so that plots asking to repaint after a heavy drain wait for a later turn."""
    from lab_app.qt import turn_budget

    charged = []
    monkeypatch.setattr(turn_budget, "charge", charged.append)
    runner.message.connect(lambda *_: time.sleep(0.004))
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start(partial(burst, 5), label="burst")
    assert sum(charged) >= 5 * 0.004
    charged.clear()   # and what the result's slots spent
    runner.message.disconnect()
    runner.finished.connect(lambda _: time.sleep(0.02))
    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.start(partial(burst, 1), label="one")
    assert sum(charged) >= 0.02


def test_a_drain_in_a_turn_that_has_drawn_enough_waits_for_its_next_tick(qtbot, runner, monkeypatch):
    """While the turn's drawing budget is spent (a plot's paint, another runner's drain), a tick
    delivers nothing, not even the result; once a turn has budget again, everything comes, in order."""
    from lab_app.qt import turn_budget

    spent = [True]
    monkeypatch.setattr(turn_budget, "over", lambda: spent[0])
    got = []
    runner.message.connect(lambda text, _level: got.append(text))
    runner.finished.connect(lambda n: got.append(("finished", n)))
    runner.start(partial(burst, 3), label="burst")
    qtbot.waitUntil(lambda: runner._run is not None and runner._run.outcome is not None, timeout=5000)
    qtbot.wait(100)                      # several ticks, every one of them over budget
    assert got == [] and runner.busy
    spent[0] = False
    qtbot.waitUntil(lambda: ("finished", 3) in got, timeout=5000)
    assert got == ["part 0", "part 1", "part 2", ("finished", 3)] and not runner.busy
