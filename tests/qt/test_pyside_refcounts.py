"""Guard against a PySide6 regression seen in 6.12.0: every Signal.emit() called from Python
dropped one reference to True, so after a few thousand emits (pyqtgraph and the TaskRunner emit
on every redraw) the interpreter died with 'Fatal Python error: bool_dealloc'. pyproject.toml pins
PySide6 below 6.12 for this; this test fails if a version with the leak is installed."""

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    number = Signal(int)
    anything = Signal(object)
    flag = Signal(bool)


def test_emit_does_not_leak_references_to_singletons():
    e = _Emitter()
    e.number.connect(lambda v: None)
    e.anything.connect(lambda v: None)
    e.flag.connect(lambda v: None)
    counts = {name: sys.getrefcount(obj) for name, obj in (("True", True), ("False", False), ("None", None))}
    for i in range(500):  # well below the ~5000 that would kill the process
        e.number.emit(i)
        e.anything.emit(i)
        e.flag.emit(i % 2 == 0)
    after = {name: sys.getrefcount(obj) for name, obj in (("True", True), ("False", False), ("None", None))}
    drift = {k: after[k] - counts[k] for k in counts}
    assert all(abs(d) < 50 for d in drift.values()), f"Signal.emit leaks references: {drift}"
