"""Persistent settings (QSettings). LAB_SETTINGS_DIR puts them in an INI file there (tests do)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 10


def open_settings() -> QSettings:
    folder = os.environ.get("LAB_SETTINGS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return QSettings(str(Path(folder) / "lab.ini"), QSettings.Format.IniFormat)
    return QSettings("VisualDLLab", "lab")


def recent_files(settings: QSettings) -> list[str]:
    value = settings.value("recent_files", [])
    if isinstance(value, str):
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent_file(settings: QSettings, path: str | Path) -> list[str]:
    path = str(Path(path).resolve())
    files = [path] + [f for f in recent_files(settings) if f != path]
    files = files[:MAX_RECENT]
    settings.setValue("recent_files", files)
    return files


def runs_db_path() -> Path:
    """Where the run store lives: LAB_RUNS_DB, else beside LAB_SETTINGS_DIR's settings (tests), else the
    user's data folder (QStandardPaths.AppDataLocation)."""
    if os.environ.get("LAB_RUNS_DB"):
        return Path(os.environ["LAB_RUNS_DB"])
    if os.environ.get("LAB_SETTINGS_DIR"):
        return Path(os.environ["LAB_SETTINGS_DIR"]) / "runs.sqlite"
    from PySide6.QtCore import QStandardPaths

    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".visual-dl-lab") / "runs.sqlite"
