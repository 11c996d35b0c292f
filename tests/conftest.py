"""Shared test set-up: headless Qt, isolated settings, and no thread may outlive its test."""

from __future__ import annotations

import gc
import os
import tempfile
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LAB_SETTINGS_DIR", tempfile.mkdtemp(prefix="lab-settings-"))
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
# Windows train in threads here (a worker process per window would import torch again in every
# test that makes one); tests/core/test_procpool.py covers the worker process, windows included.
os.environ.setdefault("LAB_TRAIN_PROCESS", "0")

OFFSCREEN = os.environ.get("QT_QPA_PLATFORM") == "offscreen"

# As the app does (lab_app/cli.py), before any QApplication exists: its GL views share one context
# group, which the off-screen export of a 3D view not yet shown relies on (gl_window.py).
from PySide6.QtCore import QCoreApplication, Qt  # noqa: E402

QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)

# The app's thread policy for the whole test session (torch and BLAS): on 2 cores, default
# threading made single tests up to 20x slower.
from lab_app.core.device import apply_thread_policy  # noqa: E402

apply_thread_policy()


def pytest_collection_modifyitems(config, items):
    if not OFFSCREEN:
        return
    skip = pytest.mark.skip(reason="needs OpenGL: run under Xvfb with QT_QPA_PLATFORM=xcb (make test does)")
    for item in items:
        if "gl" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def collect_garbage_in_the_main_thread():
    """As the app does (lab_app/qt/gc_guard.py): no automatic cyclic collection, which could run in a
    worker thread and delete a previous test's widgets there (a deadlock with the GUI thread);
    collect after each test, here, in the main thread."""
    gc.disable()
    yield
    gc.collect()


def _task_threads():
    return {t for t in threading.enumerate() if t.name.startswith("lab-task-") and t.is_alive()}


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a task thread running (every runner must be shut down)."""
    before = _task_threads()
    yield
    leaked = _task_threads() - before
    for t in leaked:
        t.join(5.0)
    still = [t.name for t in leaked if t.is_alive()]
    assert not still, f"task threads still running after the test: {still}"
