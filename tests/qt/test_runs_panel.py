"""Runs recorded by the TaskRunner from the worker thread, and the Runs panel: overlay, diff, exports."""

from __future__ import annotations

import numpy as np
import pytest

from lab_app.core.events import Progress
from lab_app.core.runs import RunRecorder, RunStore
from lab_app.qt.runs_panel import RunsPanel
from lab_app.qt.worker import TaskRunner


def _training(ctl, steps=40, fail_at=None):
    for step in range(steps):
        ctl.checkpoint()
        if step == fail_at:
            raise RuntimeError("the model exploded")
        yield Progress(step, steps, {"loss": 10.0 - step * 0.1})
    return "done"


@pytest.fixture
def runner(qtbot, tmp_path):
    r = TaskRunner(device="cpu")
    r.recorder_factory = lambda label: RunRecorder(tmp_path / "runs.sqlite", "vae",
                                                   {"config": {"label": label}}, flush_every=0.05)
    yield r
    r.shutdown()


def test_runner_records_finished_and_failed_runs(qtbot, runner, tmp_path):
    with qtbot.waitSignal(runner.finished, timeout=10000):
        runner.start(_training, "a")
    with qtbot.waitSignal(runner.errored, timeout=10000):
        runner.start(lambda ctl: _training(ctl, fail_at=5), "b")
    store = RunStore(tmp_path / "runs.sqlite")
    runs = {r.card["config"]["label"]: r for r in store.runs()}
    assert runs["a"].status == "finished"
    assert store.metrics(runs["a"].id)["loss"] == (list(range(40)), pytest.approx([10.0 - s * 0.1 for s in range(40)]))
    assert runs["b"].status == "failed" and "the model exploded" in runs["b"].message
    assert store.metrics(runs["b"].id)["loss"][0] == [0, 1, 2, 3, 4]


def test_a_run_replaced_by_the_next_is_recorded_as_cancelled(qtbot, runner, tmp_path):
    import threading

    gate = threading.Event()

    def slow(ctl):
        yield Progress(0, 2, {"loss": 1.0})
        gate.wait(5)
        ctl.checkpoint()
        yield Progress(1, 2, {"loss": 0.5})

    with qtbot.waitSignal(runner.progress, timeout=10000):   # its first point is in
        runner.start(slow, "slow")
    with qtbot.waitSignal(runner.finished, timeout=10000):
        runner.start(_training, "next")
        gate.set()
    runner.wait(5)
    store = RunStore(tmp_path / "runs.sqlite")
    statuses = {r.card["config"]["label"]: r.status for r in store.runs()}
    assert statuses == {"slow": "cancelled", "next": "finished"}


def _two_runs(db):
    store = RunStore(db)
    a = store.start_run("vae", {"seed": 0, "config": {"lr": 0.01, "beta": 1.0}})
    store.add_points(a, [(0, "loss", 5.0), (10, "loss", 3.0), (20, "loss", 2.0)])
    store.end_run(a, "finished")
    b = store.start_run("vae", {"seed": 0, "config": {"lr": 0.05, "beta": 1.0}})
    store.add_points(b, [(0, "loss", 6.0), (10, "loss", 2.5)])
    store.end_run(b, "cancelled")
    store.close()
    return a, b


def test_overlay_draws_both_curves_with_their_points_and_the_diff(qtbot, tmp_path):
    a, b = _two_runs(tmp_path / "runs.sqlite")
    panel = RunsPanel(tmp_path / "runs.sqlite")
    qtbot.addWidget(panel)
    panel.set_tab("vae")
    assert panel.tree.topLevelItemCount() == 2
    assert panel.tree.topLevelItem(0).text(1) == "cancelled"       # newest first
    assert "lr=0.05" in panel.tree.topLevelItem(0).text(3)          # the knob that differs
    panel.tick([a, b])
    assert panel.metric_box.currentText() == "loss"
    xa, ya = panel.curves[a].getData()
    xb, yb = panel.curves[b].getData()
    assert np.array_equal(xa, [0, 10, 20]) and np.array_equal(ya, [5.0, 3.0, 2.0])
    assert np.array_equal(xb, [0, 10]) and np.array_equal(yb, [6.0, 2.5])
    assert panel.curves[a].opts["pen"].color().name() != panel.curves[b].opts["pen"].color().name()
    legend = [label.text for _item, label in panel.legend.items]
    assert any("lr=0.01" in t for t in legend) and any("lr=0.05" in t for t in legend)
    diff = panel.diff.toPlainText()
    assert "lr: 0.05  |  0.01" in diff and "beta" not in diff   # in the list's order, newest first
    panel.set_tab("yolo")
    assert panel.tree.topLevelItemCount() == 0
    panel.close_store()


