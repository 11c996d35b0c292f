"""Visual Deep-Learning Lab: a desktop lab where small models train on your data while you watch."""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# Triton (pulled in lazily by torch.optim through torch._dynamo) bundles its own LLVM, which clashes
# with the LLVM inside Mesa's software OpenGL (llvmpipe): once a GL context exists, importing triton
# segfaults the process (seen under Xvfb: exit 139 in triton/knobs.py). The lab never uses
# torch.compile, so triton is hidden from torch; LAB_ALLOW_TRITON=1 lifts this for experiments.
if _os.environ.get("LAB_ALLOW_TRITON") != "1" and "triton" not in _sys.modules:
    _sys.modules["triton"] = None
