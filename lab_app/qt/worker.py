"""TaskRunner: runs a task generator off the UI thread and delivers its events to the UI.

A task is a callable ``make(ctl) -> generator`` (usually ``functools.partial(task_fn, cfg, ...)``,
with the task's last parameter the Control). The generator runs in a Python thread; every event it
yields goes into a small mailbox; a QTimer on the UI thread drains the mailbox at most ``rate_hz``
times a second and emits signals. So:

- the worker never blocks on the UI (putting an event in the mailbox is a dict insert under a lock);
- redraws are throttled: coalescable events (snapshots) of one type that arrive between two drains
  collapse to the newest; progress points are all kept unless more than MAX_PENDING_PROGRESS pile
  up, then every other one is dropped (the curve keeps its shape, the UI is never flooded);
- a drain stops once its slots have spent DRAIN_BUDGET_S and leaves the rest (and the run's result)
  to its next tick, so Qt repaints in between; what it spent counts against the turn's drawing
  budget (lab_app/qt/turn_budget.py), and a drain in a turn that has spent that budget already
  delivers nothing until its next tick;
- latest wins: ``start()`` cancels the run before it; events of a superseded run are dropped;
- a non-finite loss in a Progress event pauses the run and says so, instead of drawing garbage;
- exceptions become ``errored(message)``; the runner is idle again and can start another run;
- ``shutdown()`` cancels every run and joins every thread (no thread outlives the window);
- with ``recorder_factory`` set, every run that reports metrics is recorded in the run store from
  the worker thread (lab_app/core/runs.py), batched, never on the UI thread;
- with ``backend`` set, training tasks run elsewhere and the thread only relays their events: in
  the window's worker process (lab_app/core/procpool.py) or on a Ray cluster (lab_app/core/remote.py).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from lab_app.core.control import Cancelled, Control
from lab_app.core.device import apply_thread_policy
from lab_app.core.events import Message, Progress
from lab_app.core.procpool import NotPortable
from lab_app.core.remote import RemoteError, is_local_heavy_task, is_training_task
from lab_app.io.errors import LoadError
from lab_app.qt import turn_budget

log = logging.getLogger(__name__)
_serial = itertools.count(1)

TaskFactory = Callable[[Control], Any]
#: Progress events waiting for the UI before the oldest half are thinned out.
MAX_PENDING_PROGRESS = 1000
#: seconds of drawing (the tab's slots) one drain may spend before it leaves the rest of the mailbox
#: to the next tick: between the two, Qt repaints what those slots changed, and timers and input run
DRAIN_BUDGET_S = 0.006


class _Run:
    """One run: its control, thread and mailbox. Only the worker thread writes ``outcome``."""

    def __init__(self, label: str, ctl: Control):
        self.id = next(_serial)
        self.label = label
        self.ctl = ctl
        self.lock = threading.Lock()
        self.mailbox: OrderedDict = OrderedDict()
        self.pending_progress = 0
        self.seq = itertools.count()
        self.outcome: tuple[str, Any] | None = None  # ("finished", value) | ("errored", msg) | ("cancelled", None)
        self.result: tuple[str, Any] | None = None   # the outcome while the worker is still finishing up
        self.remote = None  # pause/resume/cancel of the task's copy on a cluster (lab_app/core/remote.py)
        self.thread: threading.Thread | None = None
        self.undelivered: deque = deque()   # taken from the mailbox, left for the next drain

    @staticmethod
    def _coalesce_key(ev: Any):
        return ("c", type(ev), getattr(ev, "name", None)) if getattr(ev, "coalesce", False) else None

    def post(self, ev: Any) -> None:
        key = self._coalesce_key(ev) or ("n", next(self.seq))
        with self.lock:
            self.mailbox.pop(key, None)
            self.mailbox[key] = ev
            if isinstance(ev, Progress):
                self.pending_progress += 1
                if self.pending_progress > MAX_PENDING_PROGRESS:
                    self._thin_progress()

    def _thin_progress(self) -> None:
        """Drop every other pending Progress (never the newest, never other events): a task that
        reports faster than the UI drains keeps a curve of the same shape with half the points,
        and the mailbox and each drain stay bounded. Amortised O(1) per post."""
        keep: OrderedDict = OrderedDict()
        seen = 0
        last = next(reversed(self.mailbox))
        for key, ev in self.mailbox.items():
            if isinstance(ev, Progress) and key != last:
                seen += 1
                if seen % 2:
                    continue
            keep[key] = ev
        self.mailbox = keep
        self.pending_progress = sum(isinstance(e, Progress) for e in keep.values())

    def keep_undelivered(self, events: list) -> None:
        """Queue ``events`` behind those a drain left; a coalescable one replaces its older twin."""
        newer = {k for k in map(self._coalesce_key, events) if k is not None}
        if newer and self.undelivered:
            self.undelivered = deque(e for e in self.undelivered if self._coalesce_key(e) not in newer)
        self.undelivered.extend(events)

    def take(self) -> list:
        with self.lock:
            if not self.mailbox:
                return []
            box, self.mailbox = self.mailbox, OrderedDict()
            self.pending_progress = 0
        return list(box.values())


def _user_message(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text and not isinstance(exc, ValueError) else (text or type(exc).__name__)


class TaskRunner(QObject):
    started = Signal(str)                  # label
    event = Signal(object)                 # every delivered event (Progress, Snapshot, Message, custom)
    progress = Signal(object)              # Progress events only
    message = Signal(str, str)             # text, level
    finished = Signal(object)              # the generator's return value
    errored = Signal(str)                  # a message a person can read
    cancelled = Signal()
    paused_changed = Signal(bool, str)     # paused?, why
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None, *, device: Any = "cpu", rate_hz: float = 30.0,
                 threads: int | None = None):
        super().__init__(parent)
        self.device = device
        self.threads = threads
        self._run: _Run | None = None
        self._all_runs: list[_Run] = []
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(1000 / rate_hz)))
        self._timer.timeout.connect(self._drain)
        self._rate_t: float | None = None
        self._rate_step = 0
        self.steps_per_s = 0.0
        self.label = ""
        #: Called on start() (UI thread) for a RunRecorder, or None not to record (see TopicTab).
        self.recorder_factory: Callable[[str], Any] | None = None
        #: Where training tasks run: None here, or a RayBackend (lab_app/core/remote.py); which tasks
        #: go there is ``remote_filter``'s choice (training tasks; inference stays here).
        self.backend = None
        self.remote_filter: Callable[[Any], bool] = is_training_task

    # --- public API -----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True from start() until the run's outcome has been delivered."""
        return self._run is not None

    @property
    def paused(self) -> bool:
        return self._run is not None and self._run.ctl.paused

    def _goes_to_backend(self, make: TaskFactory) -> bool:
        """Training tasks (``remote_filter``), and on a backend on this computer (the worker
        process) the CPU-heavy tasks that do not train as well."""
        local = getattr(self.backend, "local", False)
        return self.remote_filter(make) or (local and is_local_heavy_task(make))

    def start(self, make: TaskFactory, label: str = "") -> int:
        """Cancel the current run (latest wins) and start ``make(ctl)`` in a new thread."""
        self._cancel_current()
        ctl = Control(self.device)
        backend = self.backend if self.backend is not None and self._goes_to_backend(make) else None
        if backend is not None and backend.address:
            label = f"{label} on {backend.address}"
        run = _Run(label, ctl)
        recorder = self.recorder_factory(label) if self.recorder_factory is not None else None
        run.thread = threading.Thread(target=self._work, args=(run, make, recorder, backend),
                                      name=f"lab-task-{run.id}-{label}", daemon=True)
        self._run = run
        self._all_runs.append(run)
        self._prune()
        self.label = label
        self.steps_per_s = 0.0
        self._rate_t = None
        run.thread.start()
        self._timer.start()
        self.started.emit(label)
        self.busy_changed.emit(True)
        return run.id

    def cancel(self) -> None:
        self._cancel_current()

    def pause(self) -> None:
        if self._run is not None and self._run.outcome is None and not self._run.ctl.paused:
            self._run.ctl.pause()
            if self._run.remote is not None:
                self._run.remote.pause()
            self.paused_changed.emit(True, "paused")

    def resume(self) -> None:
        if self._run is not None and self._run.ctl.paused:
            self._run.ctl.resume()
            if self._run.remote is not None:
                self._run.remote.resume()
            self.paused_changed.emit(False, "")

    def wait(self, timeout: float = 10.0) -> bool:
        """Join every thread this runner started (for tests and shutdown). True if all ended."""
        deadline = time.monotonic() + timeout
        for run in list(self._all_runs):
            if run.thread is not None:
                run.thread.join(max(0.0, deadline - time.monotonic()))
        self._prune()
        return not any(r.thread is not None and r.thread.is_alive() for r in self._all_runs)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Cancel everything, join every thread, stop delivering. True if all threads ended."""
        for run in self._all_runs:
            run.ctl.cancel()
            if run.remote is not None:
                run.remote.cancel()
        ok = self.wait(timeout)
        self._timer.stop()
        self._run = None
        return ok

    # --- worker thread ----------------------------------------------------------------------------
    def _work(self, run: _Run, make: TaskFactory, recorder=None, backend=None) -> None:
        try:
            self._run_task(run, make, recorder, backend)
        finally:
            kind, value = run.result or ("cancelled", None)
            if recorder is not None:  # before the outcome is published: the UI then reads a complete run
                recorder.end({"finished": "finished", "errored": "failed"}.get(kind, "cancelled"),
                             value if kind == "errored" else "")
            run.outcome = (kind, value)

    def _run_task(self, run: _Run, make: TaskFactory, recorder, backend=None) -> None:
        ctl = run.ctl
        gen = None
        try:
            ctl.checkpoint()
            gen = None
            if backend is not None:
                try:
                    gen = backend.stream(make, ctl, run)
                except NotPortable as e:  # holds something that does not pickle: it runs here
                    log.info("task %r runs in this process: %s", run.label, e)
            if gen is None:   # it runs here: this thread's torch and BLAS threads by the policy
                apply_thread_policy(self.threads)
                gen = make(ctl)
            if not isinstance(gen, Iterator):  # a plain function: its return value is the result
                run.result = ("finished", gen)
                return
            while True:
                try:
                    ev = next(gen)
                except StopIteration as stop:
                    run.result = ("finished", stop.value)
                    return
                if isinstance(ev, Progress):
                    bad = ev.nonfinite_losses()
                    if bad:
                        ctl.pause()
                        run.post(_PauseNote(f"{', '.join(bad)} became NaN/infinite at step {ev.step}: "
                                            "run paused (lower the learning rate, then resume or restart)"))
                    if recorder is not None and ev.metrics:
                        recorder.point(ev.step, ev.metrics)
                run.post(ev)
                ctl.checkpoint()
        except Cancelled:
            run.result = ("cancelled", None)
        except (LoadError, RemoteError) as exc:  # bad input, a cluster fault: the message says it all
            log.info("task %r: %s", run.label, exc)
            run.result = ("errored", str(exc))
        except Exception as exc:  # noqa: BLE001 - every task error must reach the UI, not kill the thread
            log.error("task %r failed:\n%s", run.label, traceback.format_exc())
            run.result = ("errored", _user_message(exc))
        finally:
            if gen is not None and hasattr(gen, "close"):
                try:
                    gen.close()
                except Exception:  # noqa: BLE001
                    pass

    # --- UI thread ------------------------------------------------------------------------------------
    def _cancel_current(self) -> None:
        run = self._run
        if run is not None and run.outcome is None:
            run.ctl.cancel()
            if run.remote is not None:
                run.remote.cancel()
            self._run = None
            self.cancelled.emit()
            self.busy_changed.emit(False)
        self._run = None

    def _prune(self) -> None:
        self._all_runs = [r for r in self._all_runs if r is self._run or (r.thread is not None and r.thread.is_alive())]

    def _drain(self) -> None:
        run = self._run
        if run is None:
            self._prune()
            if not self._all_runs:
                self._timer.stop()
            return
        outcome = run.outcome  # read before draining: every event posted before it is in the mailbox
        run.keep_undelivered(run.take())
        if turn_budget.over():
            return   # this turn has drawn enough already: the events, and the result, at the next tick
        if run.undelivered:
            t0 = time.perf_counter()
            with turn_budget.drawing():   # the slots' drawing, against this turn
                delivered = self._deliver_some(run, t0)
            if not delivered:
                return
            if outcome is not None and time.perf_counter() - t0 > DRAIN_BUDGET_S:
                return  # the run's result in a tick of its own
        if outcome is not None and self._run is run:
            self._run = None
            kind, value = outcome
            with turn_budget.drawing():   # the result's slots draw too
                self.busy_changed.emit(False)
                if kind == "finished":
                    self.finished.emit(value)
                elif kind == "errored":
                    self.errored.emit(value)
                else:
                    self.cancelled.emit()
            self._prune()

    def _deliver_some(self, run: _Run, t0: float) -> bool:
        """Deliver ``run``'s undelivered events until DRAIN_BUDGET_S has passed since ``t0``; whether
        all were delivered and ``run`` is still this runner's."""
        while run.undelivered:
            self._deliver(run.undelivered.popleft())
            if self._run is not run:
                return False  # a slot started another run: the rest of this one is stale
            if run.undelivered and time.perf_counter() - t0 > DRAIN_BUDGET_S:
                return False  # the rest at the next tick, after Qt has painted what this one changed
        return True

    def _deliver(self, ev: Any) -> None:
        if isinstance(ev, _PauseNote):
            self.paused_changed.emit(True, ev.text)
            self.message.emit(ev.text, "warning")
            return
        if isinstance(ev, Progress):
            self._update_rate(ev)
            self.progress.emit(ev)
        elif isinstance(ev, Message):
            self.message.emit(ev.text, ev.level)
        self.event.emit(ev)

    def _update_rate(self, ev: Progress) -> None:
        now = time.monotonic()
        if self._rate_t is not None and now > self._rate_t and ev.step >= self._rate_step:
            inst = (ev.step - self._rate_step) / (now - self._rate_t)
            self.steps_per_s = inst if self.steps_per_s == 0 else 0.7 * self.steps_per_s + 0.3 * inst
        self._rate_t, self._rate_step = now, ev.step


class _PauseNote:
    """Posted by the worker when it paused the run itself (non-finite loss)."""

    coalesce = False

    def __init__(self, text: str):
        self.text = text
