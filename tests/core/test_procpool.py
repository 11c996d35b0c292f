"""Training in a worker process (lab_app/core/procpool.py): the TaskRunner streams a task run in
another process exactly as it streams a local one: events, result, errors worded the same, pause,
resume, cancel, a task that cannot be pickled, a worker that dies; the window uses it."""

from __future__ import annotations

import functools
import os
import threading

import pytest

from lab_app.core.events import Progress
from lab_app.core.procpool import ProcessBackend
from tests.core.tasks import counting, echo_live

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend():
    b = ProcessBackend()
    b.start()
    yield b
    b.close()


def _runner_on(backend):
    """A TaskRunner that sends every task it starts to ``backend``."""
    from lab_app.qt.worker import TaskRunner

    r = TaskRunner(device="cpu")
    r.backend = backend
    r.remote_filter = lambda make: True
    return r


@pytest.fixture
def runner(qtbot, backend):
    r = _runner_on(backend)
    yield r
    r.shutdown(30)


def _listen(runner) -> tuple[list, dict]:
    """The runner's events as they come, and its outcome ("finished", "errored" or "cancelled")."""
    events, out = [], {}
    runner.event.connect(events.append)
    runner.finished.connect(lambda v: out.setdefault("finished", v))
    runner.errored.connect(lambda m: out.setdefault("errored", m))
    runner.cancelled.connect(lambda: out.setdefault("cancelled", True))
    return events, out


def _run(qtbot, runner, make, timeout=60_000):
    events, out = _listen(runner)
    runner.start(make, "test")
    qtbot.waitUntil(lambda: not runner.busy, timeout=timeout)
    return events, out


def test_a_task_runs_in_the_worker_and_its_events_arrive_in_order(qtbot, runner, backend):
    events, out = _run(qtbot, runner, functools.partial(counting, 30))
    assert [e.step for e in events] == list(range(30))
    assert out["finished"]["steps"] == 30 and out["finished"]["device"] == "cpu"
    assert out["finished"]["pid"] == backend.pid != os.getpid()
    assert runner.label == "test"   # a run on this computer gets no "on <address>"


def test_a_failure_in_the_worker_reads_as_it_would_here(qtbot, runner):
    from lab_app.qt.worker import TaskRunner

    _, remote = _run(qtbot, runner, functools.partial(counting, 10, fail_at=3))
    local = TaskRunner(device="cpu")
    try:
        _, here = _run(qtbot, local, functools.partial(counting, 10, fail_at=3))
    finally:
        local.shutdown()
    assert remote == here == {"errored": "bad value at step 3"}


def test_pause_resume_and_cancel_reach_the_task_in_the_worker(qtbot, runner):
    events = []
    runner.event.connect(events.append)
    cancelled = []
    runner.cancelled.connect(lambda: cancelled.append(True))
    runner.start(functools.partial(counting, 100_000, sleep=0.01), "long")
    qtbot.waitUntil(lambda: len(events) >= 5, timeout=30_000)
    runner.pause()
    qtbot.wait(600)   # events sent before the pause arrived meanwhile
    n = len(events)
    qtbot.wait(600)
    assert len(events) == n, "events kept coming while paused"
    runner.resume()
    qtbot.waitUntil(lambda: len(events) > n + 5, timeout=10_000)
    runner.cancel()
    assert cancelled and not runner.busy
    last = events[-1].step
    qtbot.wait(500)
    assert events[-1].step == last


def test_a_task_that_does_not_pickle_runs_in_this_process(qtbot, runner):
    _, out = _run(qtbot, runner, functools.partial(counting, 3, hold=threading.Lock()))
    assert out["finished"]["pid"] == os.getpid()


def test_a_worker_that_cannot_start_leaves_the_run_to_a_thread(qtbot, monkeypatch):
    from lab_app.core import procpool

    def refuse(self, threads):
        raise OSError("pass_fds is not supported here")

    monkeypatch.setattr(procpool._Worker, "__init__", refuse)
    b = ProcessBackend()
    assert b.start() is None
    r = _runner_on(b)
    try:
        _, out = _run(qtbot, r, functools.partial(counting, 3))
    finally:
        r.shutdown()
    assert out["finished"]["steps"] == 3 and out["finished"]["pid"] == os.getpid()


