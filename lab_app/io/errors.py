"""LoadError: the one exception every reader raises, with a message a person can act on."""

from __future__ import annotations

from pathlib import Path


class LoadError(ValueError):
    """A file could not be read. ``str(err)`` names the file and says what is wrong."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = Path(path) if path is not None else None
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}" if self.path is not None else problem)


def check_readable_file(path: str | Path) -> Path:
    """The checks every reader starts with: exists, is a file, can be opened, is not empty."""
    p = Path(path)
    if not p.exists():
        raise LoadError(p, "no such file")
    if p.is_dir():
        raise LoadError(p, "is a folder, not a file (open a file inside it)")
    if not p.is_file():
        raise LoadError(p, "is not a regular file")
    try:
        with open(p, "rb") as f:
            first = f.read(1)
    except PermissionError:
        raise LoadError(p, "cannot be read: permission denied") from None
    except OSError as e:
        raise LoadError(p, f"cannot be read: {e.strerror or e}") from None
    if not first:
        raise LoadError(p, "the file is empty (0 bytes)")
    return p
