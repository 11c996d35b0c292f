"""What the UI thread was doing when it stalled: a sampling watchdog for ``ui_stalls --trace``.

A daemon thread wakes every ``every_ms``; when the GUI probe's last tick is older than
``threshold_ms`` it samples the GUI thread's Python stack and the top frames of every other thread,
until the ticks come back. Each stall then becomes one record: its
length, the GUI stack seen most often during it (the lab's and pyqtgraph's frames, innermost
last) and the other threads' frames seen most (a worker that holds the GIL in a long C call shows
up there while the GUI stack sits in the event loop). The sampler needs the GIL itself: during a
C call that holds it, the sample comes when the call ends, so the stack names the Python line that
made the call.

The stacks are read with ``faulthandler.dump_traceback`` (into a temporary file, parsed), which walks
each thread's frames as they are. ``sys._current_frames`` instead makes a frame object for every
running frame of every thread, and on Python 3.11 sampling that way crashed the process now and then
(segfaults in the sampler, or later in a paint, on the pyramids tab while its threads ran; none in
runs without ``--trace``).
"""

from __future__ import annotations

import collections
import faulthandler
import os
import re
import subprocess
import tempfile
import threading
import time

KEEP = ("lab_app", "models", "pyqtgraph", "benchmarks", "torch", "open3d", "sklearn", "PySide6", "importlib")


_THREAD = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-f]+)")
_FILE = re.compile(r'^  File "(.*)", line (\d+) in (.*)$')


def _read_stacks(dump) -> dict[int, list[tuple[str, int, str]]]:
    """Every thread's stack, outermost frame first, by thread ident, from ``faulthandler``'s dump."""
    dump.seek(0)
    dump.truncate()
    faulthandler.dump_traceback(dump, all_threads=True)
    dump.flush()
    dump.seek(0)
    stacks: dict[int, list[tuple[str, int, str]]] = {}
    current = None
    for line in dump.read().decode("utf-8", "replace").splitlines():
        m = _THREAD.match(line)
        if m:
            current = stacks.setdefault(int(m.group(1), 16), [])
            continue
        m = _FILE.match(line)
        if m and current is not None:
            current.insert(0, (m.group(1), int(m.group(2)), m.group(3)))
    return stacks


def _frames(stack: list[tuple[str, int, str]], limit: int = 14) -> tuple[str, ...]:
    out = []
    for filename, lineno, name in stack:
        path = filename.replace("\\", "/")
        if "site-packages/" in path:
            path = path.split("site-packages/", 1)[1]
        elif "/lab_app/" in path or "/models/" in path or "/benchmarks/" in path:
            path = path[path.rfind("/lab_app/") + 1 if "/lab_app/" in path else
                        path.rfind("/models/") + 1 if "/models/" in path else path.rfind("/benchmarks/") + 1:]
        if path.startswith(KEEP) or (name == "<module>" and "<frozen" not in path):   # an import chain shows
            out.append(f"{path}:{lineno} {name}")
    return tuple(out[-limit:])


PYSPY = os.environ.get("LAB_STALL_PYSPY", "")   # a py-spy executable: also dump native stacks
NATIVE_AFTER_S = float(os.environ.get("LAB_STALL_NATIVE_MS", 250)) / 1000   # ... once a stall is this long


def _native_dump() -> list[str]:
    """The GUI thread's native + Python stack now, from ``py-spy dump --native`` (pauses the process)."""
    try:
        out = subprocess.run([PYSPY, "dump", "--native", "--pid", str(os.getpid())], capture_output=True,
                             text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return [f"py-spy failed: {e}"]
    blocks = out.split("\nThread ")
    main = next((b for b in blocks if "MainThread" in b.split("\n", 1)[0]), blocks[-1] if blocks else "")
    return [line.strip() for line in main.splitlines()[:40]]


class StallTracer:
    def __init__(self, threshold_ms: float = 60.0, every_ms: float = 10.0):
        self.threshold = threshold_ms / 1000
        self.every = every_ms / 1000
        self.gui = threading.get_ident()
        self.last_tick = time.perf_counter()
        self.label = ""
        self.stalls: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lab-stall-tracer", daemon=True)

    def tick(self) -> None:
        """Called by the GUI probe's timer."""
        self.last_tick = time.perf_counter()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        with tempfile.TemporaryFile() as dump:
            self._sample(dump)

    def _sample(self, dump) -> None:
        gui_samples: collections.Counter = collections.Counter()
        other_samples: collections.Counter = collections.Counter()
        began = None
        native = None
        while not self._stop.wait(self.every):
            late = time.perf_counter() - self.last_tick
            if late > self.threshold:
                if began is None:
                    began = self.last_tick
                    gui_samples, other_samples = collections.Counter(), collections.Counter()
                    native = None
                if native is None and late > NATIVE_AFTER_S and PYSPY:
                    native = _native_dump()
                frames = _read_stacks(dump)
                gui = frames.get(self.gui)
                if gui is not None:
                    gui_samples[_frames(gui)] += 1
                for ident, f in frames.items():
                    if ident not in (self.gui, threading.get_ident()):
                        name = next((t.name for t in threading.enumerate() if t.ident == ident), str(ident))
                        other_samples[(name,) + _frames(f, 4)] += 1
            elif began is not None:
                ms = (self.last_tick - began) * 1000
                if ms > self.threshold * 1000:
                    self.stalls.append({
                        "ms": round(ms, 1), "during": self.label,
                        "gui": list(gui_samples.most_common(1)[0][0]) if gui_samples else [],
                        "gui_samples": sum(gui_samples.values()),
                        "others": [list(k) for k, _ in other_samples.most_common(3)],
                        **({"native": native} if native else {}),
                    })
                began = None
        native = None
