"""LiveDict: the knobs a running task reads at its next step, wherever the task runs.

A tab hands its training task a dict of live settings (beta, learning rates, the code being
decoded) and writes into it while the task runs; the task reads it between steps. In a thread that
is one shared dict. A task in the worker process (lab_app/core/procpool.py) gets a pickled copy, so
every write here must reach that copy: a LiveDict tells its listeners about each write (the backend
forwards them), and a copy unpickled in the worker registers itself by the original's key, so the
worker can apply what arrives (``apply``).
"""

from __future__ import annotations

import itertools
import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

_keys = itertools.count(1)
_registry: dict[str, list[weakref.ref]] = {}   # key -> its copies in this process (one per run given it)
_registry_lock = threading.Lock()
_collecting = threading.local()   # LiveDicts met while pickling a task (see ``collect``)


class LiveDict(dict):
    """A dict whose writes are reported to listeners (the worker process's copy follows them)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.key = f"{os.getpid()}-{next(_keys)}"
        self._listeners: list[Callable[[str, dict], None]] = []

    def __setitem__(self, name, value) -> None:
        super().__setitem__(name, value)
        self._tell({name: value})

    def update(self, *args, **kwargs) -> None:
        changes = dict(*args, **kwargs)
        super().update(changes)
        self._tell(changes)

    def _tell(self, changes: dict) -> None:
        for fn in list(getattr(self, "_listeners", ())):
            fn(self.key, changes)

    def listen(self, fn: Callable[[str, dict], None]) -> None:
        self._listeners.append(fn)

    def unlisten(self, fn: Callable[[str, dict], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def __reduce__(self):
        found = getattr(_collecting, "found", None)
        if found is not None:
            found.append(self)
        return (_rebuild, (self.key, dict(self)))


def _rebuild(key: str, items: dict) -> LiveDict:
    d = LiveDict(items)
    d.key = key
    with _registry_lock:
        refs = [r for r in _registry.get(key, []) if r() is not None]
        _registry[key] = refs + [weakref.ref(d)]
    return d


class collect:
    """``with collect() as found:`` pickle something; ``found`` lists the LiveDicts it holds."""

    def __enter__(self) -> list[LiveDict]:
        self.before = getattr(_collecting, "found", None)
        _collecting.found = []
        return _collecting.found

    def __exit__(self, *exc) -> None:
        _collecting.found = self.before


def apply(key: str, changes: dict[str, Any]) -> bool:
    """Write ``changes`` into this process's copies of LiveDict ``key``; False if there is none (their
    runs ended)."""
    with _registry_lock:
        copies = [d for d in (r() for r in _registry.get(key, [])) if d is not None]
        if not copies:
            _registry.pop(key, None)
    for d in copies:
        dict.update(d, changes)
    return bool(copies)
