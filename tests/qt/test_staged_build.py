"""A tab built in slices (lab_app/qt/staged.py): the event loop runs between the slices, the same
constructor builds at once outside a staged build, a caller that needs the object finishes it now,
and a failing build says why."""

import time

import pytest
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from lab_app.qt import staged
from lab_app.qt.staged import StagedBuild, build_pause


class Slow(QWidget):
    """Five parts of 25 ms each (busy, as widget construction is), with a pause before each."""

    def __init__(self, ticks: list | None = None):
        super().__init__()
        self.parts = []
        layout = QVBoxLayout(self)
        for i in range(5):
            build_pause()
            if ticks is not None:
                self.parts.append(len(ticks))     # how many timer ticks had come when this part began
            end = time.perf_counter() + 0.025
            while time.perf_counter() < end:
                pass
            layout.addWidget(QLabel(f"part {i}"))


def run_until_built(build: StagedBuild, timeout_ms: int = 10000) -> None:
    loop = QEventLoop()
    build.built.connect(loop.quit)
    build.failed.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    build.start()
    loop.exec()


def test_the_event_loop_runs_between_slices(qtbot):
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(0)
    build = StagedBuild(lambda: Slow(ticks))
    run_until_built(build)
    timer.stop()
    assert build.done and isinstance(build.result, Slow)
    w = build.result
    qtbot.addWidget(w)
    assert w.layout().count() == 5
    # each 25 ms part is past SLICE_S: every pause after the first yields, and timer ticks come
    # between the parts (the event loop ran); no slice ran much longer than one part
    assert build.slices >= 5
    assert w.parts == sorted(w.parts) and w.parts[-1] > w.parts[0] and len(set(w.parts)) == 5
    assert build.longest_slice_s < 0.025 + staged.SLICE_S + 0.04


def test_outside_a_staged_build_the_constructor_builds_at_once(qtbot):
    ticks: list[float] = []
    w = Slow(ticks)
    qtbot.addWidget(w)
    assert w.layout().count() == 5 and w.parts == [0] * 5


def test_finish_builds_the_rest_now(qtbot):
    build = StagedBuild(Slow)
    built = []
    build.built.connect(built.append)
    build.start()
    qtbot.waitUntil(lambda: build.slices >= 2, timeout=5000)   # part way
    assert not build.done
    w = build.finish()
    qtbot.addWidget(w)
    assert build.done and w.layout().count() == 5 and built == [w]
    slices = build.slices
    qtbot.wait(50)                        # the pending turn finds it done and does nothing
    assert build.slices == slices and built == [w]


def test_a_failing_build_says_why(qtbot):
    def make():
        build_pause()
        raise ValueError("no such dataset")

    build = StagedBuild(make)
    messages = []
    build.failed.connect(messages.append)
    run_until_built(build)
    assert messages == ["ValueError: no such dataset"]
    with pytest.raises(ValueError, match="no such dataset"):
        build.finish()


def test_an_abandoned_build_stops_where_it_paused(qtbot):
    made = []

    def make():
        for i in range(5):
            build_pause()
            made.append(i)
            end = time.perf_counter() + 0.025
            while time.perf_counter() < end:
                pass
        return "built"

    build = StagedBuild(make)
    outcomes = []
    build.built.connect(outcomes.append)
    build.failed.connect(outcomes.append)
    build.start()
    qtbot.waitUntil(lambda: build.slices >= 2, timeout=5000)
    build.abandon()
    stopped_at = list(made)
    qtbot.wait(100)
    assert build.done and made == stopped_at and len(made) < 5 and outcomes == []


def test_a_config_panel_pauses_between_its_knobs(qtbot, monkeypatch):
    """A ParamPanel in a staged build: with every pause due, its knobs are made over several slices
    (a long config was one slice of its own), and the panel is whole at the end."""
    import dataclasses

    from lab_app.qt.widgets.param_panel import ParamPanel

    fields = [(f"k{i}", int, dataclasses.field(default=i, metadata={"min": 0, "max": 99})) for i in range(12)]
    Config = dataclasses.make_dataclass("Config", fields, frozen=True)
    monkeypatch.setattr(staged, "SLICE_S", 0.0)   # every pause yields
    build = StagedBuild(lambda: ParamPanel(Config()))
    run_until_built(build)
    assert build.done and isinstance(build.result, ParamPanel)
    qtbot.addWidget(build.result)
    assert build.slices > len(fields)
    assert build.result.config == Config()


