"""Small task generators the worker-process and Ray tests run (importable, so the worker process
unpickles them by reference; the Ray tests register this module to go by value)."""

from __future__ import annotations

import os
import time

from lab_app.core.events import Progress


def counting(n, ctl, fail_at=None, sleep=0.0, hold=None):
    """n Progress events (loss 1/(step+1)), ``sleep`` s apart, failing at step ``fail_at``; returns the
    steps, the device and the pid it ran in. ``hold`` rides along in the task (a lock makes it one
    that does not pickle)."""
    for step in range(n):
        ctl.checkpoint()
        if step == fail_at:
            raise ValueError(f"bad value at step {step}")
        time.sleep(sleep)
        yield Progress(step, n, {"loss": 1.0 / (step + 1)})
    return {"steps": n, "device": str(ctl.device), "pid": os.getpid()}


def echo_live(knobs, ctl):
    """Reports the live knob ``beta`` every 10 ms until cancelled."""
    for step in range(100_000):
        ctl.checkpoint()
        time.sleep(0.01)
        yield Progress(step, 100_000, {"beta": float(knobs["beta"])})


def loaded_modules(names, ctl):
    """Which of ``names`` the process running this task had imported when the task began."""
    import sys

    return {name: name in sys.modules for name in names}
