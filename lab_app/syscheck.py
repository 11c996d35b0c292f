"""Check the system libraries Qt, OpenGL and Open3D need; print the one apt line that fixes it.

``python -m lab_app.syscheck [--test]`` exits 1 when something is missing. No Qt import here: the
point is to explain a missing library before Qt fails to load with a cryptic message."""

from __future__ import annotations

import shutil
import subprocess
import sys

# shared object -> Debian/Ubuntu package
RUNTIME_LIBS = {
    "libusb-1.0.so.0": "libusb-1.0-0",  # Open3D fails to import without it
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libfontconfig.so.1": "libfontconfig1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
}
TEST_PROGRAMS = {"Xvfb": "xvfb", "xauth": "xauth"}


def _known_libraries() -> set[str] | None:
    ldconfig = shutil.which("ldconfig") or "/sbin/ldconfig"
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {line.split(" (", 1)[0].strip() for line in out.splitlines()[1:]}


def missing_packages(for_tests: bool = False) -> list[str]:
    if not sys.platform.startswith("linux"):
        return []
    libs = _known_libraries()
    missing: list[str] = []
    if libs is not None:
        missing += [pkg for so, pkg in RUNTIME_LIBS.items() if so not in libs]
    if for_tests:
        missing += [pkg for prog, pkg in TEST_PROGRAMS.items() if shutil.which(prog) is None]
    # Mesa's drivers give software OpenGL under Xvfb and on machines without a GPU driver.
    import glob

    if not glob.glob("/usr/lib/*/dri/swrast_dri.so") and not glob.glob("/usr/lib/*/dri/*_dri.so"):
        missing.append("libgl1-mesa-dri")
    return sorted(set(missing))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    missing = missing_packages(for_tests="--test" in argv)
    if not missing:
        return 0
    print("Missing system libraries for Qt / OpenGL / Open3D. Install them with:", file=sys.stderr)
    print("  sudo apt-get install -y " + " ".join(missing), file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
