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
        magic = f.read(4)
    if magic[:3] != b"ply":
        raise LoadError(path, f"not a PLY file (a PLY starts with 'ply', this one with {magic[:16]!r})")
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
        need = sum(e["count"] * 2 * max(1, len(e["props"])) for e in elements if e["name"] == "vertex")
        _check_fits(path, n, need, have, "ascii, at least 2 bytes a value")
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
    ('OFF490 470 0'). Polygons with more than 3 corners are fanned into triangles.
    """
    import numpy as np

    text = Path(path).read_bytes().decode("ascii", errors="replace")
    tokens = re.sub(r"#[^\n]*", " ", text).split()
    if not tokens or "OFF" not in tokens[0]:
        raise LoadError(path, "not an OFF file (it should start with 'OFF')")
    first = tokens[0]
    rest = tokens[1:]
    tail = first[first.index("OFF") + 3:]
    if tail:
        if not tail.isdigit():
            raise LoadError(path, f"unreadable OFF header {first!r}")
        rest = [tail] + rest
    try:
        nv, nf = int(rest[0]), int(rest[1])
    except (ValueError, IndexError):
        raise LoadError(path, "OFF header has no readable vertex/face counts") from None
    if nv < 0 or nf < 0:
        raise LoadError(path, "OFF header has negative counts")
    _claim_too_big(path, nv, "vertices")
    body = rest[3:]
    if len(body) < 3 * nv:
        raise LoadError(path, f"header says {nv:,} vertices but the file holds only {len(body) // 3:,}: "
                              "truncated or corrupt")
    try:
        verts = np.array(body[: 3 * nv], dtype=np.float64).reshape(nv, 3)
        faces = body[3 * nv:]
        tris = []
        i = 0
        for _ in range(nf):
            k = int(faces[i])
            idx = [int(v) for v in faces[i + 1: i + 1 + k]]
            if len(idx) < k:
                break
            for j in range(1, k - 1):
                tris.append((idx[0], idx[j], idx[j + 1]))
            i += 1 + k
    except (ValueError, IndexError):
        raise LoadError(path, "OFF body has values that are not numbers") from None
    tri = np.array(tris, dtype=np.int64).reshape(-1, 3)
    if tri.size and (tri.max() >= nv or tri.min() < 0):
        raise LoadError(path, "OFF faces refer to vertices that do not exist")
    return verts, tri


def check_stl(path: Path) -> dict:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(84)
    if head[:5].lower() == b"solid" and b"\0" not in head[:80]:
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
