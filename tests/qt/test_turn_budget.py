"""turn_budget: drawing charged in one turn of the event loop counts until that turn's queued calls
are all delivered, and no longer."""

from PySide6.QtCore import QCoreApplication, QObject, Qt, QTimer, Signal

from lab_app.qt import turn_budget


class Relay(QObject):
    ping = Signal()


def test_what_a_timer_drew_still_counts_for_the_queued_calls_after_it(qtbot):
    """A runner's drain runs in a timer and the repaints it causes come as queued calls after it: they
    see what the drain spent. Once they are delivered, the budget is whole again."""
    relay = Relay()
    seen = []
    relay.ping.connect(lambda: seen.append(turn_budget.over()), Qt.ConnectionType.QueuedConnection)

    def heavy_timer():
        turn_budget.charge(turn_budget.BUDGET_S)   # the slots drew a whole budget's worth
        relay.ping.emit()                          # what they changed asks to repaint, queued
        relay.ping.emit()

    timer = QTimer()            # a real timer, as a runner's drain has (a zero-delay single shot is a
    timer.setSingleShot(True)   # queued call in Qt 6)
    timer.setInterval(5)
    timer.timeout.connect(heavy_timer)
    timer.start()
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=2000)
    assert seen == [True, True]
    qtbot.waitUntil(lambda: not turn_budget.over(), timeout=2000)
    assert turn_budget.spent() == 0


def test_a_drawing_block_is_charged_however_it_ends(qtbot, monkeypatch):
    import time

    import pytest

    charged = []
    monkeypatch.setattr(turn_budget, "charge", charged.append)
    with turn_budget.drawing():
        time.sleep(0.003)
    with pytest.raises(RuntimeError), turn_budget.drawing():
        time.sleep(0.003)
        raise RuntimeError("a slot failed")
    assert len(charged) == 2 and all(c >= 0.003 for c in charged)


def test_a_drawing_block_inside_another_is_charged_once(qtbot, monkeypatch):
    """Qt 6 repaints a widget through a synchronous repaint of its window: a plot's repaint (a drawing
    block) holds the window's (another one). The turn is charged the outer block's time, once."""
    import time

    import pytest

    charged = []
    monkeypatch.setattr(turn_budget, "charge", charged.append)
    with turn_budget.drawing():
        time.sleep(0.002)
        with turn_budget.drawing():
            time.sleep(0.004)
    assert len(charged) == 1 and charged[0] >= 0.006
    with pytest.raises(RuntimeError), turn_budget.drawing():   # a failed inner block closes too
        with turn_budget.drawing():
            raise RuntimeError("a slot failed")
    with turn_budget.drawing():
        time.sleep(0.001)
    assert len(charged) == 3


def test_in_turns_runs_a_part_a_turn_in_order_and_stops_when_a_newer_result_came(qtbot):
    owner, ran = QObject(), []
    turn_budget.in_turns(owner, [lambda: ran.append(1), lambda: ran.append(2), lambda: ran.append(3)])
    assert ran == [1]                     # the first now; each other one in a turn of its own
    QCoreApplication.processEvents()
    assert ran == [1, 2]
    qtbot.waitUntil(lambda: ran == [1, 2, 3], timeout=2000)

    current, ran[:] = {"result": "a"}, []
    turn_budget.in_turns(owner, [lambda: ran.append("a1"), lambda: ran.append("a2")],
                         still=lambda: current["result"] == "a")
    current["result"] = "b"               # a newer result: what is left of "a" is dropped
    qtbot.wait(50)
    assert ran == ["a1"]


def test_a_turn_end_already_due_does_not_cut_a_timers_drawing_from_its_repaints(qtbot):
    """Something charged earlier in the turn, so the turn's end is already due; a drain's timer fell
    due before it and fires first in the same pass over the timers. The repaints the drain queued
    still see what it spent: the turn ends after them, not between the two timers."""
    import time

    qtbot.waitUntil(lambda: not turn_budget.over() and turn_budget.spent() == 0, timeout=2000)
    relay = Relay()
    seen = []
    relay.ping.connect(lambda: seen.append(turn_budget.over()), Qt.ConnectionType.QueuedConnection)

    def drain():
        turn_budget.charge(turn_budget.BUDGET_S)
        relay.ping.emit()

    timer = QTimer()
    timer.setSingleShot(True)
    timer.setInterval(1)
    timer.timeout.connect(drain)
    timer.start()
    time.sleep(0.005)                 # the drain's timer is due ...
    turn_budget.charge(0.0001)        # ... before the turn's end, which this charge sets going
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=2000)
    assert seen == [True]
    qtbot.waitUntil(lambda: not turn_budget.over(), timeout=2000)
