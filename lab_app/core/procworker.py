"""The worker process of lab_app/core/procpool.py: ``python -m lab_app.core.procworker FD [THREADS]``.

Reads ``(kind, run_id)`` + payload frame pairs from the socket FD: ``run`` (a pickled
``(make, device)``), ``pause``, ``resume``, ``cancel``, ``quit``. Each run goes in its own thread with
its own Control and sends back ``event`` frames, then one of ``return``, ``cancelled`` or ``error``.
The socket closing (the window went away, however it ended) cancels every run and ends the process.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import threading
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection

from lab_app.core import live

log = logging.getLogger("lab_app.procworker")
#: The worker's niceness (LAB_WORKER_NICE overrides): training takes the cores the window leaves.
NICE = 10


class Worker:
    def __init__(self, conn: Connection, threads: int | None):
        self.conn = conn
        self.threads = threads
        self.send_lock = threading.Lock()
        self.ctls: dict = {}
        self.runs: list[threading.Thread] = []

    def send(self, kind: str, run_id: int, obj=None) -> None:
        from lab_app.core.procpool import dumps

        payload = dumps(obj)
        with self.send_lock:
            self.conn.send_bytes(pickle.dumps((kind, run_id)))
            self.conn.send_bytes(payload)

    def serve(self) -> None:
        warm_imports()

        from lab_app.core.control import Control

        try:
            while True:
                kind, run_id = pickle.loads(self.conn.recv_bytes())
                payload = self.conn.recv_bytes()
                if kind == "run":
                    # unpickled here, before the next frame: a "live" frame for this run finds its copy
                    # and its Control is there before a "pause" or "cancel" frame can ask for it
                    try:
                        make_bytes, device = pickle.loads(payload)
                        task = pickle.loads(make_bytes)
                        self.ctls[run_id] = Control(device)
                    except Exception as exc:  # noqa: BLE001 - e.g. a module the worker cannot import
                        task = exc
                    t = threading.Thread(target=self.run, args=(run_id, task), name=f"run-{run_id}",
                                         daemon=True)
                    self.runs = [r for r in self.runs if r.is_alive()] + [t]
                    t.start()
                elif kind in ("pause", "resume", "cancel"):
                    ctl = self.ctls.get(run_id)
                    if ctl is not None:
                        getattr(ctl, kind)()
                elif kind == "live":
                    key, changes = pickle.loads(payload)
                    live.apply(key, changes)
                elif kind == "quit":
                    break
        except (EOFError, OSError):
            pass   # the window is gone
        for ctl in list(self.ctls.values()):
            ctl.cancel()
        for t in self.runs:
            t.join(2.0)

    def run(self, run_id: int, task) -> None:
        from lab_app.core.control import Cancelled
        from lab_app.core.device import apply_thread_policy

        gen = None
        try:
            apply_thread_policy(self.threads)
            if isinstance(task, Exception):
                raise task
            ctl = self.ctls[run_id]
            ctl.checkpoint()   # cancelled before it began
            gen = task(ctl)
            if not isinstance(gen, Iterator):
                self.send("return", run_id, gen)
                return
            while True:
                try:
                    ev = next(gen)
                except StopIteration as stop:
                    self.send("return", run_id, stop.value)
                    return
                self.send("event", run_id, ev)
                ctl.checkpoint()
        except Cancelled:
            self._send_quietly("cancelled", run_id)
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the window
            log.warning("run %s failed:\n%s", run_id, traceback.format_exc())   # the window gets the summary
            self._send_quietly("error", run_id, portable(exc))
        finally:
            self.ctls.pop(run_id, None)
            if gen is not None and hasattr(gen, "close"):
                try:
                    gen.close()
                except Exception:  # noqa: BLE001
                    pass

    def _send_quietly(self, kind: str, run_id: int, obj=None) -> None:
        try:
            self.send(kind, run_id, obj)
        except (OSError, ValueError):
            pass   # the window is gone


def warm_imports() -> None:
    """Import, once and before any run starts, what runs import lazily: torch, torch._dynamo (which
    torch.optim's first optimizer imports) and torchvision.ops. Runs are threads of this process, and
    two of them importing torchvision at once meet in its circular imports (torchvision -> models ->
    torchvision.ops -> torchvision): one of them is handed a half-initialised torchvision.ops. Seen
    when the pyramids tab's face cascade and its detectors' loading started together: "cannot
    import name 'StochasticDepth' from partially initialized module 'torchvision.ops'". The first
    run of a training tab would spend this time importing anyway."""
    import torch

    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])   # imports torch._dynamo
    try:
        import torchvision.ops  # noqa: F401
    except ImportError:   # torchvision is a dependency; a run that needs it says so itself
        pass


def portable(exc: BaseException) -> BaseException:
    """``exc`` itself when it survives a pickle round trip (so the window words it as it would a
    local failure), else a TaskFailed with the same words."""
    from lab_app.core.procpool import TaskFailed, dumps

    try:
        back = pickle.loads(dumps(exc))
        if type(back) is type(exc) and str(back) == str(exc):
            return exc
    except Exception:  # noqa: BLE001
        pass
    text = str(exc).strip()
    return TaskFailed(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=os.environ.get("LAB_LOG", "WARNING"),
                        format="procworker %(levelname)s %(message)s")
    try:   # below the window: when both want a core, the window's drawing goes first
        os.nice(int(os.environ.get("LAB_WORKER_NICE", NICE)))
    except (OSError, ValueError):
        pass
    conn = Connection(int(argv[0]))
    threads = int(argv[1]) if len(argv) > 1 else None
    Worker(conn, threads).serve()
    conn.close()
    return 0


if __name__ == "__main__":
    # os._exit: daemon run threads that ignore their cancel must not keep the process alive
    os._exit(main(sys.argv[1:]))
