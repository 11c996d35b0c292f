"""Text reader: UTF-8 in, clear messages for everything else."""

from __future__ import annotations

import pytest

from lab_app.io import LoadError, load_text


def load_error(path) -> str:
    with pytest.raises(LoadError) as info:
        load_text(path)
    msg = str(info.value)
    assert msg.startswith(f"{path.name}: "), msg
    return msg


def test_utf8(tmp_path):
    (tmp_path / "t.txt").write_text("Naïve café — ok\nline 2\n", encoding="utf-8")
    assert load_text(tmp_path / "t.txt") == "Naïve café — ok\nline 2\n"


def test_utf8_bom_is_stripped_and_crlf_normalised(tmp_path):
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfhello\r\nworld\r\n")
    assert load_text(tmp_path / "bom.txt") == "hello\nworld\n"


def test_latin1(tmp_path):
    (tmp_path / "l.txt").write_bytes("déjà vu\n".encode("latin-1"))
    msg = load_error(tmp_path / "l.txt")
    assert "not valid UTF-8" in msg and "0xe9" in msg and "Latin-1" in msg and "UTF-8" in msg


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16(tmp_path, encoding):
    (tmp_path / "w.txt").write_bytes("Hello, world. This is UTF-16.\n".encode(encoding))
    assert "UTF-16" in load_error(tmp_path / "w.txt")


def test_utf32(tmp_path):
    (tmp_path / "w.txt").write_bytes("Hello\n".encode("utf-32"))
    assert "UTF-32" in load_error(tmp_path / "w.txt")


def test_binary_file(tmp_path):
    (tmp_path / "b.txt").write_bytes(bytes(range(256)) * 4)
    assert "binary" in load_error(tmp_path / "b.txt")


def test_empty_and_whitespace(tmp_path):
    (tmp_path / "e.txt").write_bytes(b"")
    assert "empty" in load_error(tmp_path / "e.txt")
    (tmp_path / "w.txt").write_text(" \n\t\n")
    assert "whitespace" in load_error(tmp_path / "w.txt")


def test_too_large(tmp_path, monkeypatch):
    import lab_app.io.text as text_module

    monkeypatch.setattr(text_module, "MAX_TEXT_BYTES", 10)
    (tmp_path / "big.txt").write_text("x" * 100)
    assert "MB" in load_error(tmp_path / "big.txt")
