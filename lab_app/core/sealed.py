"""Sealed: a value that crosses between the window and its training process as bytes it is not
unpacked from on the window's side.

Why: a tab whose trained models live in the window only to be sent back with each inference run
(the pyramids tab's three detectors, about 1 MB) pickled them at every run and unpickled them at
every return, in a thread of the window's process: 15-20 ms on an idle machine, 30-70 ms under load,
all of it holding the interpreter lock the UI thread needs (seen with ``ui_stalls --trace`` as
``torch/storage.py __reduce__`` and ``_rebuild_tensor_v2`` during the pyramids tab's stalls).

A ``Sealed`` made in the training process is pickled there once; on the window's side it stays the
bytes (a copy, no tensor rebuilt) and is sent on as those bytes; the task that needs the value calls
``open()``. ``meta`` carries the few small things the window reads itself (class names, step
counts). Where tasks run in threads (no process) nothing is ever pickled: ``open()`` returns the
value it was made with.
"""

from __future__ import annotations

import pickle
import threading
from typing import Any, Generic, TypeVar

T = TypeVar("T")
_UNOPENED = object()   # not None: a sealed None is a value like any other


class Sealed(Generic[T]):
    def __init__(self, value: T, **meta: Any):
        self._value: Any = value
        self._blob: bytes | None = None
        self._lock = threading.Lock()
        self.meta = meta

    def open(self) -> T:
        """The value, unpickled on the first call on this side (and kept)."""
        with self._lock:
            if self._value is _UNOPENED:
                self._value = pickle.loads(self._blob)
            return self._value

    @property
    def is_open(self) -> bool:
        return self._value is not _UNOPENED

    def __reduce__(self):
        with self._lock:
            if self._blob is None:
                from lab_app.core.procpool import dumps

                self._blob = dumps(self._value)
            return (_unseal, (self._blob, self.meta))


def _unseal(blob: bytes, meta: dict) -> Sealed:
    """A Sealed as it arrives: its bytes, not yet opened. A module function, so that cloudpickle (which
    the runner uses for a task's partial) sends it by name: a classmethod's function it would send by
    value, with a copy of ``_UNOPENED`` that is not this module's."""
    sealed = Sealed.__new__(Sealed)
    sealed._value, sealed._blob, sealed._lock, sealed.meta = _UNOPENED, blob, threading.Lock(), meta
    return sealed


def opened(value: Sealed[T] | T) -> T:
    """``value.open()`` for a Sealed, else ``value`` itself (scripts and tests pass the plain value)."""
    return value.open() if isinstance(value, Sealed) else value
