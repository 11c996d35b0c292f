"""latent_redraw: the representation tab's live scatter with 60k points while an encoder trains.

An encoder trains with InfoNCE on digits in a TaskRunner thread (one torch thread, the app's policy);
every frame it embeds 60k images (augmented digits), projects them with PCA and yields the tab's
EmbeddingFrame. The UI thread draws each delivered frame into a LatentScatter (setData + render +
repaint), as the tab does. Measured: frame_ms, the median UI cost of one frame; lateness_p99_ms, how
late a 10 ms QTimer fires on the UI thread meanwhile (what a user feels as stutter).
Target: frame_ms <= 33.
"""

from __future__ import annotations

import os
import statistics
import time


def add_arguments(parser) -> None:
    parser.add_argument("--points", type=int, default=60_000)
    parser.add_argument("--seconds", type=float, default=20.0)


def _frames(points: int, ctl):
    import numpy as np
    import torch

    from lab_app.topics.representation import task
    from lab_app.topics.representation.probes import project_2d
    from models.contrastive import Encoder, augment, info_nce_loss

    data = task.get_dataset(task.RepresentationConfig())
    cfg = task.RepresentationConfig()
    model = Encoder(task.encoder_config(cfg, data))
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    x = torch.from_numpy(data.x_train)
    gen = torch.Generator().manual_seed(0)
    reps = -(-points // len(x))
    many = augment(x.repeat(reps, 1, 1, 1)[:points], 0.5, gen)  # 60k distinct images
    labels = np.tile(data.y_train, reps)[:points]
    previous = None
    step = 0
    while True:
        for _ in range(5):
            ctl.checkpoint()
            idx = torch.randint(0, len(x), (256,), generator=gen)
            loss = info_nce_loss(model(augment(x[idx], 1.0, gen)), model(augment(x[idx], 1.0, gen)), 0.2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
        xy = project_2d(task.embedding_of(cfg, model, many), "PCA", previous)
        previous = xy
        yield task.EmbeddingFrame(step, xy, "PCA", np.zeros(1), np.zeros(1), 0.0, 0.0, None), labels


def run(args) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from lab_app.qt.widgets.latent_scatter import LatentScatter
    from lab_app.qt.worker import TaskRunner
    from lab_app.core.device import apply_thread_policy

    apply_thread_policy()
    app = QApplication.instance() or QApplication([])
    scatter = LatentScatter(point_size=2)
    scatter.resize(900, 650)
    scatter.show()
    runner = TaskRunner()
    frame_ms: list[float] = []
    labels_holder = {}

    def _wrap(ctl):
        for frame, labels in _frames(args.points, ctl):
            labels_holder["labels"] = labels
            yield frame

    def draw(ev):
        if not hasattr(ev, "xy"):
            return
        t = time.perf_counter()
        scatter.setData(ev.xy, labels_holder["labels"], follow=True)
        scatter.render_now()
        scatter.repaint()
        frame_ms.append((time.perf_counter() - t) * 1000)

    runner.event.connect(draw)
    lateness: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = {"t": clock.nsecsElapsed()}

    def tick():
        now = clock.nsecsElapsed()
        lateness.append(max(0.0, (now - last["t"]) / 1e6 - 10.0))
        last["t"] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    runner.start(_wrap, label="latent redraw")
    timer.start()
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.001)
    timer.stop()
    runner.shutdown()
    scatter.close()
    app.processEvents()
    frames = frame_ms[1:] or frame_ms  # the first frame ranges the view and builds buffers
    lateness.sort()
    return {
        "points": args.points,
        "frames": len(frame_ms),
        "frame_ms": round(statistics.median(frames), 2) if frames else None,
        "frame_ms_max": round(max(frames), 2) if frames else None,
        "lateness_p99_ms": round(lateness[int(0.99 * (len(lateness) - 1))], 2) if lateness else None,
        "lateness_p50_ms": round(lateness[len(lateness) // 2], 2) if lateness else None,
        "platform": os.environ.get("QT_QPA_PLATFORM"),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }
