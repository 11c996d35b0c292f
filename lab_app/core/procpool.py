"""Training in a worker process on this computer, so that the UI process only draws.

Why: a task in a Python thread shares the interpreter lock with the UI thread. Measured with
``ui_stalls --trace``: while a tab trained, the UI thread waited for the lock in its event loop for
up to a second at a time (a regex over a whole play, numpy and torch calls that keep the lock,
imports of extension modules), and every pyqtgraph paint, which calls back into Python dozens of
times, waited for it again at each call. A second process has its own interpreter and, on a machine
with two cores, its own core.

``ProcessBackend`` has the interface of ``RayBackend`` (lab_app/core/remote.py): a TaskRunner whose
``backend`` is set sends its training tasks there (``stream``), and pause, resume and cancel reach the
task's Control through ``run.remote``. The task is pickled with cloudpickle (functools.partial of a
module function with its config and data); a task that cannot be pickled runs in a thread as
before (``NotPortable``). One warm worker (``python -m lab_app.core.procworker``) serves every run of
the window, each in its own thread there, with torch imported once. If the worker dies, the runs
in it end with a message and the next run starts a new one.

Messages are pairs of frames on one socket: a small header ``(kind, run_id)`` and a payload, both
pickled. The payload is unpickled by the thread that streams the run, not by the reader.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection, Pipe
from typing import Any

from lab_app.core import live
from lab_app.core.control import Cancelled, Control
from lab_app.core.remote import ControlForwarder, RemoteError

log = logging.getLogger(__name__)

#: How often a stream checks its own Control for a cancel while no event arrives.
POLL_S = 0.1


class NotPortable(Exception):
    """The task cannot be sent to another process (it holds something that does not pickle)."""


class TaskFailed(RemoteError):
    """A task failed in the worker with an exception that could not be sent back as itself."""


def dumps(obj: Any) -> bytes:
    try:
        return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - lambdas, local classes, closures: cloudpickle takes them
        import cloudpickle

        return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


class _Worker:
    """One child process and the thread that reads what it sends."""

    def __init__(self, threads: int | None):
        here, there = Pipe(duplex=True)
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        args = [sys.executable, "-m", "lab_app.core.procworker", str(there.fileno())]
        if threads is not None:
            args.append(str(threads))
        self.proc = subprocess.Popen(args, pass_fds=[there.fileno()], env=env, stdin=subprocess.DEVNULL)
        there.close()
        self.conn: Connection = here
        self.queues: dict[int, queue.SimpleQueue] = {}
        self.lock = threading.Lock()        # the queues and ``dead``
        self.send_lock = threading.Lock()   # one frame pair at a time on the socket
        self.dead = False
        self.reader = threading.Thread(target=self._read, name=f"lab-procpool-reader-{self.proc.pid}",
                                       daemon=True)
        self.reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def send(self, kind: str, run_id: int, payload: bytes = b"") -> None:
        if self.dead:
            raise RemoteError("the training process has stopped")
        with self.send_lock:
            try:
                self.conn.send_bytes(pickle.dumps((kind, run_id)))
                self.conn.send_bytes(payload)
            except (OSError, ValueError) as e:
                raise RemoteError(f"the training process cannot be reached ({e})") from None

    def open(self, run_id: int) -> queue.SimpleQueue:
        q: queue.SimpleQueue = queue.SimpleQueue()
        with self.lock:
            if self.dead:
                raise RemoteError("the training process has stopped")
            self.queues[run_id] = q
        return q

    def forget(self, run_id: int) -> None:
        with self.lock:
            self.queues.pop(run_id, None)

    def _read(self) -> None:
        try:
            while True:
                kind, run_id = pickle.loads(self.conn.recv_bytes())
                payload = self.conn.recv_bytes()
                with self.lock:
                    q = self.queues.get(run_id)
                if q is not None:
                    q.put((kind, payload))
        except (EOFError, OSError):
            pass
        except Exception:  # noqa: BLE001 - a garbled stream: treat the worker as gone
            log.exception("reading from the training process failed")
        with self.lock:
            self.dead = True
            queues = list(self.queues.values())
        code = self.proc.poll()
        if code is None:
            try:
                code = self.proc.wait(2)
            except subprocess.TimeoutExpired:
                code = None
        for q in queues:
            q.put(("dead", pickle.dumps(code)))

    def close(self, timeout: float = 3.0) -> None:
        try:
            self.send("quit", 0)
        except RemoteError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        try:
            self.conn.close()
        except OSError:
            pass
        self.reader.join(timeout)


class ProcessBackend:
    """Runs training tasks in one warm worker process on this computer (see the module docstring)."""

    #: Nothing to add to a run's label: the run is on this computer.
    address = ""
    #: On this computer: it also takes the CPU-heavy tasks that do not train (LOCAL_HEAVY_TASKS).
    local = True

    def __init__(self, threads: int | None = None):
        self.threads = threads
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self._run_ids = itertools.count(1)

    def start(self) -> int | None:
        """Start the warm worker now (it imports torch while nothing waits for it); its pid, or None
        when it cannot start here (runs then go to threads, see ``stream``)."""
        try:
            return self._ensure().pid
        except NotPortable as e:
            log.warning("%s", e)
            return None

    @property
    def pid(self) -> int | None:
        w = self._worker
        return w.pid if w is not None and not w.dead else None

    def _ensure(self) -> _Worker:
        with self._lock:
            if self._worker is None or self._worker.dead:
                try:
                    self._worker = _Worker(self.threads)
                except (OSError, ValueError) as e:   # no fork/exec here, pass_fds unsupported (Windows)...
                    raise NotPortable(f"the training process could not start ({e}); training runs in "
                                      "threads of this process") from None
            return self._worker

    def stream(self, make, ctl: Control, run: Any = None) -> Iterator[Any]:
        """The events of ``make(ctl)`` run in the worker; its return value is the generator's.
        Raises NotPortable (now, not at the first ``next``) when ``make`` cannot be pickled or the
        worker cannot start: the runner then runs it in a thread."""
        import cloudpickle  # by value where pickle would refer to __main__ (the window's, not the worker's)

        try:
            with live.collect() as knobs:
                payload = cloudpickle.dumps(make, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001 - PicklingError, TypeError, AttributeError...
            raise NotPortable(f"{type(e).__name__}: {e}") from None
        worker = self._ensure()
        run_id = next(self._run_ids)
        q = worker.open(run_id)
        handle = _ProcessControl(worker, run_id)
        if run is not None:
            run.remote = handle
        worker.send("run", run_id, dumps((payload, str(ctl.device))))
        handle.follow(knobs)
        return self._events(worker, run_id, q, ctl, handle, knobs)

    def _events(self, worker: _Worker, run_id: int, q: queue.SimpleQueue, ctl: Control, handle,
                knobs: list) -> Iterator[Any]:
        ended = False
        try:
            while True:
                if ctl.cancelled:
                    raise Cancelled()
                try:
                    kind, payload = q.get(timeout=POLL_S)
                except queue.Empty:
                    continue
                if kind == "event":
                    yield pickle.loads(payload)
                elif kind == "return":
                    ended = True
                    return pickle.loads(payload)
                elif kind == "cancelled":
                    ended = True
                    raise Cancelled()
                elif kind == "error":
                    ended = True
                    raise pickle.loads(payload)
                elif kind == "dead":
                    ended = True
                    code = pickle.loads(payload)
                    with self._lock:
                        if self._worker is worker:
                            self._worker = None
                    how = f"exit status {code}" if code is not None else "no exit status"
                    raise RemoteError(f"the training process stopped unexpectedly ({how}); what was drawn "
                                      "stays, and the next run starts a new one")
        finally:
            worker.forget(run_id)
            handle.unfollow(knobs)
            if not ended:
                handle.cancel()   # left early (cancelled here, window closed): stop it there too

    def close(self, wait_for_runs: bool = False) -> None:
        """End the worker: at once (the window closes; its runs were cancelled), or once the runs
        streaming from it have ended (``wait_for_runs``: training was switched back to threads, and
        runs under way finish where they started). The next ``stream`` starts a new worker."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is None:
            return
        while wait_for_runs and not worker.dead and worker.queues:
            time.sleep(0.2)
        worker.close()


class _ProcessControl(ControlForwarder):
    """Forwards to the run's Control and LiveDicts in the worker process."""

    def __init__(self, worker: _Worker, run_id: int):
        self.worker = worker
        self.run_id = run_id

    def _send(self, kind: str, *args) -> None:
        self.worker.send(kind, self.run_id, dumps(args) if args else b"")
