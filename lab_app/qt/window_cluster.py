"""The window's Run > Run on menu: join a Ray cluster, or train on this computer again.

A mixin of ``MainWindow`` (it uses the window's ``settings``, ``cluster`` (a ``ClusterLink``),
``tab_by_id``, the two menu actions and the status bar)."""

from __future__ import annotations


class ClusterMixin:
    def ask_cluster(self) -> None:
        from PySide6.QtWidgets import QInputDialog

        from lab_app.core.remote import INSTALL_HINT, ray_available

        if not ray_available():
            self._on_cluster_failed(INSTALL_HINT)
            return
        address, ok = QInputDialog.getText(
            self, "Run on a Ray cluster", "Cluster address (ray://host:10001, or auto):",
            text=str(self.settings.value("ray_address", "ray://localhost:10001")))
        if ok and address.strip():
            self.join_cluster(address.strip())
        else:
            self.local_action.setChecked(self.cluster.backend is None)
            self.cluster_action.setChecked(self.cluster.backend is not None)

    def join_cluster(self, address: str) -> None:
        self.settings.setValue("ray_address", address)
        self.statusBar().showMessage(f"joining the Ray cluster at {address}...", 30000)
        self.cluster.connect_to(address, self.device_pref)

    def _on_cluster_joined(self, backend) -> None:
        for tab in self.tab_by_id.values():
            for r in tab.runners():
                r.backend = backend
        self.cluster_action.setChecked(True)
        note = f" ({backend.warning})" if backend.warning else ""
        self.statusBar().showMessage(f"training runs on {backend.info.describe()}{note}", 15000)
        self._update_device_label()

    def _on_cluster_failed(self, message: str) -> None:
        self.local_action.setChecked(self.cluster.backend is None)
        self.cluster_action.setChecked(self.cluster.backend is not None)
        self.current_tab().banner.show_message(message, "error")
        self.statusBar().showMessage(message, 15000)

    def run_here(self) -> None:
        self.cluster.disconnect_cluster()
        for tab in self.tab_by_id.values():
            for r in tab.runners():
                r.backend = self.procs   # the worker process, or None: threads here
        self.statusBar().showMessage("training runs on this computer", 5000)
        self._update_device_label()

