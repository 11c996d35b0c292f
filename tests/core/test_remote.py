"""Training through Ray: a local cluster (started here, 2 CPUs) runs the task, its events stream back
through the TaskRunner. Skipped when the ``ray`` extra is absent."""

from __future__ import annotations

import functools
import sys
import time

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install '.[ray]')")

from lab_app.core.events import Progress  # noqa: E402
from lab_app.core.remote import (  # noqa: E402
    TRAINING_TASKS,
    RayBackend,
    RemoteError,
    check_reachable,
    is_training_task,
    task_name,
)
from tests.core import tasks  # noqa: E402
from tests.core.tasks import counting, echo_live  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend():
    import ray.cloudpickle

    for module in (sys.modules[__name__], tasks):   # the tests' tasks go by value (workers lack tests/)
        ray.cloudpickle.register_pickle_by_value(module)
    b = RayBackend("local", "cpu", num_cpus=2)
    b.connect()
    yield b
    ray.shutdown()




@pytest.fixture
def runner(qtbot, backend):
    from lab_app.qt.worker import TaskRunner

    r = TaskRunner(device="cpu")
    r.backend = backend
    r.remote_filter = lambda make: True
    yield r
    r.shutdown(30)


def _collect(runner):
    events = []
    runner.event.connect(events.append)
    return events


def test_training_tasks_are_named_and_exist():
    import importlib

    from lab_app.core.remote import LOCAL_HEAVY_TASKS

    assert not TRAINING_TASKS & LOCAL_HEAVY_TASKS
    for name in TRAINING_TASKS | LOCAL_HEAVY_TASKS:
        module, _, fn = name.rpartition(".")
        assert callable(getattr(importlib.import_module(module), fn)), name
    from lab_app.topics.vae import task

    assert is_training_task(functools.partial(task.train, None, None))
    assert not is_training_task(functools.partial(task.image_for, None))
    assert task_name(functools.partial(functools.partial(task.train), None)) == "lab_app.topics.vae.task.train"


def test_a_real_training_task_yields_the_same_events_remotely(qtbot, runner):
    """The 2D GAN of the transforms tab, same seed, on the CPU: local and remote losses agree."""
    from lab_app.core.events import drain
    from lab_app.core.control import Control
    from lab_app.topics.transforms import task

    cfg = task.TransformsConfig(steps=60, seed=5)
    make = functools.partial(task.train_gan, cfg, None)
    local_events, local_result = drain(make(Control("cpu")))
    remote_events = _collect(runner)
    with qtbot.waitSignal(runner.finished, timeout=120000) as done:
        runner.start(make, "training GAN")
    # (a point every 20 steps; the others come when a frame is due, which depends on the clock)
    local = [(e.step, e.metrics) for e in local_events if isinstance(e, Progress) and e.step % 20 == 0]
    remote = [(e.step, e.metrics) for e in remote_events if isinstance(e, Progress) and e.step % 20 == 0]
    assert remote and remote == local
    assert type(done.args[0]) is type(local_result)


def test_result_comes_back_and_label_names_the_cluster(qtbot, runner):
    labels = []
    runner.started.connect(labels.append)
    events = _collect(runner)
    with qtbot.waitSignal(runner.finished, timeout=60000) as done:
        runner.start(functools.partial(counting, 5), "training")
    assert {k: done.args[0][k] for k in ("steps", "device")} == {"steps": 5, "device": "cpu"}
    assert [e.step for e in events if isinstance(e, Progress)] == [0, 1, 2, 3, 4]
    assert labels == ["training on local"]


def test_remote_exception_becomes_the_runners_message(qtbot, runner):
    with qtbot.waitSignal(runner.errored, timeout=60000) as err:
        runner.start(functools.partial(counting, 10, fail_at=3), "training")
    assert "the task failed on the cluster" in err.args[0] and "bad value at step 3" in err.args[0]