def test_a_lambda_task_goes_by_value(qtbot, runner, backend):
    _, out = _run(qtbot, runner, lambda ctl: counting(4, ctl))
    assert out["finished"]["steps"] == 4 and out["finished"]["pid"] == backend.pid


def test_the_transforms_gan_trains_the_same_in_the_worker_as_here(qtbot, runner):
    """Same seed, same device: the losses agree (the task is the same code, in another process)."""
    from lab_app.core.control import Control
    from lab_app.core.events import drain
    from lab_app.topics.transforms import task

    make = functools.partial(task.train_gan, task.TransformsConfig(steps=60, seed=5), None)
    local_events, _ = drain(make(Control("cpu")))
    remote_events, out = _run(qtbot, runner, make, timeout=120_000)

    def losses(events):   # a point every 20 steps (the others come when a frame is due: the clock's choice)
        return [(e.step, e.metrics) for e in events if isinstance(e, Progress) and e.step % 20 == 0]

    assert "finished" in out
    assert losses(remote_events) and losses(remote_events) == losses(local_events)




def test_a_live_setting_written_here_reaches_the_task_in_the_worker(qtbot, runner, backend):
    from lab_app.core.live import LiveDict

    knobs = LiveDict({"beta": 1.0})
    events = []
    runner.event.connect(events.append)
    runner.start(functools.partial(echo_live, knobs), "live")
    qtbot.waitUntil(lambda: len(events) >= 3, timeout=30_000)
    assert {e.metrics["beta"] for e in events} == {1.0}
    knobs["beta"] = 2.5
    qtbot.waitUntil(lambda: events[-1].metrics["beta"] == 2.5, timeout=5_000)
    knobs.update(beta=0.5)
    qtbot.waitUntil(lambda: events[-1].metrics["beta"] == 0.5, timeout=5_000)
    runner.cancel()
    assert runner.wait(10) and knobs._listeners == []   # the run's end stops the forwarding


def test_switching_back_to_threads_lets_a_run_under_way_finish_in_its_worker(qtbot, runner, backend):
    events, out = _listen(runner)
    runner.start(functools.partial(counting, 150, sleep=0.01), "under way")
    qtbot.waitUntil(lambda: len(events) >= 3, timeout=30_000)
    worker = backend._worker
    closing = threading.Thread(target=backend.close, kwargs={"wait_for_runs": True})
    closing.start()
    qtbot.waitUntil(lambda: "finished" in out, timeout=30_000)
    closing.join(10)
    assert [e.step for e in events] == list(range(150)) and out["finished"]["steps"] == 150
    assert not closing.is_alive() and worker.proc.poll() is not None


def test_a_worker_that_dies_ends_its_run_with_a_message_and_the_next_run_starts_a_new_one(qtbot):

    b = ProcessBackend()
    r = _runner_on(b)
    try:
        events, out = _listen(r)
        r.start(functools.partial(counting, 100_000, sleep=0.01), "doomed")
        qtbot.waitUntil(lambda: len(events) >= 3, timeout=60_000)
        first = b.pid
        os.kill(first, 9)
        qtbot.waitUntil(lambda: not r.busy, timeout=20_000)
        assert "training process stopped unexpectedly" in out["errored"]
        assert "exit status -9" in out["errored"]
        _, again = _run(qtbot, r, functools.partial(counting, 3))
        assert again["finished"]["pid"] == b.pid != first
    finally:
        r.shutdown(30)
        b.close()


def test_the_window_trains_in_its_worker_and_ends_it_on_close(qtbot):
    from lab_app.app import MainWindow

    win = MainWindow(train_process=True, start_tab="transforms", demo=False)
    qtbot.addWidget(win)
    tab = win.tab("transforms")
    assert all(r.backend is win.procs for r in tab.runners())
    assert win.process_action.isChecked()
    proc = win.procs._ensure().proc
    win.process_action.trigger()   # Run > Train in a separate process: off
    assert all(r.backend is None for r in tab.runners()) and win.procs is None
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=10_000)   # the old worker was let go
    win.set_train_process(True)
    assert all(r.backend is win.procs for r in tab.runners()) and win.process_action.isChecked()
    events = []
    tab.runner.event.connect(events.append)
    tab.start_training()
    qtbot.waitUntil(lambda: any(isinstance(e, Progress) for e in events), timeout=60_000)
    proc = win.procs._worker.proc
    assert proc.poll() is None
    win.close()
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=10_000)


