"""Header checks run before a file reaches Open3D.

Open3D trusts headers: a PLY or PCD that claims two billion points makes it raise std::bad_alloc
or try to allocate tens of GB, and a truncated binary PLY loads silently with whatever points are
there. So the point count a header claims is checked against the bytes the file really has.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

from lab_app.io.errors import LoadError

#: More points than this is refused outright (about 1.2 GB as float32 xyz alone).
MAX_POINTS = 100_000_000

_PLY_SIZES = {
    "char": 1, "uchar": 1, "int8": 1, "uint8": 1,
    "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
    "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4,
    "double": 8, "float64": 8,
}
_HEADER_LIMIT = 64 * 1024


def _read_header_lines(path: Path, end_marker: bytes, first: bytes) -> tuple[list[str], int]:
    with open(path, "rb") as f:
        head = f.read(_HEADER_LIMIT)
    if not head.startswith(first):
        return [], -1
    idx = head.find(end_marker)
    if idx < 0:
        raise LoadError(path, f"header has no '{end_marker.decode().strip()}' line in its first 64 KB")
    stop = head.index(b"\n", idx) + 1 if b"\n" in head[idx:] else len(head)
    text = head[:stop].decode("ascii", errors="replace")
    return text.splitlines(), stop


def _claim_too_big(path: Path, n: int, what: str = "points") -> None:
    if n > MAX_POINTS:
        raise LoadError(path, f"header claims {n:,} {what}; the lab reads at most {MAX_POINTS:,}")


def _check_fits(path: Path, n: int, need: int, have: int, detail: str) -> None:
    if need > have:
        raise LoadError(
            path,
            f"header says {n:,} points ({detail}, {need:,} bytes) but only {have:,} bytes follow the "
            "header: the file is truncated or corrupt",
        )


def check_ply(path: Path) -> dict:
    """Validate a PLY header; return {'vertices': n, 'faces': m, 'format': fmt, 'properties': [...]}."""
    with open(path, "rb") as f:
        magic = f.read(16)
    if magic[:3] != b"ply":
        raise LoadError(path, f"not a PLY file (a PLY starts with 'ply'){describe_content(magic)}")
    lines, header_len = _read_header_lines(path, b"end_header", b"ply")
    fmt = None
    elements: list[dict] = []
    for line in lines[1:]:
        parts = line.split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        if parts[0] == "format" and len(parts) >= 2:
            fmt = parts[1]
        elif parts[0] == "element" and len(parts) == 3:
            try:
                count = int(parts[2])
            except ValueError:
                raise LoadError(path, f"bad element line in header: {line!r}") from None
            if count < 0:
                raise LoadError(path, f"negative element count in header: {line!r}")
            elements.append({"name": parts[1], "count": count, "props": []})
        elif parts[0] == "property" and elements:
            if len(parts) < 3 or (parts[1] == "list" and len(parts) < 5):
                raise LoadError(path, f"bad property line in header: {line!r}")
            elements[-1]["props"].append(parts[1:])
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise LoadError(path, f"unknown PLY format {fmt!r}")
    vertex = next((e for e in elements if e["name"] == "vertex"), None)
    if vertex is None:
        raise LoadError(path, "PLY header declares no 'vertex' element: there are no points")
    names = [p[-1] for p in vertex["props"]]
    if not {"x", "y", "z"} <= set(names):
        raise LoadError(path, f"vertex element has no x/y/z properties (has: {', '.join(names) or 'none'})")
    n = vertex["count"]
    _claim_too_big(path, n)
    have = os.path.getsize(path) - header_len
    if fmt == "ascii":
        # Every value is at least one character plus a separator.
        need = n * 2 * len(vertex["props"])
        _check_fits(path, n, need, have, "ascii, at least 2 bytes a value")
        _check_ascii_ply_lines(path, header_len, elements, vertex)
    else:
        need = 0
        for e in elements:
            size = 0
            for prop in e["props"]:
                if prop[0] == "list":  # list <count type> <item type> name: at least the count
                    size += _PLY_SIZES.get(prop[1], 1)
                else:
                    size += _PLY_SIZES.get(prop[0], 4)
            need += size * e["count"]
            if e is vertex:
                break  # elements after the vertices may legitimately be missing in some writers
        _check_fits(path, n, need, have, "binary")
    faces = next((e["count"] for e in elements if e["name"] == "face"), 0)
    return {"vertices": n, "faces": faces, "format": fmt, "properties": names}


def _check_ascii_ply_lines(path: Path, header_len: int, elements: list[dict], vertex: dict) -> None:
    """An ascii PLY holds one element a line. Open3D loads a truncated one silently (with made-up
    values for what is missing), so count the lines up to the last vertex and check that one."""
    before = 0
    for e in elements:
        if e is vertex:
            break
        before += e["count"]
    last = before + vertex["count"]  # lines needed up to and including the last vertex
    if vertex["count"] == 0:
        return
    with open(path, "rb") as f:
        f.seek(header_len)
        data = f.read()
    lines = [ln for ln in data.splitlines() if ln.strip()]
    if len(lines) < last:
        have_vertices = max(0, len(lines) - before)
        raise LoadError(path, f"header says {vertex['count']:,} points but only {have_vertices:,} vertex lines "
                              "follow: the file is truncated or corrupt")
    if not any(p[0] == "list" for p in vertex["props"]):
        values = lines[last - 1].split()
        if len(values) < len(vertex["props"]):
            raise LoadError(path, f"the last point has {len(values)} values, not {len(vertex['props'])}: "
                                  "the file is truncated or corrupt")


def describe_content(head: bytes) -> str:
    """' (it looks like a PNG image)' for a file's first bytes, or ''."""
    kinds = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
             (b"ply", "a PLY point cloud"), (b"\x93NUMPY", "a NumPy .npy array"), (b"PK\x03\x04", "a zip archive"),
             (b"%PDF", "a PDF document"), (b"OFF", "an OFF mesh"))
    for magic, what in kinds:
        if head.startswith(magic):
            return f"; it looks like {what}"
    if not head:
        return ""
    if b"\0" in head:
        return f"; it starts with bytes {head[:16]!r}"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"; it starts with bytes {head[:16]!r}"
    return f"; it looks like text starting {text[:16]!r}"


