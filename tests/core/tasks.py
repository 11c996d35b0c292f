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


class Weighty:
    """A value that counts, per process, how often it is pickled and unpickled (a model's weights
    stand-in for the Sealed tests)."""

    pickled = 0
    unpickled = 0

    def __init__(self, values):
        self.values = list(values)

    def __reduce__(self):
        Weighty.pickled += 1
        return (_weighty, (self.values,))


def _weighty(values):
    Weighty.unpickled += 1
    return Weighty(values)


def make_sealed(values, ctl):
    """Returns ``values`` as a Sealed Weighty, with their count as meta."""
    from lab_app.core.sealed import Sealed

    return Sealed(Weighty(values), count=len(values))
    yield  # pragma: no cover


def sum_sealed(sealed, ctl):
    """The sum of a Sealed Weighty's values, and whether it came unopened."""
    was_open = sealed.is_open
    return {"sum": sum(sealed.open().values), "arrived_open": was_open, "pid": os.getpid()}
    yield  # pragma: no cover