def test_pause_resume_and_cancel_reach_the_remote_task(qtbot, runner):
    events = _collect(runner)
    with qtbot.waitSignal(runner.progress, timeout=60000):
        runner.start(functools.partial(counting, 10_000, sleep=0.01), "training")
    runner.pause()
    qtbot.wait(1500)                          # let what was in flight arrive
    n = len(events)
    qtbot.wait(1500)
    assert len(events) == n                   # paused there: nothing new is produced
    runner.resume()
    qtbot.waitUntil(lambda: len(events) > n + 5, timeout=30000)
    with qtbot.waitSignal(runner.cancelled, timeout=30000):
        runner.cancel()
    assert runner.wait(30)




def test_a_live_setting_written_here_reaches_the_remote_task(qtbot, runner):
    from lab_app.core.live import LiveDict

    knobs = LiveDict({"beta": 1.0})
    events = _collect(runner)
    runner.start(functools.partial(echo_live, knobs), "training")
    qtbot.waitUntil(lambda: len(events) >= 3, timeout=60000)
    knobs["beta"] = 2.5
    qtbot.waitUntil(lambda: events[-1].metrics["beta"] == 2.5, timeout=30000)
    with qtbot.waitSignal(runner.cancelled, timeout=30000):
        runner.cancel()
    assert runner.wait(30) and knobs._listeners == []


def test_killing_the_remote_worker_ends_the_run_with_a_message(qtbot, runner):
    with qtbot.waitSignal(runner.progress, timeout=60000):
        runner.start(functools.partial(counting, 10_000, sleep=0.01), "training")
    actor = runner._run.remote.actor
    with qtbot.waitSignal(runner.errored, timeout=60000) as err:
        ray.kill(actor)
    assert "remote worker died" in err.args[0]


def test_weights_round_trip_through_the_checkpoint_api(qtbot, runner, tmp_path):
    import torch

    from lab_app.io.checkpoint import Checkpoint, load_checkpoint, save_checkpoint

    def train_linear(ctl):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        yield Progress(0, 1, {"loss": 0.0})
        return {k: v.clone() for k, v in model.state_dict().items()}

    with qtbot.waitSignal(runner.finished, timeout=60000) as done:
        runner.start(train_linear, "training")
    state = done.args[0]
    path = save_checkpoint(tmp_path / "w.safetensors", Checkpoint("vae", "linear", state))
    back = load_checkpoint(path, tab="vae")
    torch.manual_seed(0)
    ref = torch.nn.Linear(3, 2).state_dict()
    assert all(torch.equal(back.state_dict[k], ref[k]) for k in ref)


def test_unreachable_cluster_fails_fast_with_a_message():
    t0 = time.monotonic()
    with pytest.raises(RemoteError, match="cannot be reached.*stays on this computer"):
        check_reachable("ray://127.0.0.1:9", timeout=2.0)
    assert time.monotonic() - t0 < 10


def test_a_gpu_asked_for_on_a_cluster_without_one_is_refused(backend):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    b = RayBackend("local", "cuda")
    with pytest.raises(RemoteError, match="cannot give the device asked for"):
        b.connect()


def test_the_window_trains_on_the_cluster_and_falls_back_when_unreachable(qtbot, backend, monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_RUNS_DB", str(tmp_path / "runs.sqlite"))
    from lab_app.app import MainWindow

    win = MainWindow(device_pref="cpu", seed=0, start_tab="transforms", demo=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.cluster.failed, timeout=30000) as failed:
        win.join_cluster("ray://127.0.0.1:9")
    assert "cannot be reached" in failed.args[0] and "stays on this computer" in win.current_tab().banner.text
    assert all(r.backend is None for t in win.tab_by_id.values() for r in t.runners())
    with qtbot.waitSignal(win.cluster.connected, timeout=120000):
        win.join_cluster("local")
    assert "training on local: cpu" in win.device_label.text()
    tab = win.tab_by_id["transforms"]
    labels = []
    tab.runner.started.connect(labels.append)
    with qtbot.waitSignal(tab.runner.progress, timeout=120000):
        tab.ensure_demo()
    assert labels[0] == "training GAN on local"
    win.run_here()
    assert all(r.backend is None for t in win.tab_by_id.values() for r in t.runners())
    win.shutdown(30)
