"""Pack the MPNet-base weights into parts small enough for an offline GPU machine's per-call transfer limit.

A transfer to the machine carries at most 64 MiB per call, and a machine given back loses
everything, so the 438 MB fp32 teacher travels as fp16 (largest relative error of a tensor
3.0e-4, under bf16 training's own rounding) in byte planes: the high bytes (sign, exponent)
xz-compressed to 76 %, the low bytes raw. ``unpack.py`` rebuilds the fp32 folder there.

Usage: python benchmarks/gpu/pack.py MODEL_DIR OUT_DIR SIZE0,SIZE1,...   (last part: the rest)
"""

from __future__ import annotations

import itertools
import json
import lzma
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file


def main(model_dir: Path, out: Path, sizes: list[int]) -> None:
    weights = load_file(str(model_dir / "model.safetensors"))
    halves = {k: v.astype(np.float16) for k, v in weights.items() if v.dtype == np.float32}
    planes = np.concatenate([v.ravel() for v in halves.values()]).view(np.uint8).reshape(-1, 2)
    high = lzma.compress(np.ascontiguousarray(planes[:, 1]).tobytes(), preset=1)
    blob = high + np.ascontiguousarray(planes[:, 0]).tobytes()
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v for k, v in weights.items() if k not in halves}, str(out / "other.safetensors"))
    meta = {"tensors": [[k, list(v.shape)] for k, v in halves.items()], "hi_len": len(high), "n": len(planes)}
    (out / "meta.json").write_text(json.dumps(meta))
    bounds = [*np.cumsum([0, *sizes[:-1]]).tolist(), len(blob)]
    for i, (start, end) in enumerate(itertools.pairwise(bounds)):
        (out / f"part{i}").write_bytes(blob[start:end])
    print(f"{len(blob)} bytes in {len(sizes)} parts")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")])