def test_rename_tag_delete_and_exports_from_the_panel(qtbot, tmp_path):
    a, b = _two_runs(tmp_path / "runs.sqlite")
    panel = RunsPanel(tmp_path / "runs.sqlite")
    qtbot.addWidget(panel)
    panel.set_tab("vae")
    panel.rename(a, "slow lr")
    panel.tag(a, "baseline, good")
    item = panel.tree.topLevelItem(1)
    assert item.text(0) == "slow lr  [baseline, good]"
    panel.tick([a])
    csv = panel.export_csv(tmp_path / "a.csv").read_text()
    assert "slow lr" in csv and len(csv.strip().splitlines()) == 4
    panel.delete([b])
    assert panel.tree.topLevelItemCount() == 1
    panel.close_store()


def test_corrupt_database_is_said_in_the_panel(qtbot, tmp_path):
    (tmp_path / "runs.sqlite").write_bytes(b"garbage" * 200)
    panel = RunsPanel(tmp_path / "runs.sqlite")
    qtbot.addWidget(panel)
    panel.set_tab("vae")
    assert "moved to" in panel.header.text()
    panel.close_store()


def test_a_real_tab_training_run_is_recorded_and_shown(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_RUNS_DB", str(tmp_path / "runs.sqlite"))
    from lab_app.app import MainWindow

    win = MainWindow(device_pref="cpu", seed=3, start_tab="transforms")
    qtbot.addWidget(win)
    tab = win.tab_by_id["transforms"]
    with qtbot.waitSignal(tab.runner.progress, timeout=120000):   # the GAN's first loss point
        tab.ensure_demo()
    for r in tab.runners():
        r.cancel()
    win.runs_dock.show()
    qtbot.waitUntil(lambda: not any(r.busy for r in tab.runners()), timeout=20000)
    for r in tab.runners():
        r.wait(10)
    win.runs_panel.refresh()
    runs = win.runs_panel.runs
    assert runs and all(r.tab == "transforms" and r.card["seed"] == 3 for r in runs)
    assert all(r.status in ("cancelled", "finished") for r in runs)
    store = RunStore(tmp_path / "runs.sqlite")
    assert any(len(steps) > 0 for r in runs for steps, _ in store.metrics(r.id).values())
    win.shutdown()
    win.runs_panel.close_store()


def test_a_checkpoint_saved_from_a_tab_is_the_newest_runs(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QVBoxLayout

    from lab_app.qt.tab_base import LabContext, TopicTab
    from lab_app.qt.widgets.checkpoint_buttons import CheckpointButtons

    db = tmp_path / "runs.sqlite"
    a, b = _two_runs(db)
    class VaeLike(TopicTab):    # not a registry tab: it names itself
        tab_id = "vae"

    tab = VaeLike(LabContext(device="cpu", seed=0, runs_db=db))
    qtbot.addWidget(tab)
    saved = []
    buttons = CheckpointButtons("VAE", saved.append, lambda p: None, "vae.safetensors")
    QVBoxLayout(tab).addWidget(buttons)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "mine"), ""))
    buttons.save_button.click()
    assert saved == [tmp_path / "mine.safetensors"]
    store = RunStore(db)
    assert store.run(b).checkpoint == str((tmp_path / "mine.safetensors").resolve())   # the newest run
    assert store.run(a).checkpoint == ""
