"""models/, lab_app/core, lab_app/io, lab_app/data and every task.py import no Qt (DESIGN.md):
checked both statically (no import statement names Qt) and dynamically (importing them all in a
fresh interpreter loads no Qt module)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "OpenGL", "shiboken6")


def qt_free_files() -> list[Path]:
    files = []
    for folder in ("models", "lab_app/core", "lab_app/io", "lab_app/data", "lab_app/detection"):
        files += sorted((ROOT / folder).rglob("*.py"))
    files += sorted((ROOT / "lab_app/topics").rglob("task.py"))
    return files


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def test_there_is_something_to_check():
    names = {module_name(p) for p in qt_free_files()}
    assert {"lab_app.core.device", "lab_app.io.pointcloud", "lab_app.topics.pointcloud.task"} <= names


def test_no_import_statement_names_qt():
    offenders = []
    for path in qt_free_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            if any(n.split(".")[0] in QT_MODULES for n in names):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"Qt imported where DESIGN.md forbids it: {offenders}"


def test_importing_them_loads_no_qt():
    mods = [module_name(p) for p in qt_free_files()]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"Qt modules loaded: {out.stdout.strip()}"
