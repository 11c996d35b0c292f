"""The run store: every training run's card and metric points in a local SQLite database.

One file (``runs.sqlite`` in the user's data folder), WAL journal so a reader never waits for the
writer and a killed writer loses at most its last uncommitted batch. Tables::

    meta(key, value)                      schema_version
    runs(id, tab, name, tags, card, started, ended, status, message, checkpoint, pid)
    points(run_id, step, key, value)      one row per metric value

A run is ``running`` until it ends ``finished``, ``cancelled`` or ``failed`` (with the message). A run
still ``running`` whose process is gone (a crash, a kill) is marked ``interrupted`` the next time the
store opens; its points stay. A database of a newer schema is refused (``RunStoreError``), a file
that is not a database is moved aside (never deleted) and a new one started, and the caller is told.

``RunRecorder`` is the writer a task's worker thread uses: points are buffered and written in one
transaction per batch, so recording costs a few inserts per flush, not a commit per step."""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
_SCHEMA = [
    # version 1
    """
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        tab TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', tags TEXT NOT NULL DEFAULT '',
        card TEXT NOT NULL, started REAL NOT NULL, ended REAL, status TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '', checkpoint TEXT NOT NULL DEFAULT '', pid INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS points (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step INTEGER NOT NULL, key TEXT NOT NULL, value REAL NOT NULL);
    CREATE INDEX IF NOT EXISTS points_by_run ON points(run_id, key, step);
    CREATE INDEX IF NOT EXISTS runs_by_tab ON runs(tab, started);
    """,
]
ENDINGS = ("finished", "cancelled", "failed", "interrupted")


class RunStoreError(Exception):
    """The store cannot be used (a newer schema); the message says why and what to do."""