def test_the_worker_also_takes_the_heavy_tasks_that_do_not_train_and_a_cluster_does_not(qtbot, backend):
    """The faces tab's cascades and crowd measurement (seconds of Cython, numpy and torch in a thread
    of the window's process) go to the worker on this computer; a cluster gets training only; a light
    task (reading a dropped photo for the VAE) stays here."""
    import numpy as np

    from lab_app.core.control import Control
    from lab_app.core.remote import RayBackend
    from lab_app.qt.worker import TaskRunner
    from lab_app.topics.pyramids import faces as F
    from lab_app.topics.pyramids import measure
    from lab_app.topics.pyramids.crowd import make_crowd
    from lab_app.topics.vae import task as vae_task

    photo = F.Photo(make_crowd(0).image, "crowd")
    lbp = functools.partial(F.lbp_task, photo, 24, 1.2)
    crowds = functools.partial(measure.measure_task, F.FacesConfig())
    train = functools.partial(vae_task.train, None, None)
    cascade = functools.partial(F.cascade_task, photo, F.FacesConfig())
    light = functools.partial(vae_task.open_image, "photo.png")
    tasks = (lbp, crowds, cascade, train, light)
    r = TaskRunner(device="cpu")
    try:
        r.backend = backend
        assert [r._goes_to_backend(m) for m in tasks] == [True, True, True, True, False]
        r.backend = RayBackend.__new__(RayBackend)      # only its class's attributes are read
        assert [r._goes_to_backend(m) for m in tasks] == [False, False, False, True, False]
    finally:
        r.shutdown(5)
    # and the LBP task pickles and runs there, finding what it finds here
    events = list(backend.stream(lbp, Control("cpu")))
    here = F.lbp_detect(photo.image, 24, 1.2)[0]
    assert len(here) > 0 and np.array_equal(events[-1].boxes, here)


def test_the_worker_imports_what_runs_import_lazily_before_the_first_run(qtbot):
    """Runs are threads of the worker: two that import torchvision at once can get a half-initialised
    torchvision.ops. The worker imports it (and torch._dynamo) before it starts any run."""
    from tests.core.tasks import loaded_modules

    fresh = ProcessBackend()   # a worker no other test's run has imported anything in
    fresh.start()
    runner = _runner_on(fresh)
    try:
        names = ("torch", "torch._dynamo", "torchvision.ops")
        _, out = _run(qtbot, runner, functools.partial(loaded_modules, names))
        assert out["finished"] == dict.fromkeys(names, True)
    finally:
        runner.shutdown(30)
        fresh.close()


def test_a_sealed_result_comes_back_unopened_and_the_next_task_opens_it_in_the_worker(qtbot, runner, backend):
    """What a tab keeps between runs (the pyramids detectors) stays bytes in the window: returned
    by one task and sent with the next, it is unpickled only in the worker."""
    from tests.core.tasks import Weighty, make_sealed, sum_sealed

    before = (Weighty.pickled, Weighty.unpickled)
    with qtbot.waitSignal(runner.finished, timeout=60000) as made:
        runner.start(functools.partial(make_sealed, [1, 2, 3, 4]))
    sealed = made.args[0]
    assert not sealed.is_open and sealed.meta == {"count": 4}
    with qtbot.waitSignal(runner.finished, timeout=60000) as summed:
        runner.start(functools.partial(sum_sealed, sealed))
    assert summed.args[0]["sum"] == 10 and not summed.args[0]["arrived_open"]
    assert summed.args[0]["pid"] == backend.pid != os.getpid()
    assert (Weighty.pickled, Weighty.unpickled) == before     # this process neither pickled nor rebuilt it
