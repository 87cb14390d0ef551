"""Rebuild the fp32 MPNet-base weights from ``pack.py``'s parts (run on the GPU machine).

Usage: python3 benchmarks/gpu/unpack.py PARTS_DIR MODEL_DIR   (writes MODEL_DIR/model.safetensors)
"""

from __future__ import annotations

import json
import lzma
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file


def main(parts: Path, model_dir: Path) -> None:
    meta = json.loads((parts / "meta.json").read_text())
    blob = b"".join(p.read_bytes() for p in sorted(parts.glob("part*"), key=lambda p: int(p.name[4:])))
    high = np.frombuffer(lzma.decompress(blob[: meta["hi_len"]]), np.uint8)
    low = np.frombuffer(blob[meta["hi_len"] :], np.uint8)
    if not len(high) == len(low) == meta["n"]:
        raise SystemExit(f"parts incomplete: {len(high)} high and {len(low)} low bytes of {meta['n']}")
    values = np.stack([low, high], 1).reshape(-1).view(np.float16)
    tensors, start = load_file(str(parts / "other.safetensors")), 0
    for name, shape in meta["tensors"]:
        size = int(np.prod(shape))
        tensors[name] = values[start : start + size].reshape(shape).astype(np.float32)
        start += size
    save_file(tensors, str(model_dir / "model.safetensors"), metadata={"format": "pt"})
    print("MPNET_OK", len(tensors), "tensors")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