@dataclass
class RunInfo:
    id: int
    tab: str
    name: str
    tags: tuple[str, ...]
    card: dict[str, Any]
    started: float
    ended: float | None
    status: str
    message: str
    checkpoint: str
    final: dict[str, float] = field(default_factory=dict)  # the last value of each metric

    @property
    def config(self) -> dict[str, Any]:
        return self.card.get("config") or {}

    @property
    def title(self) -> str:
        return self.name or f"run {self.id}"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunStore:
    """A connection to the run database. One per thread (sqlite3 connections stay in their thread)."""

    def __init__(self, path: str | Path, *, timeout: float = 10.0):
        self.path = Path(path)
        self.notice = ""  # what happened on opening (a corrupt file moved aside), for the UI to show
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect(timeout)
        except sqlite3.DatabaseError as e:
            if "not a database" not in str(e) and "malformed" not in str(e):
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    src.rename(Path(str(aside) + suffix))
            self.notice = (f"{self.path.name} was not a readable run database ({e}); it was moved to "
                           f"{aside.name} and a new one started")
            self._db = self._connect(timeout)

    def _connect(self, timeout: float) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            version = self._schema_version(db)
            if version > SCHEMA_VERSION:
                raise RunStoreError(f"{self.path.name} was written by a newer lab (run schema {version}; this lab "
                                    f"knows {SCHEMA_VERSION}): runs are not recorded in this session; update "
                                    "the lab, or move the file away to start a new history")
            self._migrate(db, version)
            self._mark_interrupted(db)
        except BaseException:
            db.close()
            raise
        return db

    @staticmethod
    def _schema_version(db: sqlite3.Connection) -> int:
        has_meta = db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        if not has_meta:
            return 0
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _migrate(db: sqlite3.Connection, version: int) -> None:
        for v in range(version, SCHEMA_VERSION):
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split(_SCHEMA[v]):  # executescript would commit first
                    db.execute(statement)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(v + 1),))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @staticmethod
    def _mark_interrupted(db: sqlite3.Connection) -> None:
        rows = db.execute("SELECT id, pid FROM runs WHERE status='running'").fetchall()
        dead = [rid for rid, pid in rows if not _pid_alive(pid)]
        if dead:
            db.executemany("UPDATE runs SET status='interrupted', message='the lab stopped during the run' "
                           "WHERE id=?", [(r,) for r in dead])

    def close(self) -> None:
        self._db.close()

    # --- writing ----------------------------------------------------------------------------------
    def start_run(self, tab: str, card: dict[str, Any], name: str = "") -> int:
        cur = self._db.execute(
            "INSERT INTO runs (tab, name, card, started, status, pid) VALUES (?, ?, ?, ?, 'running', ?)",
            (tab, name, json.dumps(card, default=str), time.time(), os.getpid()))
        return int(cur.lastrowid)

    def add_points(self, run_id: int, points: Iterable[tuple[int, str, float]]) -> int:
        """Write ``(step, key, value)`` points in one transaction. Returns how many."""
        rows = [(run_id, int(s), str(k), float(v)) for s, k, v in points]
        if rows:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO points VALUES (?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    def end_run(self, run_id: int, status: str, message: str = "") -> None:
        if status not in ENDINGS:
            raise ValueError(f"unknown ending {status!r}; one of {', '.join(ENDINGS)}")
        self._db.execute("UPDATE runs SET status=?, message=?, ended=? WHERE id=?",
                         (status, message, time.time(), run_id))

    def rename(self, run_id: int, name: str) -> None:
        self._db.execute("UPDATE runs SET name=? WHERE id=?", (name.strip(), run_id))

    def set_tags(self, run_id: int, tags: Iterable[str]) -> None:
        clean = sorted({t.strip() for t in tags if t.strip()})
        self._db.execute("UPDATE runs SET tags=? WHERE id=?", (",".join(clean), run_id))

    def set_checkpoint(self, run_id: int, path: str | Path) -> None:
        self._db.execute("UPDATE runs SET checkpoint=? WHERE id=?", (str(path), run_id))

    def delete(self, run_ids: Iterable[int]) -> None:
        ids = [(int(r),) for r in run_ids]
        self._db.execute("BEGIN IMMEDIATE")
        self._db.executemany("DELETE FROM points WHERE run_id=?", ids)
        self._db.executemany("DELETE FROM runs WHERE id=?", ids)
        self._db.execute("COMMIT")

    # --- reading ----------------------------------------------------------------------------------
    def runs(self, tab: str | None = None) -> list[RunInfo]:
        """Runs, newest first (of one tab when given), each with its metrics' last values."""
        sql = "SELECT id, tab, name, tags, card, started, ended, status, message, checkpoint FROM runs"
        rows = self._db.execute(sql + (" WHERE tab=?" if tab else "") + " ORDER BY started DESC, id DESC",
                                (tab,) if tab else ()).fetchall()
        out = []
        for r in rows:
            final = dict(self._db.execute(
                "SELECT key, value FROM points p WHERE run_id=? AND step=(SELECT MAX(step) FROM points "
                "WHERE run_id=p.run_id AND key=p.key)", (r[0],)).fetchall())
            out.append(RunInfo(r[0], r[1], r[2], tuple(t for t in r[3].split(",") if t), json.loads(r[4]),
                               r[5], r[6], r[7], r[8], r[9], final))
        return out

    def run(self, run_id: int) -> RunInfo:
        for info in self.runs():
            if info.id == run_id:
                return info
        raise KeyError(f"no run {run_id}")

    def metrics(self, run_id: int) -> dict[str, tuple[list[int], list[float]]]:
        """key -> (steps, values), in step order."""
        out: dict[str, tuple[list[int], list[float]]] = {}
        for step, key, value in self._db.execute(
                "SELECT step, key, value FROM points WHERE run_id=? ORDER BY key, step, rowid", (run_id,)):
            steps, values = out.setdefault(key, ([], []))
            steps.append(step)
            values.append(value)
        return out

    def integrity_ok(self) -> bool:
        return self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # --- export -----------------------------------------------------------------------------------
    def export_csv(self, run_ids: Iterable[int], path: str | Path) -> Path:
        path = Path(path)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["run_id", "run", "tab", "step", "metric", "value"])
            for rid in run_ids:
                info = self.run(rid)
                for key, (steps, values) in self.metrics(rid).items():
                    for s, v in zip(steps, values):
                        w.writerow([rid, info.title, info.tab, s, key, repr(v)])
        return path

    def export_tensorboard(self, run_ids: Iterable[int], log_dir: str | Path) -> list[Path]:
        """One TensorBoard event folder per run (scalars, and the run card as text) under ``log_dir``."""
        from torch.utils.tensorboard import SummaryWriter

        written = []
        for rid in run_ids:
            info = self.run(rid)
            folder = Path(log_dir) / f"{info.tab}-{rid:04d}" if not info.name else \
                Path(log_dir) / f"{info.tab}-{rid:04d}-{_slug(info.name)}"
            writer = SummaryWriter(log_dir=str(folder))
            try:
                for key, (steps, values) in self.metrics(rid).items():
                    for s, v in zip(steps, values):
                        writer.add_scalar(key, v, s, walltime=info.started)
                writer.add_text("run_card", "```\n" + json.dumps(info.card, indent=2) + "\n```", 0)
            finally:
                writer.close()
            written.append(folder)
        return written


