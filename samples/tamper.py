"""Makes tampered copies of the sample for `make demo`: what verification must catch.

python samples/tamper.py weight build/model.onnx build/tampered-weight/model.onnx
python samples/tamper.py byte build/tampered-data/data/train.csv 100
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import onnx


def tamper_weight(src: Path, dst: Path) -> str:
    """Nudges the first fitted coefficient of the sample's classifier; returns what changed."""
    model = onnx.load(str(src))
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name == "coefficients" and len(attr.floats):
                attr.floats[0] += 0.25
                dst.parent.mkdir(parents=True, exist_ok=True)
                onnx.save(model, str(dst))
                return f"{node.op_type}.{attr.name}[0]"
    raise SystemExit(f"{src}: no coefficients to tamper with")


def flip_byte(path: Path, offset: int) -> str:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))
    return f"{path} byte {offset}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    w = sub.add_parser("weight")
    w.add_argument("src", type=Path)
    w.add_argument("dst", type=Path)
    b = sub.add_parser("byte")
    b.add_argument("file", type=Path)
    b.add_argument("offset", type=int)
    args = ap.parse_args()
    changed = (
        tamper_weight(args.src, args.dst)
        if args.what == "weight"
        else flip_byte(args.file, args.offset)
    )
    print(f"tampered: {changed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