def check_pcd(path: Path) -> dict:
    lines, header_len = _read_header_lines(path, b"DATA", b"")
    fields: dict[str, list[str]] = {}
    for line in lines:
        parts = line.split()
        if parts and not parts[0].startswith("#"):
            fields[parts[0].upper()] = parts[1:]
    if "DATA" not in fields or "FIELDS" not in fields:
        raise LoadError(path, "not a PCD file (no FIELDS / DATA lines in the header)")
    names = fields["FIELDS"]
    if not {"x", "y", "z"} <= set(names):
        raise LoadError(path, f"PCD has no x/y/z fields (has: {', '.join(names)})")
    try:
        if "POINTS" in fields:
            n = int(fields["POINTS"][0])
        else:
            n = int(fields["WIDTH"][0]) * int(fields.get("HEIGHT", ["1"])[0])
        sizes = [int(s) for s in fields.get("SIZE", ["4"] * len(names))]
        counts = [int(c) for c in fields.get("COUNT", ["1"] * len(names))]
    except (ValueError, IndexError, KeyError):
        raise LoadError(path, "PCD header has unreadable POINTS/WIDTH/SIZE/COUNT values") from None
    if n < 0:
        raise LoadError(path, f"PCD header claims a negative point count ({n})")
    _claim_too_big(path, n)
    if len(sizes) != len(names) or len(counts) != len(names):
        raise LoadError(path, f"PCD header lists {len(names)} FIELDS but {len(sizes)} SIZE and {len(counts)} "
                              "COUNT values")
    if any(sz not in (1, 2, 4, 8) for sz in sizes) or any(c < 1 or c > 1_000_000 for c in counts):
        raise LoadError(path, f"PCD header has impossible SIZE {sizes} or COUNT {counts} values")
    point_size = sum(s * c for s, c in zip(sizes, counts))
    data = fields["DATA"][0].lower() if fields["DATA"] else ""
    have = os.path.getsize(path) - header_len
    if data == "ascii":
        _check_fits(path, n, n * 2 * len(names), have, "ascii, at least 2 bytes a value")
    elif data == "binary":
        _check_fits(path, n, n * point_size, have, f"binary, {point_size} bytes a point")
    elif data == "binary_compressed":
        with open(path, "rb") as f:
            f.seek(header_len)
            sizes_raw = f.read(8)
        if len(sizes_raw) < 8:
            raise LoadError(path, "compressed PCD ends right after its header")
        compressed, uncompressed = struct.unpack("<II", sizes_raw)
        if uncompressed != n * point_size:
            raise LoadError(path, f"compressed PCD: header says {n:,} points but the data block holds "
                                  f"{uncompressed:,} bytes, not {n * point_size:,}")
        _check_fits(path, n, compressed + 8, have, "compressed")
    else:
        raise LoadError(path, f"unknown PCD DATA type {data!r}")
    return {"vertices": n, "format": data, "properties": names}


