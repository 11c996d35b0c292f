import threading
import time

import pytest

from lab_app.core.control import Cancelled, Control
from lab_app.core.events import Message, Progress, Snapshot


def test_checkpoint_raises_after_cancel():
    ctl = Control()
    ctl.checkpoint()
    ctl.cancel()
    with pytest.raises(Cancelled):
        ctl.checkpoint()


def test_pause_blocks_until_resume():
    ctl = Control()
    ctl.pause()
    passed = threading.Event()

    def worker():
        ctl.checkpoint()
        passed.set()

    t = threading.Thread(target=worker)
    t.start()
    assert not passed.wait(0.3), "checkpoint returned while paused"
    ctl.resume()
    assert passed.wait(2.0)
    t.join()


def test_cancel_wakes_a_paused_task():
    ctl = Control()
    ctl.pause()
    result = {}

    def worker():
        try:
            ctl.checkpoint()
            result["r"] = "passed"
        except Cancelled:
            result["r"] = "cancelled"

    t = threading.Thread(target=worker)
    t.start()
    time.sleep(0.1)
    ctl.cancel()
    t.join(2.0)
    assert result["r"] == "cancelled"
    assert not ctl.paused


def test_progress_fraction_and_nonfinite_losses():
    p = Progress(5, 20, {"loss": float("nan"), "acc": float("nan"), "val_loss": 1.0})
    assert p.fraction == 0.25
    assert p.nonfinite_losses() == ["loss"]
    assert Progress(3, 0).fraction == 0.0


def test_event_coalescing_flags():
    assert Snapshot("x").coalesce and not Progress(0, 1).coalesce and not Message("m").coalesce
