"""ClusterLink: joins a Ray cluster off the UI thread and hands the backend to the tabs' runners.

Run > Run on > Ray cluster... (or ``--ray ADDRESS``) asks for an address (``ray://host:10001``, or
``auto`` for a cluster this machine belongs to; remembered in the settings). Joining can take
seconds, so it runs in a thread; until it succeeds every run stays on this computer, and a failure
leaves it there with the reason."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from lab_app.core.remote import RayBackend, RemoteError


class ClusterLink(QObject):
    connected = Signal(object)     # the RayBackend, joined
    failed = Signal(str)           # why not (the runs stay local)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.backend: RayBackend | None = None
        self._thread: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def connect_to(self, address: str, device_pref: str = "auto") -> None:
        if self.busy:
            self.failed.emit("still joining the last cluster asked for")
            return
        backend = RayBackend(address.strip(), device_pref)

        def work():
            try:
                backend.connect()
            except RemoteError as e:
                self.failed.emit(str(e))   # queued to the UI thread: the link lives there
            except Exception as e:  # noqa: BLE001 - any failure must reach the user, not kill the thread
                self.failed.emit(f"could not join {address}: {type(e).__name__}: {e}")
            else:
                self.backend = backend
                self.connected.emit(backend)

        self._thread = threading.Thread(target=work, name="lab-cluster-join", daemon=True)
        self._thread.start()

    def disconnect_cluster(self) -> None:
        self.backend = None

    def wait(self, timeout: float = 30.0) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.busy