def read_off(path: Path) -> tuple:
    """Parse an OFF mesh: returns (vertices (V,3) float64, triangles (F,3) int64).

    Handles ModelNet's known broken header where the counts follow 'OFF' on the same line
    ('OFF490 470 0'), and the COFF/NOFF variants (extra values after x y z are ignored). Polygons
    with more than 3 corners are fanned into triangles.
    """
    import numpy as np

    text = Path(path).read_bytes().decode("ascii", errors="replace")
    lines = [ln.split() for ln in (raw.split("#", 1)[0] for raw in text.splitlines())]
    lines = [ln for ln in lines if ln]
    if not lines or not re.fullmatch(r"[A-Z]*OFF\d*", lines[0][0]):
        head = Path(path).read_bytes()[:16]
        raise LoadError(path, f"not an OFF file (it should start with 'OFF'){describe_content(head)}")
    first = lines[0][0]
    counts = lines[0][1:]
    tail = first[first.index("OFF") + 3:]
    body = lines[1:]
    if tail:  # ModelNet: 'OFF490 470 0'
        counts = [tail] + counts
    if not counts and body:
        counts, body = body[0], body[1:]
    try:
        nv, nf = int(counts[0]), int(counts[1])
    except (ValueError, IndexError):
        raise LoadError(path, "OFF header has no readable vertex/face counts") from None
    if nv < 0 or nf < 0:
        raise LoadError(path, "OFF header has negative counts")
    _claim_too_big(path, nv, "vertices")
    _claim_too_big(path, nf, "faces")
    if len(body) < nv:
        raise LoadError(path, f"header says {nv:,} vertices but the file holds only {len(body):,}: "
                              "truncated or corrupt")
    try:
        verts = np.array([ln[:3] for ln in body[:nv]], dtype=np.float64).reshape(nv, 3)
    except ValueError:
        raise LoadError(path, "OFF vertices are not all 'x y z' numbers") from None
    face_lines = body[nv:nv + nf]
    if len(face_lines) < nf:
        raise LoadError(path, f"header says {nf:,} faces but the file holds only {len(face_lines):,}: "
                              "truncated or corrupt")
    tris = []
    try:
        for ln in face_lines:
            k = int(ln[0])
            if k < 0 or len(ln) < 1 + k:
                raise LoadError(path, f"bad OFF face line {' '.join(ln[:12])!r}")
            idx = [int(v) for v in ln[1:1 + k]]
            for j in range(1, k - 1):
                tris.append((idx[0], idx[j], idx[j + 1]))
    except ValueError:
        raise LoadError(path, "OFF faces hold values that are not whole numbers") from None
    tri = np.array(tris, dtype=np.int64).reshape(-1, 3)
    if tri.size and (tri.max() >= nv or tri.min() < 0):
        raise LoadError(path, "OFF faces refer to vertices that do not exist")
    return verts, tri


def check_stl(path: Path) -> dict:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(84)
    if len(head) >= 84 and 84 + 50 * struct.unpack("<I", head[80:84])[0] == size:
        pass  # binary, even if its free-form header starts with 'solid' (many exporters do that)
    elif head[:5].lower() == b"solid":
        if looks_binary(path):
            raise LoadError(path, "starts like an ascii STL ('solid') but holds binary data and its size "
                                  "does not match a binary STL: truncated or corrupt")
        return {"format": "ascii"}
    if len(head) < 84:
        raise LoadError(path, "too short for a binary STL (needs an 84-byte header)")
    (n,) = struct.unpack("<I", head[80:84])
    _claim_too_big(path, n, "triangles")
    if 84 + 50 * n > size:
        raise LoadError(path, f"binary STL claims {n:,} triangles ({84 + 50 * n:,} bytes) but the file has "
                              f"{size:,} bytes: truncated or corrupt")
    return {"format": "binary", "faces": n}


def looks_binary(path: Path, nbytes: int = 4096) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(nbytes)
