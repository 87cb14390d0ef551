"""EMD mapping with MI-α: all N x M layer pairs scored pair by pair vs. from one batched encoding per side.

EMD (Eq. 4) needs l^inter for every (student, teacher) layer pair. MI-α's critics
are shared across pairs, so :meth:`engine.kd.losses.mi.MIAlphaLoss.pairwise` encodes
each hidden state once (N + M encoder passes) where calling the loss per pair
encodes 2 N M times. Both give the same matrix (tests/test_mi.py); this prints
the time of one forward + backward of the mapping's loss on random states, one
CPU thread, best of ``--repeats``:

    python benchmarks/mi_emd_pairs.py --student-layers 3 --teacher-layers 6
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import Tensor

from engine.kd.losses import MIAlphaLoss
from engine.kd.mapping import EMDMapping


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student-layers", type=int, default=3)
    parser.add_argument("--teacher-layers", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--hidden", type=int, default=384)
    parser.add_argument("--critic", default="transformer")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    loss = MIAlphaLoss(hidden_size=args.hidden, alpha=0.9, critic=args.critic)
    shape = (args.batch_size, args.max_length, args.hidden)
    students = [torch.randn(shape, requires_grad=True) for _ in range(args.student_layers + 1)]
    teachers = [torch.randn(shape) for _ in range(args.teacher_layers + 1)]
    mask = torch.ones(shape[:2], dtype=torch.long)
    mapping = EMDMapping(args.student_layers, args.teacher_layers)

    def best_ms(inter_loss: Callable[[Tensor, Tensor, Tensor], Tensor]) -> float:
        times = []
        for _ in range(args.repeats + 1):  # the first is a warm-up
            started = time.perf_counter()
            mapping.loss(students, teachers, mask, inter_loss).backward()
            times.append(time.perf_counter() - started)
        return 1000 * min(times[1:])

    pair_by_pair = best_ms(lambda s, t, m: loss(s, t, m))  # hides .pairwise: one call per pair
    batched = best_ms(loss)
    print(
        f"EMD x MI-α ({args.critic} critics), {args.student_layers} x {args.teacher_layers} layer pairs, "
        f"batch {args.batch_size}, length {args.max_length}, width {args.hidden}, forward + backward:"
    )
    print(f"  pair by pair {pair_by_pair:.0f} ms | batched {batched:.0f} ms | {pair_by_pair / batched:.1f}x faster")


if __name__ == "__main__":
    main()
