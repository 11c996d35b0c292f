"""The Qt boundary (DESIGN.md): the modules the import-linter contracts in pyproject.toml name as
Qt-free (models/, lab_app/core, io, data, detection and every topic module but tab.py, views.py,
*_views.py and *_panel.py) import no Qt. `lint-imports` (run by `make test`) follows every import
chain; these tests read the same contracts and check the module set itself (no topic module left
out of the convention), the import statements, and a fresh interpreter importing them all."""

import ast
import re
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: import-linter brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "superqt", "OpenGL", "shiboken6")
QT_NAMED = re.compile(r"^(tab|views|\w+_views|\w+_panel)$")  # the topic files that may import Qt


def contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return config["contracts"]


def all_modules() -> dict[str, Path]:
    mods = {}
    for top in ("lab_app", "models"):
        for path in sorted((ROOT / top).rglob("*.py")):
            mods[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return mods


def _pattern(expression: str, as_packages: bool) -> re.Pattern:
    parts = [r"[^.]+" if p == "*" else r"[^.]+(\.[^.]+)*" if p == "**" else re.escape(p)
             for p in expression.split(".")]
    return re.compile(r"\.".join(parts) + (r"(\..+)?" if as_packages else "") + "$")


def qt_free_modules() -> dict[str, Path]:
    """Module name -> file, for every module a contract forbids Qt to (wildcards expanded)."""
    mods = all_modules()
    chosen = {}
    for contract in contracts():
        patterns = [_pattern(e, contract.get("as_packages", True)) for e in contract["source_modules"]]
        chosen.update({m: p for m, p in mods.items() if any(pt.match(m) for pt in patterns)})
    return dict(sorted(chosen.items()))


def test_the_contracts_forbid_every_qt_binding_we_use():
    for contract in contracts():
        assert contract["type"] == "forbidden"
        assert {"PySide6", "shiboken6", "pyqtgraph", "superqt", "OpenGL"} <= set(contract["forbidden_modules"])


def test_there_is_something_to_check():
    names = set(qt_free_modules())
    assert {"lab_app.core.device", "lab_app.io.pointcloud", "lab_app.topics.pointcloud.task",
            "lab_app.topics.representation.probes", "models.vae", "lab_app.detection.training"} <= names
    assert not names & {"lab_app.topics.vae.tab", "lab_app.topics.vae.views", "lab_app.app"}


def test_every_topic_module_is_qt_named_or_under_contract():
    """A new topic module that is not tab.py/views.py/*_views.py/*_panel.py must be listed in the
    topic contract in pyproject.toml (wildcards cannot say "every module but these")."""
    covered = qt_free_modules()
    loose = [m for m in all_modules() if m.startswith("lab_app.topics")
             and not QT_NAMED.match(m.rsplit(".", 1)[-1]) and m not in covered]
    assert not loose, (f"{loose}: add them to the Qt-free topic contract in pyproject.toml, or name "
                       "them tab.py, views.py, *_views.py or *_panel.py if they draw")


def test_the_contracts_name_modules_that_exist():
    mods = all_modules()
    for contract in contracts():
        for expression in contract["source_modules"]:
            pattern = _pattern(expression, contract.get("as_packages", True))
            assert any(pattern.match(m) for m in mods), f"{expression} matches no module"


def test_no_import_statement_names_qt():
    offenders = []
    for path in qt_free_modules().values():
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
    mods = list(qt_free_modules())
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"Qt modules loaded: {out.stdout.strip()}"
