"""Events that task generators yield and tabs draw.

Events are small, immutable and own their data (numpy arrays copied, never live tensors), so the
UI thread can read them while the worker goes on. A task may define its own event classes; the
runner only needs to know whether an event may be *coalesced*: when several coalescable events of
one type arrive between two redraws, only the newest is delivered (a newer snapshot makes an older
one worthless). Non-coalescable events (progress points for a curve, messages) are all delivered.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base class. ``coalesce`` says whether only the newest of its type matters."""

    coalesce = False


@dataclass(frozen=True)
class Progress(Event):
    """``step`` of ``total`` done; ``metrics`` holds scalars for curves (loss, accuracy, ...)."""

    step: int
    total: int
    metrics: dict[str, float] = field(default_factory=dict)
    text: str = ""

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, self.step / self.total)

    def nonfinite_losses(self) -> list[str]:
        """Names of loss metrics that are NaN or infinite (the runner pauses on these)."""
        return [k for k, v in self.metrics.items() if "loss" in k.lower() and not math.isfinite(v)]


@dataclass(frozen=True)
class Message(Event):
    """A line for the status bar / log. ``level`` is "info" or "warning"."""

    text: str
    level: str = "info"


@dataclass(frozen=True)
class Snapshot(Event):
    """A partial result to draw. ``name`` says which view it is for; ``data`` maps names to arrays."""

    coalesce = True
    name: str
    data: dict[str, Any] = field(default_factory=dict)


def drain(task: Iterator[Event]) -> tuple[list[Event], Any]:
    """Run a task generator to its end without a runner (tests, scripts): (its events, its result)."""
    events: list[Event] = []
    try:
        while True:
            events.append(next(task))
    except StopIteration as stop:
        return events, stop.value
