"""Augmentation throughput on CPU, and how long the trainer waits for augmented batches.

    .venv/bin/python benchmarks/augment_throughput.py [--dataset wordnet-lexname] [--sentences 512]
        [--mlm bert-base-uncased] [--skip-wait] [--out results.json]

Part 1, sentences/s per elementary operation (one process, after loading its
resources): ``ra`` (EDA with WordNet), ``ca`` with GloVe neighbours (and a masked LM
when ``--mlm`` names one), ``bt`` through Apertium, and mixup (examples/s of mixing a
batch's embeddings and labels for a tiny student).

Part 2, trainer wait share: short distillation runs (MiniLM teacher fine-tuned for
one epoch, ``tiny`` student, one epoch) with a text policy, augmentation in the
trainer's process (``aug_workers=0``) versus one background worker. The share is the
time the training loop spent waiting for augmented batches over its training time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine.augment import AugmentSettings, TextItem
from engine.augment.backtranslation import BackTranslation, apertium_modes
from engine.augment.base import TextOperation
from engine.augment.contextual import ContextualAugmentation
from engine.augment.mixup import mix_inputs, mix_targets, plan_mixup
from engine.augment.random_eda import RandomAugmentation
from engine.data import load_task
from engine.data.schema import TaskData


def sentences_per_second(op: TextOperation, texts: list[str], batch: int = 64) -> float:
    op.prepare()
    warm = [f"{t} again" for t in texts[:8]]  # load lazily built tables without seeing the timed texts
    op.augment([TextItem(t) for t in warm], [np.random.default_rng(i) for i in range(8)])
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        chunk = texts[i : i + batch]
        op.augment([TextItem(t) for t in chunk], [np.random.default_rng([i, j]) for j in range(len(chunk))])
    return len(texts) / (time.perf_counter() - start)


def mixup_examples_per_second(task: TaskData, batches: int = 20) -> float:
    from engine.models.zoo import build_student, load_tokenizer
    from engine.tasks import encode_split
    from engine.tasks.encoding import collate

    tokenizer = load_tokenizer("minilm-l6")
    student = build_student("tiny", "minilm-l6", task.spec)
    split = encode_split(task.train.iloc[: 16 * batches], task.spec, tokenizer, 64, train=True)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with torch.no_grad():
        for b in range(batches):
            batch = collate(split, list(range(16 * b, 16 * (b + 1))), tokenizer.pad_token_id)
            perm, lam = plan_mixup(rng, 16, 1, "beta", 0.4)
            mix_inputs(student, batch, perm, lam)
            mix_targets(batch["labels"], task.spec, perm, lam, batch["input_ids"].shape[1])
    return 16 * batches / (time.perf_counter() - start)


def wait_shares(task: TaskData, policies: list[tuple[str, ...]], examples: int) -> list[dict]:
    import engine.pipelines.run
    import engine.teachers.finetune
    from engine.config import DistillConfig, TrainSettings

    teacher = TrainSettings(epochs=1, batch_size=16, max_length=64, max_train_examples=examples, max_eval_examples=64)
    engine.pipelines.run.TEACHER_SETTINGS = engine.teachers.finetune.TEACHER_SETTINGS = teacher
    train = TrainSettings(epochs=1, batch_size=16, max_length=64, max_train_examples=examples, max_eval_examples=64)
    rows = []
    for augment in policies:
        for workers in (0, 1):
            config = DistillConfig(
                dataset=task.spec.name, student="tiny", augment=augment, aug_workers=workers, train=train
            )
            with tempfile.TemporaryDirectory() as out:
                result = engine.pipelines.run.run(config, task=task, output_dir=Path(out), show_progress=False)
            report = result.augmentation
            rows.append(
                {
                    "policy": "+".join(augment),
                    "aug_workers": workers,
                    "train_seconds": round(result.train_seconds, 1),
                    "trainer_wait_seconds": report["trainer_wait_seconds"],
                    "trainer_wait_share": report["trainer_wait_share"],
                    "first_batch_wait_seconds": report["first_batch_wait_seconds"],
                }
            )
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="wordnet-lexname")
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--mlm", default=None, help="also time ca with this masked-LM id or folder")
    parser.add_argument("--wait-examples", type=int, default=256)
    parser.add_argument("--skip-wait", action="store_true")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

    task = load_task(args.dataset)
    texts = task.train["text"].astype(str).tolist()[: args.sentences]
    words = float(np.mean([len(t.split()) for t in texts]))
    settings = AugmentSettings(aug_p=0.1)
    ops: dict[str, TextOperation] = {
        "ra": RandomAugmentation(settings),
        "ca (glove)": ContextualAugmentation(settings),
    }
    if args.mlm:
        ops[f"ca (masked-lm {args.mlm})"] = ContextualAugmentation(AugmentSettings(aug_p=0.1, ca_model=args.mlm))
    throughput = {name: round(sentences_per_second(op, texts), 1) for name, op in ops.items()}
    if "eng-spa" in apertium_modes():  # a fresh operation each time: nothing remembered
        for batch in (16, 64, 512):
            rate = sentences_per_second(BackTranslation(settings), texts, batch=batch)
            throughput[f"bt (apertium eng-spa, {batch} per call)"] = round(rate, 1)
    throughput["mixup (examples/s, tiny student)"] = round(mixup_examples_per_second(task), 1)
    print(
        f"{len(texts)} sentences from {args.dataset}, {words:.1f} words on average; "
        f"CPU threads {torch.get_num_threads()}"
    )
    for name, rate in throughput.items():
        print(f"  {name:<40} {rate:>10.1f} /s")
    results = {"dataset": args.dataset, "sentences": len(texts), "mean_words": words, "throughput": throughput}
    if not args.skip_wait:
        policies = [("ca", "ra")] + ([("bt",)] if "eng-spa" in apertium_modes() else [])
        results["wait"] = wait_shares(task, policies, args.wait_examples)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
