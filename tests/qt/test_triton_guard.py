"""Regression: training in a worker thread after an OpenGL view exists must not crash the process
(triton's LLVM clashed with Mesa's llvmpipe and segfaulted on import; lab_app hides triton)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import sys, threading
import lab_app  # must come first, as in main.py
import numpy as np
from PySide6.QtWidgets import QApplication
import pyqtgraph.opengl as gl
import torch
app = QApplication(sys.argv)
view = gl.GLViewWidget(); view.show()
view.addItem(gl.GLScatterPlotItem(pos=np.random.rand(100, 3).astype(np.float32)))
app.processEvents(); view.grabFramebuffer()
result = {}
def train():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(200):
        loss = (model(torch.ones(4, 3)) - 1).pow(2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
    result["loss"] = float(loss)
t = threading.Thread(target=train); t.start(); t.join()
print("loss", result["loss"])
"""


@pytest.mark.gl
def test_optimizer_in_a_thread_after_gl_does_not_crash():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-2000:]}"
    loss = float(out.stdout.split("loss", 1)[1])
    assert loss < 1e-3  # it really trained
