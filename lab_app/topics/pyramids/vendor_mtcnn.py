"""Reproduce resources/mtcnn/ from the facenet-pytorch wheel (run once, by hand; never at run time).

    pip download --no-deps facenet-pytorch==2.6.0 -d /tmp/fnp
    python -m lab_app.topics.pyramids.vendor_mtcnn /tmp/fnp/facenet_pytorch-2.6.0-py3-none-any.whl

The wheel's ``facenet_pytorch/data/{pnet,rnet,onet}.pt`` are plain state dicts: they are read with
``torch.load(weights_only=True)`` (no arbitrary unpickling), straight from the zip, and written as the
lab's safetensors checkpoints (tab "pyramids", architecture "mtcnn-pnet" etc.), with the wheel's
name and each .pt file's SHA-256 in the header. The wheel's licence text is copied beside them.
facenet-pytorch itself is not installed (it pins torch < 2.3)."""

from __future__ import annotations

import argparse
import hashlib
import io
import zipfile
from pathlib import Path

import torch

from lab_app.io.checkpoint import Checkpoint, save_checkpoint

RESOURCES = Path(__file__).resolve().parents[3] / "resources" / "mtcnn"
NETS = ("pnet", "rnet", "onet")


def read_wheel(wheel: Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, str], str]:
    """(state dicts by net, SHA-256 of each .pt, licence text) from the wheel."""
    states, hashes = {}, {}
    with zipfile.ZipFile(wheel) as zf:
        for net in NETS:
            raw = zf.read(f"facenet_pytorch/data/{net}.pt")
            hashes[net] = hashlib.sha256(raw).hexdigest()
            states[net] = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
        licence = next(n for n in zf.namelist() if n.endswith(".dist-info/LICENSE.md"))
        text = zf.read(licence).decode("utf-8")
    return states, hashes, text


def vendor(wheel: Path, out: Path = RESOURCES) -> list[Path]:
    from models.mtcnn import MTCNN

    states, hashes, licence = read_wheel(wheel)
    model = MTCNN()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for net in NETS:
        getattr(model, net).load_state_dict(states[net])   # strict: the names and shapes fit our nets
        ckpt = Checkpoint(tab="pyramids", architecture=f"mtcnn-{net}", state_dict=states[net],
                          extra={"source": f"{wheel.name}: facenet_pytorch/data/{net}.pt",
                                 "source_sha256": hashes[net], "licence": "MIT (LICENSE in this folder)"})
        written.append(save_checkpoint(out / f"{net}.safetensors", ckpt))
    (out / "LICENSE").write_text(licence)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheel", type=Path, help="facenet_pytorch-2.6.0-py3-none-any.whl")
    parser.add_argument("--out", type=Path, default=RESOURCES)
    args = parser.parse_args(argv)
    for path in vendor(args.wheel, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