class _Clock:
    """A stand-in for ``time`` in staged.py: ``perf_counter`` reads ``now``, which the parts advance."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


def _parts_per_slice(monkeypatch, part_s: float, spent_s: float = 0.0) -> list[int]:
    """Build eight parts of ``part_s`` (fake clock) with the turn having drawn ``spent_s`` already
    whenever a slice starts; how many parts each slice ran."""
    from lab_app.qt import turn_budget

    clock = _Clock()
    monkeypatch.setattr(staged, "time", clock)
    monkeypatch.setattr(staged, "_part_after", {})
    monkeypatch.setattr(turn_budget, "spent", lambda: spent_s)
    monkeypatch.setattr(turn_budget, "charge", lambda seconds: None)
    slice_of: list[int] = []

    def make():
        for _ in range(8):
            build_pause()
            slice_of.append(build.slices)
            clock.now += part_s
        return "built"

    build = StagedBuild(make)
    while not build.done:
        build._slice()
    return [slice_of.count(k) for k in sorted(set(slice_of))]


def test_a_slice_stops_before_the_part_that_would_take_the_turn_past_its_budget(monkeypatch):
    """Parts of 6 ms against a 15 ms slice: two parts a slice (12 ms), not three (18 ms: the slice
    ran until it had spent 15 ms, then one more part)."""
    monkeypatch.setattr(staged, "SLICE_S", 0.015)
    assert _parts_per_slice(monkeypatch, 0.006) == [2, 2, 2, 2]


def test_what_the_turn_drew_before_a_slice_counts_against_it(monkeypatch):
    """A turn that has drawn 8 ms before the slice: one 6 ms part fits, a second would not."""
    monkeypatch.setattr(staged, "SLICE_S", 0.015)
    assert _parts_per_slice(monkeypatch, 0.006, spent_s=0.008) == [1] * 8


def test_a_pause_met_before_guesses_the_part_that_followed_it_then(monkeypatch):
    """Parts of 6 and 12 ms in turn (a plot's small pieces and its PlotItem) against a 15 ms slice.
    Guessing each part as long as the one before, a slice ran 6 ms, guessed 6 more and ran 12: 18 ms.
    Each pause's own last part as the guess: once the pauses have been met, no slice is over 15 ms."""
    from lab_app.qt import turn_budget

    clock = _Clock()
    monkeypatch.setattr(staged, "time", clock)
    monkeypatch.setattr(staged, "_part_after", {})
    monkeypatch.setattr(staged, "SLICE_S", 0.015)
    monkeypatch.setattr(turn_budget, "spent", lambda: 0.0)
    monkeypatch.setattr(turn_budget, "charge", lambda seconds: None)

    def make():
        for _ in range(6):
            build_pause()
            clock.now += 0.006
            build_pause()
            clock.now += 0.012
        return "built"

    build = StagedBuild(make)
    lengths = []
    while not build.done:
        start = clock.now
        build._slice()
        lengths.append(clock.now - start)
    assert sum(lengths) == pytest.approx(6 * 0.018)
    assert lengths[0] == pytest.approx(0.018)   # the first time, the 12 ms part is not known
    assert max(lengths[1:]) <= 0.015 + 1e-9


def test_a_slice_charges_its_time_to_the_turn(qtbot, monkeypatch):
    from lab_app.qt import turn_budget

    charged = []
    monkeypatch.setattr(turn_budget, "charge", charged.append)
    monkeypatch.setattr(staged, "_part_after", {})   # no guesses from the other tests' builds of Slow
    build = StagedBuild(Slow)
    build._slice()
    assert len(charged) == 1 and charged[0] >= 0.025   # at least its first 25 ms part
    assert charged[0] == pytest.approx(build.longest_slice_s)
