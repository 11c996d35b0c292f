"""runs_overhead: what recording a run in the run store costs a tab's training.

The VAE tab's real training task (lab_app/topics/vae/task.py: digits, the tab's defaults) runs
through a TaskRunner in a Qt event loop, as in the app, for a fixed number of epochs, once with the
run recorder (the store in a temporary folder) and once without, alternating, in the same process, after a warm-up run.
The task reports every 10 steps four metrics (loss, elbo, recon, kl), as in the tab; the recorder
writes them from the worker thread in one transaction per half second.
Fields: steps_per_s_with, steps_per_s_without, ratio (with / without, median of the pairs),
points_written, db_bytes, pairs. Target: ratio >= 0.97.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path


def add_arguments(parser) -> None:
    parser.add_argument("--epochs", type=int, default=30, help="epochs of each training run")
    parser.add_argument("--pairs", type=int, default=3, help="with/without pairs (alternating)")


def _one_run(app, runner, cfg) -> tuple[float, int]:
    from functools import partial

    from lab_app.topics.vae import task

    data = task.get_dataset(cfg)
    done: dict = {}
    steps = {"n": 0}
    runner.progress.connect(lambda ev: steps.__setitem__("n", ev.step))
    runner.finished.connect(lambda value: done.setdefault("ok", True))
    runner.errored.connect(lambda msg: done.setdefault("error", msg))
    t0 = time.perf_counter()
    runner.start(partial(task.train, cfg, None, data=data), label="training VAE")
    while not done:
        app.processEvents()
        time.sleep(0.002)
    seconds = time.perf_counter() - t0
    if "error" in done:
        raise RuntimeError(done["error"])
    runner.wait(10)
    return steps["n"] / seconds, steps["n"]


def run(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from lab_app.core.device import apply_thread_policy
    from lab_app.core.runs import RunRecorder, RunStore
    from lab_app.qt.worker import TaskRunner
    from lab_app.topics.vae import task

    apply_thread_policy()
    app = QApplication.instance() or QApplication([])
    cfg = task.VaeTaskConfig(dataset="digits", epochs=args.epochs, iw_k=0)
    folder = Path(tempfile.mkdtemp(prefix="runs-bench-"))
    db = folder / "runs.sqlite"
    with_rates, without_rates, ratios = [], [], []
    recorders = []
    warm = TaskRunner(device="cpu")      # torch's first steps are slow: a run neither side counts
    _one_run(app, warm, task.VaeTaskConfig(dataset="digits", epochs=2, iw_k=0))
    warm.shutdown()
    for _ in range(args.pairs):
        pair = {}
        for recording in (True, False) if len(ratios) % 2 == 0 else (False, True):
            runner = TaskRunner(device="cpu")
            if recording:
                def factory(label, _cfg=cfg):
                    rec = RunRecorder(db, "vae", {"config": {"epochs": _cfg.epochs}})
                    recorders.append(rec)
                    return rec
                runner.recorder_factory = factory
            rate, _steps = _one_run(app, runner, cfg)
            runner.shutdown()
            pair[recording] = rate
        with_rates.append(pair[True])
        without_rates.append(pair[False])
        ratios.append(pair[True] / pair[False])
    store = RunStore(db)
    points = sum(len(s) for r in store.runs() for s, _ in store.metrics(r.id).values())
    store.close()
    db_bytes = sum(p.stat().st_size for p in folder.iterdir())
    return {"steps_per_s_with": round(statistics.median(with_rates), 1),
            "steps_per_s_without": round(statistics.median(without_rates), 1),
            "ratio": round(statistics.median(ratios), 3), "points_written": points, "db_bytes": db_bytes,
            "pairs": args.pairs, "errors": [r.error for r in recorders if r.error]}
