"""Text reader: UTF-8 (with or without BOM); anything else gets a message saying what it is."""

from __future__ import annotations

from pathlib import Path

from lab_app.io.errors import LoadError, check_readable_file

TEXT_EXTENSIONS = (".txt", ".md", ".text", ".csv", ".tsv")
MAX_TEXT_BYTES = 200 * 1024 * 1024


def load_text(path: str | Path) -> str:
    path = check_readable_file(path)
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise LoadError(path, f"{size / 1e6:.0f} MB of text; the lab reads up to {MAX_TEXT_BYTES / 1e6:.0f} MB")
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe\0\0", b"\0\0\xfe\xff")):
        raise LoadError(path, "is UTF-32 text; save it as UTF-8 and open it again")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(raw[:8192]):
        raise LoadError(path, "is UTF-16 text; save it as UTF-8 and open it again")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    head = raw[:8192]
    if b"\0" in head:
        raise LoadError(path, "holds binary data (NUL bytes), not text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        guess = ""
        try:
            raw.decode("cp1252")
            guess = " It decodes as Windows-1252/Latin-1: re-save it as UTF-8."
        except UnicodeDecodeError:
            pass
        raise LoadError(path, f"is not valid UTF-8 (bad byte 0x{raw[e.start]:02x} at offset {e.start})."
                              f"{guess}") from None
    if not text.strip():
        raise LoadError(path, "holds only whitespace")
    return text.replace("\r\n", "\n")


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 without a byte-order mark: mostly-ASCII text has a NUL in every other byte."""
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    for zeros, other in ((even, odd), (odd, even)):
        if zeros.count(0) >= 0.9 * len(zeros) and other.count(0) == 0:
            return True
    return False