def config_diff(runs: list[RunInfo]) -> dict[str, list[Any]]:
    """The config keys whose values differ among ``runs`` (nested keys joined with '.'), each with
    the runs' values in order; the seed is a knob like any other."""
    flat = [_flatten({**r.config, **({"seed": r.card["seed"]} if "seed" in r.card else {})}) for r in runs]
    keys = sorted(set().union(*flat)) if flat else []
    return {k: [f.get(k) for f in flat] for k in keys if len({json.dumps(f.get(k), default=str) for f in flat}) > 1}


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:40]


def _split(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


class RunRecorder:
    """Records one run from the thread that runs it: ``point(step, metrics)`` buffers, and a batch is
    written when ``flush_every`` seconds have passed (or at ``end``). The store is opened lazily in
    the calling thread, and the run row is created at the first point (a task that yields no metric,
    such as loading a file, leaves no run behind)."""

    def __init__(self, db_path: str | Path, tab: str, card: dict[str, Any], flush_every: float = 0.5):
        self.db_path, self.tab, self.card, self.flush_every = Path(db_path), tab, card, flush_every
        self.run_id: int | None = None
        self.points_written = 0
        self.error = ""
        self._store: RunStore | None = None
        self._buffer: list[tuple[int, str, float]] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()

    def point(self, step: int, metrics: dict[str, float]) -> None:
        if self.error:
            return
        self._buffer.extend((step, k, float(v)) for k, v in metrics.items() if _is_finite(v))
        if time.monotonic() - self._last_flush >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._buffer or self.error:
            return
        with self._lock:
            try:
                if self._store is None:
                    self._store = RunStore(self.db_path)
                if self.run_id is None:
                    self.run_id = self._store.start_run(self.tab, self.card)
                self.points_written += self._store.add_points(self.run_id, self._buffer)
            except (sqlite3.Error, RunStoreError, OSError) as e:
                self.error = f"runs are not being recorded: {e}"
            self._buffer = []
            self._last_flush = time.monotonic()

    def end(self, status: str, message: str = "") -> None:
        self.flush()
        with self._lock:
            if self._store is not None:
                try:
                    if self.run_id is not None:
                        self._store.end_run(self.run_id, status, message)
                except sqlite3.Error as e:
                    self.error = f"runs are not being recorded: {e}"
                self._store.close()
                self._store = None


def _is_finite(v: Any) -> bool:
    """A value SQLite can hold as REAL (NaN would become NULL): a finite number."""
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False
