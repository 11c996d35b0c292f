"""preload_torch: torch's native libraries loaded before ``import torch``, which then uses them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="dlopen preloading is for Linux")

SCRIPT = """
import json, os, sys
from lab_app.core.preload import preload_torch
env_has_ld = bool(os.environ.get("LD_LIBRARY_PATH"))
loaded = preload_torch()
maps = open("/proc/self/maps").read()
mapped = [p for p in loaded if os.path.realpath(p) in maps]
import torch
again = preload_torch()   # torch is imported: nothing to do
print(json.dumps({"loaded": loaded, "mapped": mapped, "c_file": torch._C.__file__, "again": again,
                  "sum": float((torch.arange(4.0) * 2).sum()), "ld": env_has_ld}))
"""


def _run(env_extra: dict) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"} | env_extra
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_torch_imports_on_the_libraries_preloaded():
    r = _run({})
    assert [p.rsplit("/", 1)[-1] for p in r["loaded"]][0] == "libtorch_global_deps.so"
    assert len(r["loaded"]) == 2 and r["mapped"] == r["loaded"]
    assert r["loaded"][1] == r["c_file"]          # the extension torch then imported is the one loaded
    assert r["sum"] == 12.0 and r["again"] == []


def test_with_ld_library_path_set_the_extension_is_left_to_torch():
    r = _run({"LD_LIBRARY_PATH": "/nonexistent"})
    assert [p.rsplit("/", 1)[-1] for p in r["loaded"]] == ["libtorch_global_deps.so"]
    assert r["sum"] == 12.0
