"""The run store: round trip, config diff, exports, and the reliability cases (kill, concurrency,
newer schema, corrupt file)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from lab_app.core.runs import SCHEMA_VERSION, RunRecorder, RunStore, RunStoreError, config_diff


def _card(lr=0.01, width=32, seed=0):
    return {"tab": "vae", "seed": seed, "device": "cpu", "config": {"lr": lr, "width": width, "seed": seed}}


def test_round_trip_of_a_run(tmp_path):
    store = RunStore(tmp_path / "runs.sqlite")
    rid = store.start_run("vae", _card())
    store.add_points(rid, [(0, "loss", 3.0), (10, "loss", 2.0), (10, "acc", 0.5), (20, "loss", 1.5)])
    store.end_run(rid, "finished")
    store.close()
    store = RunStore(tmp_path / "runs.sqlite")
    (info,) = store.runs("vae")
    assert info.id == rid and info.status == "finished" and info.card == _card() and info.ended >= info.started
    assert info.final == {"loss": 1.5, "acc": 0.5}
    assert store.metrics(rid) == {"acc": ([10], [0.5]), "loss": ([0, 10, 20], [3.0, 2.0, 1.5])}
    assert store.runs("yolo") == []
    store.rename(rid, "baseline")
    store.set_tags(rid, ["b", " a ", ""])
    info = store.run(rid)
    assert info.title == "baseline" and info.tags == ("a", "b")
    store.delete([rid])
    assert store.runs() == [] and store.metrics(rid) == {}


def test_unknown_ending_is_refused(tmp_path):
    store = RunStore(tmp_path / "r.sqlite")
    with pytest.raises(ValueError, match="unknown ending"):
        store.end_run(store.start_run("vae", _card()), "exploded")


def test_config_diff_names_exactly_the_changed_knobs(tmp_path):
    store = RunStore(tmp_path / "r.sqlite")
    a = store.start_run("vae", _card(lr=0.01, width=32, seed=0))
    b = store.start_run("vae", _card(lr=0.02, width=32, seed=1))
    runs = sorted(store.runs(), key=lambda r: r.id)
    assert [r.id for r in runs] == [a, b]
    assert config_diff(runs) == {"lr": [0.01, 0.02], "seed": [0, 1]}
    assert config_diff(runs[:1]) == {}


def test_recorder_batches_points_and_skips_non_finite(tmp_path):
    rec = RunRecorder(tmp_path / "r.sqlite", "vae", _card(), flush_every=3600)
    for step in range(100):
        rec.point(step, {"loss": 1.0 / (step + 1), "note": "text", "bad": float("nan")})
    assert rec.run_id is None  # nothing written before the first flush: no run without points
    rec.end("cancelled")
    store = RunStore(tmp_path / "r.sqlite")
    (info,) = store.runs()
    assert info.status == "cancelled" and rec.points_written == 100
    assert store.metrics(info.id)["loss"][0] == list(range(100)) and "bad" not in store.metrics(info.id)


def test_a_task_without_metrics_leaves_no_run(tmp_path):
    rec = RunRecorder(tmp_path / "r.sqlite", "vae", _card())
    rec.end("finished")
    assert not (tmp_path / "r.sqlite").exists() or RunStore(tmp_path / "r.sqlite").runs() == []


def test_csv_export(tmp_path):
    store = RunStore(tmp_path / "r.sqlite")
    rid = store.start_run("vae", _card())
    store.add_points(rid, [(0, "loss", 2.0), (5, "loss", 1.0)])
    text = store.export_csv([rid], tmp_path / "runs.csv").read_text().splitlines()
    assert text[0] == "run_id,run,tab,step,metric,value"
    assert text[1:] == [f"{rid},run {rid},vae,0,loss,2.0", f"{rid},run {rid},vae,5,loss,1.0"]


def test_tensorboard_export_reads_back_the_same_scalars(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    store = RunStore(tmp_path / "r.sqlite")
    rid = store.start_run("vae", _card())
    points = [(s, "loss", 1.0 / (s + 1)) for s in range(0, 50, 5)] + [(s, "elbo", -100.0 + s) for s in (0, 20)]
    store.add_points(rid, points)
    (folder,) = store.export_tensorboard([rid], tmp_path / "tb")
    acc = EventAccumulator(str(folder))
    acc.Reload()
    assert set(acc.Tags()["scalars"]) == {"loss", "elbo"}
    for key in ("loss", "elbo"):
        got = [(e.step, e.value) for e in acc.Scalars(key)]
        want = [(s, v) for s, k, v in points if k == key]
        assert [s for s, _ in got] == [s for s, _ in want]
        assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6)
    assert acc.Tags()["tensors"]  # the run card as text


def test_two_writers_at_once_lose_nothing(tmp_path):
    db = tmp_path / "r.sqlite"
    RunStore(db).close()

    def write(name):
        rec = RunRecorder(db, "vae", _card(), flush_every=0.0)   # a transaction per point: maximal contention
        for step in range(300):
            rec.point(step, {name: float(step)})
        rec.end("finished")
        assert not rec.error, rec.error

    threads = [threading.Thread(target=write, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    store = RunStore(db)
    runs = store.runs()
    assert len(runs) == 2 and all(r.status == "finished" for r in runs)
    counts = sorted(len(v[0]) for r in runs for v in store.metrics(r.id).values())
    assert counts == [300, 300]


def test_database_survives_a_writer_killed_mid_write(tmp_path):
    db = tmp_path / "r.sqlite"
    store = RunStore(db)
    earlier = store.start_run("vae", _card())
    store.add_points(earlier, [(s, "loss", float(s)) for s in range(10)])
    store.end_run(earlier, "finished")
    store.close()
    code = textwrap.dedent(f"""
        import sys, time
        from lab_app.core.runs import RunRecorder
        rec = RunRecorder({str(db)!r}, "vae", {{"config": {{}}}}, flush_every=0.0)
        step = 0
        while True:
            rec.point(step, {{"loss": 1.0}})
            step += 1
            if step == 50:
                print("writing", flush=True)
        """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    store = RunStore(db)
    assert store.integrity_ok()
    runs = {r.id: r for r in store.runs()}
    assert runs[earlier].status == "finished" and store.metrics(earlier)["loss"][0] == list(range(10))
    (killed,) = [r for r in runs.values() if r.id != earlier]
    assert killed.status == "interrupted" and len(store.metrics(killed.id)["loss"][0]) >= 50


def test_newer_schema_is_refused_with_a_message(tmp_path):
    db = tmp_path / "r.sqlite"
    RunStore(db).close()
    con = sqlite3.connect(db)
    con.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION + 1),))
    con.commit()
    con.close()
    with pytest.raises(RunStoreError, match="newer lab"):
        RunStore(db)
    rec = RunRecorder(db, "vae", _card())
    rec.point(0, {"loss": 1.0})
    rec.flush()
    assert "newer lab" in rec.error   # the run goes on unrecorded, and says so


def test_corrupt_file_is_moved_aside_not_deleted(tmp_path):
    db = tmp_path / "runs.sqlite"
    db.write_bytes(b"this is not a database at all" * 100)
    store = RunStore(db)
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("runs.sqlite.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert "moved to" in store.notice and store.runs() == []
