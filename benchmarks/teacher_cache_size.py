"""Bytes per example of the teacher-output cache, before (format 1) and after (format 2, sized to need).

Format 1 stored every hidden state of every example padded to the split's longest
sequence, whatever the run's mapping read. Format 2 stores only the states the
mapping reads, real tokens only, fp16. This builds the cache for one data set
three times over, as three runs in turn would: logits only (``mapping: null``),
then the ``skip`` mapping's states (added to it), then ``emd``'s (all states), and
prints the bytes per example measured on disk beside the announced size, the old
format's size and the minimum (real tokens x states kept x hidden size x 2 bytes):

    python benchmarks/teacher_cache_size.py --dataset bbc-news --max-length 128

The teacher is the preset with a fresh task head: sizes do not depend on its
fine-tuning. Caches are written to a temporary home, removed at the end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from engine import DEFAULT_TEACHER, STUDENT_PRESETS, encode_split, load_task, load_task_model, load_tokenizer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="bbc-news")
    parser.add_argument("--teacher", default=DEFAULT_TEACHER)
    parser.add_argument("--student", default="tiny", help="a student preset: its depth sets the skip mapping")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--mappings", default="none,skip,emd", help="runs in turn: none (logits only), skip, emd...")
    args = parser.parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)

    from engine.kd.mapping import build_mapping
    from engine.kd.teacher_cache import TeacherCache, human_bytes, plan_layout

    task = load_task(args.dataset)  # read from the usual home before switching to a temporary one
    tokenizer = load_tokenizer(args.teacher)
    split = encode_split(task.train, task.spec, tokenizer, args.max_length, train=True)
    teacher = load_task_model(args.teacher, task.spec).eval()
    layout = plan_layout(teacher, task.spec, split, tokenizer.pad_token_id)
    n, width = len(split), layout.hidden_size
    longest = max(len(ids) for ids in split.input_ids)
    # Format 1: every state, padded to the longest example, fp16; logits fp32 padded alike.
    logits_row = layout.logits_bytes // layout.logits_rows
    old = n * (layout.num_hidden * longest * width * 2 + logits_row * (longest if layout.ragged_logits else 1))
    student_layers = STUDENT_PRESETS[args.student].layers
    runs: dict[str, tuple[int, ...]] = {}
    for name in args.mappings.split(","):
        if name == "none":
            runs["logits only"] = ()
            continue
        mapping = build_mapping(name, num_student_layers=student_layers, num_teacher_layers=layout.num_hidden - 1)
        runs[f"{name} mapping"] = mapping.teacher_layers
    print(
        f"{args.dataset}: {n} training examples, {layout.tokens / n:.1f} real tokens each on average "
        f"(longest {longest}, max length {args.max_length}); teacher {args.teacher}: "
        f"{layout.num_hidden} hidden states x {width}; student {args.student} ({student_layers} layers)"
    )
    print(f"  format 1 (every state, padded): {human_bytes(old / n)} per example, {human_bytes(old)} in all")
    with tempfile.TemporaryDirectory() as home:
        os.environ["AUTODISTILL_HOME"] = home
        for name, layers in runs.items():
            started = time.perf_counter()
            cache = TeacherCache.build_or_load(
                teacher, args.teacher, task.spec, split, tokenizer.pad_token_id, layers=layers, show_progress=False
            )
            seconds = time.perf_counter() - started
            written, announced = cache.disk_bytes(), layout.size(cache.layers)
            minimum = layout.tokens * len(layers) * width * 2
            states = ",".join(map(str, layers)) or "none"
            against = f", {written / minimum:.3f}x the minimum" if minimum else ""
            print(
                f"  format 2, {name:<12} (states {states}): {human_bytes(written / n)} per example "
                f"({human_bytes(written)} on disk, announced {human_bytes(announced)}{against}); "
                f"{old / written:.1f}x smaller than format 1; built in {seconds:.0f} s"
            )


if __name__ == "__main__":
    main()
