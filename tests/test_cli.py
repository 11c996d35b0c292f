"""The real app in a subprocess: command line, clean exit (status 0, no crash at interpreter
shutdown) when closed while work runs, and --screenshot."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lab_app.registry import TOPICS

ROOT = Path(__file__).resolve().parents[1]
CRASH_SIGNS = ("Fatal Python error", "QThread: Destroyed", "Segmentation fault", "Traceback")


def app_env(tmp_path, platform="offscreen"):
    env = dict(os.environ, QT_QPA_PLATFORM=platform, LAB_SETTINGS_DIR=str(tmp_path / "settings"),
               PYTHONUNBUFFERED="1")
    return env


def run_main(args, tmp_path, timeout=120, platform="offscreen"):
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=app_env(tmp_path, platform),
                          capture_output=True, text=True, timeout=timeout)


def test_list_tabs(tmp_path):
    out = run_main(["--list-tabs"], tmp_path)
    assert out.returncode == 0
    assert "pointcloud" in out.stdout.split()


def test_unknown_tab_and_missing_file_exit_2(tmp_path):
    out = run_main(["--tab", "nope"], tmp_path)
    assert out.returncode == 2 and "unknown tab 'nope'" in out.stderr
    out = run_main([str(tmp_path / "missing.ply")], tmp_path)
    assert out.returncode == 2 and "no such file" in out.stderr


def test_sigterm_while_the_demo_runs_exits_cleanly(tmp_path):
    proc = subprocess.Popen([sys.executable, "main.py"], cwd=ROOT, env=app_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "built tab" in line:  # tabs are built once the window has painted
            break
    assert any("window shown" in ln for ln in lines), "".join(lines)
    assert any(f"built tab {TOPICS[0].id}" in ln for ln in lines), "".join(lines)
    time.sleep(0.3)  # the demo scene is being sampled in the worker now
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    output = "".join(lines) + rest
    assert proc.returncode == 0, output
    assert not any(sign in output for sign in CRASH_SIGNS), output
    settings = (tmp_path / "settings" / "lab.ini").read_text()
    assert f"last_tab={TOPICS[0].id}" in settings  # the window opens on the first tab


def test_open_a_file_from_the_command_line_then_quit(tmp_path):
    pts = np.random.default_rng(0).random((1000, 3)).astype(np.float32)
    np.save(tmp_path / "c.npy", pts)
    out = run_main([str(tmp_path / "c.npy"), "--quit-after", "4"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert not any(sign in out.stderr for sign in CRASH_SIGNS), out.stderr
    assert "c.npy" in (tmp_path / "settings" / "lab.ini").read_text()  # recent files


@pytest.mark.gl
def test_screenshot_writes_a_picture_of_the_cloud(tmp_path):
    from PIL import Image

    out = run_main(["--screenshot", str(tmp_path / "shots"), "--tab", "pointcloud"], tmp_path,
                   timeout=300, platform="xcb")
    assert out.returncode == 0, out.stderr
    img = np.asarray(Image.open(tmp_path / "shots" / "pointcloud.png").convert("RGB")).astype(int)
    h, w, _ = img.shape
    view = img[h // 4: 3 * h // 4, w // 2: w]  # the 3D view is the right part of the window
    colourful = (view.max(axis=2) - view.min(axis=2)) > 60
    assert colourful.mean() > 0.02, "no coloured objects drawn in the 3D view"
    assert not any(sign in out.stderr for sign in CRASH_SIGNS), out.stderr
