"""remote_overhead: what running a tab's training through Ray costs, on one machine.

The VAE tab's real training task (digits, the tab's defaults, ``--epochs`` epochs) runs through a
TaskRunner in a Qt event loop twice in the same process: in-process, and through a local Ray cluster
started here (``--cpus`` CPUs) with the same seed, each after a one-epoch warm-up run. Every event the task yields is stamped with the
wall clock where it is yielded (on the Ray worker for the remote run) and again when the UI thread
receives it; the difference is the event latency (it includes the runner's redraw throttle, at most
one 33 ms tick). Fields: local_steps_per_s, ray_steps_per_s, ratio (ray / local), event_latency_ms_p50,
event_latency_ms_p99 (remote run), local_latency_ms_p99, ray_start_s. Targets: ratio >= 0.8,
event latency p99 <= 100 ms.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any

from lab_app.core.events import Event


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--cpus", type=int, default=2)


@dataclass(frozen=True)
class Stamped(Event):
    event: Any
    t: float


def stamped(make, ctl):
    """The task, with each event wrapped with the time it was yielded."""
    gen = make(ctl)
    try:
        while True:
            ev = next(gen)
            yield Stamped(ev, time.time())
    except StopIteration as stop:
        return stop.value


def _run(app, runner, make) -> tuple[float, list[float]]:
    done: dict = {}
    latencies: list[float] = []
    steps = {"n": 0}

    def on_event(ev):
        if isinstance(ev, Stamped):
            latencies.append(1000 * (time.time() - ev.t))
            if hasattr(ev.event, "step") and hasattr(ev.event, "metrics"):
                steps["n"] = ev.event.step

    runner.event.connect(on_event)
    runner.finished.connect(lambda v: done.setdefault("ok", True))
    runner.errored.connect(lambda m: done.setdefault("error", m))
    t0 = time.perf_counter()
    runner.start(functools.partial(stamped, make), "training VAE")
    while not done:
        app.processEvents()
        time.sleep(0.001)
    if "error" in done:
        raise RuntimeError(done["error"])
    return steps["n"] / (time.perf_counter() - t0), latencies


def _p(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def run(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import ray
    import ray.cloudpickle
    from PySide6.QtWidgets import QApplication

    import benchmarks.remote_overhead as me
    from lab_app.core.device import apply_thread_policy
    from lab_app.core.remote import RayBackend
    from lab_app.qt.worker import TaskRunner
    from lab_app.topics.vae import task

    apply_thread_policy()
    app = QApplication.instance() or QApplication([])
    cfg = task.VaeTaskConfig(dataset="digits", epochs=args.epochs, iw_k=0)
    make = functools.partial(task.train, cfg, None)
    warm = functools.partial(task.train, task.VaeTaskConfig(dataset="digits", epochs=1, iw_k=0), None)
    local = TaskRunner(device="cpu")
    _run(app, local, warm)                          # both sides get a warm-up run first
    local_rate, local_lat = _run(app, local, make)
    local.shutdown()

    ray.cloudpickle.register_pickle_by_value(me)   # the stamping wrapper goes by value
    t0 = time.perf_counter()
    backend = RayBackend("local", "cpu", num_cpus=args.cpus)
    backend.connect()
    ray_start = time.perf_counter() - t0
    remote = TaskRunner(device="cpu")
    remote.backend = backend
    remote.remote_filter = lambda m: True
    _run(app, remote, warm)
    remote_rate, remote_lat = _run(app, remote, make)
    remote.shutdown(30)
    ray.shutdown()
    return {"local_steps_per_s": round(local_rate, 1), "ray_steps_per_s": round(remote_rate, 1),
            "ratio": round(remote_rate / local_rate, 3),
            "event_latency_ms_p50": round(statistics.median(remote_lat), 1),
            "event_latency_ms_p99": round(_p(remote_lat, 0.99), 1),
            "local_latency_ms_p99": round(_p(local_lat, 0.99), 1), "events": len(remote_lat),
            "ray_start_s": round(ray_start, 1), "epochs": args.epochs, "cpus": args.cpus}
