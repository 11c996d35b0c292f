"""How late a GUI-thread timer fires: the UI's responsiveness while a worker trains (Qt imported
lazily, inside a running QApplication)."""

from __future__ import annotations

import statistics


class LatenessProbe:
    """A QTimer every ``interval_ms`` on the calling (GUI) thread; ``lateness`` holds, for each tick
    after the first, how many ms later than the interval it came."""

    def __init__(self, interval_ms: int = 10):
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.interval = float(interval_ms)
        self.lateness: list[float] = []
        self._clock = QElapsedTimer()
        self._last: float | None = None
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self._clock.nsecsElapsed() / 1e6
        if self._last is not None:
            self.lateness.append(max(0.0, now - self._last - self.interval))
        self._last = now

    def start(self) -> None:
        self._clock.start()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def summary(self) -> tuple[float, float, float]:
        """(p50, p99, max) lateness in ms (zeros before three ticks)."""
        if len(self.lateness) < 3:
            return 0.0, 0.0, 0.0
        q = statistics.quantiles(self.lateness, n=100)
        return statistics.median(self.lateness), q[98], max(self.lateness)
