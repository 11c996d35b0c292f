"""Control: how a running task is cancelled, paused and told which device to use.

The worker thread calls ``checkpoint()`` between steps. The UI thread calls ``cancel()``,
``pause()`` and ``resume()``. Both sides only touch ``threading.Event`` objects, so no lock is
needed and the UI never waits on the worker.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class Cancelled(Exception):
    """Raised inside a task by ``Control.checkpoint()`` once the run was cancelled."""


class Control:
    def __init__(self, device: torch.device | str = "cpu"):
        import torch  # here, not at the top: the UI imports this module before it needs torch

        self.device = torch.device(device)
        self._cancelled = threading.Event()
        self._running = threading.Event()  # set = not paused
        self._running.set()

    # --- UI side ------------------------------------------------------------------------------
    def cancel(self) -> None:
        self._cancelled.set()
        self._running.set()  # a paused task must wake up to notice it was cancelled

    def pause(self) -> None:
        if not self._cancelled.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    # --- worker side --------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Raise ``Cancelled`` if cancelled; block (cheaply) while paused."""
        if self._cancelled.is_set():
            raise Cancelled()
        while not self._running.wait(0.1):
            pass
        if self._cancelled.is_set():
            raise Cancelled()
