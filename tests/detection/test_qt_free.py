"""lab_app.detection stays Qt-free (like models/ and lab_app/data): importing all of it in a fresh
interpreter loads no Qt module."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_detection_core_imports_no_qt():
    modules = [f"lab_app.detection.{p.stem}" for p in sorted((ROOT / "lab_app/detection").glob("*.py"))
               if p.stem != "__init__"]
    modules += ["lab_app.topics.yolo.task", "lab_app.topics.anchorfree.task", "models.yolo", "models.fcos"]
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print([m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'superqt', 'shiboken6')])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    assert "lab_app.detection.pretrained" in modules and "lab_app.detection.training" in modules
