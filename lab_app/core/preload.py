"""Load torch's shared libraries without holding the interpreter lock, before ``import torch``.

Python holds its lock while it loads an extension module (``dlopen`` of torch/_C and, through it,
libtorch_cpu and the CUDA libraries: hundreds of MB to map and relocate) and while ctypes loads a
library. The window imports torch in a background thread so that it can keep drawing, but for that
second or more the UI thread cannot run a line of Python: ``ui_stalls --trace`` showed stalls of up
to 2.8 s in the event loop with the import thread in ``create_module``. Calling ``dlopen`` through a
ctypes *function* releases the lock; libraries already loaded that way are found again at once when
torch's own import asks for them, with the same flags, in the same order: ``libtorch_global_deps``
with RTLD_GLOBAL, as torch/__init__.py loads it, then the ``_C`` extension with Python's own flags.
Best effort: anything not found, or a platform without ``dlopen``, leaves the work to ``import torch``.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import sys


def preload_torch() -> list[str]:
    """dlopen torch's native libraries with the GIL released; the paths loaded (empty if none)."""
    if sys.platform != "linux" or "torch" in sys.modules:
        return []
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = list(spec.submodule_search_locations)[0]
    wanted = [(os.path.join(folder, "lib", "libtorch_global_deps.so"), os.RTLD_NOW | os.RTLD_GLOBAL)]
    if not os.environ.get("LD_LIBRARY_PATH"):
        # With LD_LIBRARY_PATH set, a CUDA library there would win over the wheel's that torch preloads
        # before loading _C (torch/__init__.py, _preload_cuda_deps): leave _C to torch then.
        wanted += [(p, sys.getdlopenflags()) for p in sorted(glob.glob(os.path.join(folder, "_C.*.so")))[:1]]
    try:
        libc = ctypes.CDLL(None)
        dlopen = libc.dlopen
    except (OSError, AttributeError):
        return []
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    loaded = []
    for path, flags in wanted:
        if os.path.exists(path) and dlopen(os.fsencode(path), flags):   # a foreign call: GIL released
            loaded.append(path)
        else:
            break   # keep torch's order: nothing after a library that did not load
    return loaded
