"""Whole ``autodistill run`` invocations against the student's own training.

Every figure is taken in this one invocation, on the same examples (a seeded sample of
``--examples`` training rows), epochs and max length, with the same fine-tuned teacher:

* ``limit``        ``autodistill finetune``: the student trained on labels alone, no teacher.
                   Its training loop's speed is the limit every other speed is divided by;
* ``kd first``     ``autodistill run`` (CE on logits + MSE on Skip-mapped hidden states) in a
                   fresh AUTODISTILL_HOME holding only the fine-tuned teacher and the prepared
                   data set: it builds the teacher cache. ``kd repeat``: the same run again in
                   that home (a new output folder), reading the cache;
* ``aug cached first`` / ``repeat``   the same with augmentation in ``aug_mode: cached``
                   (``--augment``, ``--copies`` copies made once, the teacher's logits on them
                   cached), each first run in its own fresh home; ``aug fresh first``: the
                   paper's mode, new copies and a live teacher every epoch;
* ``hand live``    a minimal PyTorch loop doing the same KD math with a live teacher;
* ``hand memory``  the same loop with the teacher's outputs (logits and the mapped states,
                   fp16 like the cache) computed once and held in memory;
* ``TextBrewer``   ``GeneralDistiller`` of TextBrewer 0.2.1 on the same KD work
                   (``pip install -c scripts/constraints.txt -e '.[bench]'``; skipped, with
                   that line, where it is missing).

Speed is sequences the student trains on (originals and augmented copies) per second: of
the whole invocation for ``autodistill`` commands (wall time of the subprocess), of the loop
for the hand loops and TextBrewer. The issue's targets are printed beside the figures:

* repeat run with augmentation >= 0.8x the speed of the repeat run without;
* first cached-augmentation run <= 1.3x (making the copies + one teacher pass over originals
  and copies + the student's own training on as many sequences);
* the engine's training loop on cached outputs >= 0.9x the hand loop from memory;

and the teacher cache's bytes per example against the minimum (real tokens x states kept
x hidden size x 2 bytes). Figures and the machine go to ``benchmarks/results/end_to_end.json``
(``--quick``: a smoke-size run, written to a temporary file unless ``--out`` is given).

    python benchmarks/end_to_end.py                 # bbc-news, tiny, 512 examples x 3 epochs x 128 tokens
    python benchmarks/end_to_end.py --quick         # a minute or two: proves the script works

The teacher is fine-tuned first where it is not cached (not timed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import e2e_loops as loops  # noqa: E402
from engine import TEACHER_SETTINGS, DistillConfig, finetune_teacher, load_task, paths  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "end_to_end.json"
QUICK = {"examples": 48, "epochs": 1, "max_length": 32, "copies": 2, "augment": "ra"}
#: The KD pipeline every variant runs: what the hand loops and TextBrewer also compute.
PIPELINE = {"mapping": "skip", "inter_loss": "mse", "pred_loss": "ce"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="bbc-news", help="bbc-news or wordnet-lexname suit it")
    parser.add_argument("--student", default="tiny")
    parser.add_argument("--teacher", default="minilm-l6")
    parser.add_argument("--examples", type=int, default=512, help="training examples (a seeded sample)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--augment", default="ra,ca", help="the text policy of the augmented runs")
    parser.add_argument("--copies", type=int, default=4, help="augmented copies per example (repeated_aug)")
    parser.add_argument("--quick", action="store_true", help=f"smoke size: {QUICK}")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "end_to_end.quick.json" if args.quick else RESULTS
    return args


def run_config(args: argparse.Namespace, *, augment: str | None = None, mode: str = "fresh") -> dict:
    """The config file of one ``autodistill`` invocation."""
    train = {"epochs": args.epochs, "max_length": args.max_length, "batch_size": args.batch_size}
    config = {"dataset": args.dataset, "teacher": args.teacher, "student": args.student, **PIPELINE}
    config["train"] = {**train, "max_train_examples": args.examples}
    if augment:
        config.update(augment=augment.split(","), repeated_aug=args.copies, aug_mode=mode)
    DistillConfig.model_validate(config)  # a bad option fails here, before any subprocess
    return config


def fresh_home(root: Path, name: str, teacher_dir: Path, dataset: str) -> Path:
    """A new AUTODISTILL_HOME holding only the fine-tuned teacher (its weights linked, its record
    pointing there: whatever runs write beside it stays in this home) and the prepared data set."""
    home = root / name
    folder = home / "finetuned" / teacher_dir.parent.name
    folder.mkdir(parents=True)
    (folder / "model").symlink_to(teacher_dir)
    record = json.loads((teacher_dir.parent / "result.json").read_text())
    (folder / "result.json").write_text(json.dumps({**record, "model_dir": str(folder / "model")}))
    prepared = paths.home() / "datasets" / dataset
    if prepared.is_dir():
        shutil.copytree(prepared, home / "datasets" / dataset)
    return home


def invoke(command: str, config: dict, home: Path, output: Path, threads: int) -> dict:
    """One ``autodistill`` subprocess; its wall seconds and ``result.json``."""
    output.parent.mkdir(parents=True, exist_ok=True)
    config_file = output.with_suffix(".yaml")
    config_file.write_text(yaml.safe_dump(config))
    env = {**os.environ, "AUTODISTILL_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cli = [sys.executable, "-c", "from cli import app; app()", command, "--config", str(config_file)]
    log = output.with_suffix(".log")
    tick = time.perf_counter()
    with log.open("w") as sink:
        done = subprocess.run([*cli, "--output", str(output)], env=env, stdout=sink, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - tick
    if done.returncode:
        raise SystemExit(f"autodistill {command} failed; its log ({log}) ends:\n{log.read_text()[-3000:]}")
    result = json.loads((output / "result.json").read_text())
    trained = len(result["history"]) * result["train_examples"] + result["augmentation"].get("augmented_examples", 0)
    return {
        "wall_seconds": seconds,
        "outside_run_seconds": seconds - result["wall_seconds"],  # process start, imports, exit
        "sequences": trained,
        "speed": trained / seconds,
        "result": result,
    }


def cli_runs(args: argparse.Namespace, teacher_dir: Path, root: Path) -> dict[str, dict]:
    """Every ``autodistill`` invocation: the limit, KD first and repeat, with and without augmentation."""
    runs: dict[str, dict] = {}
    plain, cached = run_config(args), run_config(args, augment=args.augment, mode="cached")
    limit_home = fresh_home(root, "limit", teacher_dir, args.dataset)
    runs["limit"] = invoke("finetune", plain, limit_home, root / "out" / "limit", args.threads)
    for name, config in (("kd", plain), ("aug cached", cached)):
        home = fresh_home(root, name.replace(" ", "-"), teacher_dir, args.dataset)
        for attempt in ("first", "repeat"):
            out = root / "out" / f"{name.replace(' ', '-')}-{attempt}"
            runs[f"{name} {attempt}"] = invoke("run", config, home, out, args.threads)
            print(f"  {name} {attempt}: {runs[f'{name} {attempt}']['wall_seconds']:.1f} s", flush=True)
        runs[f"{name} first"]["home"] = str(home)
    fresh = run_config(args, augment=args.augment, mode="fresh")
    home = fresh_home(root, "aug-fresh", teacher_dir, args.dataset)
    runs["aug fresh first"] = invoke("run", fresh, home, root / "out" / "aug-fresh-first", args.threads)
    return runs


def machine(threads: int) -> dict:
    from engine.pipelines.latency import cpu_name

    return {
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def targets(runs: dict[str, dict], loops_out: dict, limit_speed: float, args: argparse.Namespace) -> dict:
    """The three target ratios, each with the figures it is made of."""
    first = runs["aug cached first"]
    phases = first["result"]["phases"]
    reference = (
        phases.get("augmented copies", 0.0)
        + loops_out["teacher_pass_seconds_per_sequence"] * args.examples * (1 + args.copies)
        + first["sequences"] / limit_speed
    )
    engine_loop = runs["kd repeat"]["result"]["examples_per_second"]
    return {
        "repeat_aug_vs_repeat_plain": {
            "value": runs["aug cached repeat"]["speed"] / runs["kd repeat"]["speed"],
            "target": ">= 0.8",
        },
        "first_aug_vs_copies_teacher_pass_training": {
            "value": first["wall_seconds"] / reference,
            "target": "<= 1.3",
            "reference_seconds": reference,
            "copies_seconds": phases.get("augmented copies", 0.0),
        },
        "engine_cached_loop_vs_hand_memory": {
            "value": engine_loop / loops_out["hand memory"],
            "target": ">= 0.9",
            "engine_loop_speed": engine_loop,
        },
    }


def report(figures: dict) -> None:
    limit = figures["limit_speed"]
    print(f"\n{'what':<22}{'seconds':>10}{'sequences':>11}{'seq/s':>9}{'vs limit':>10}{'outside run()':>15}")
    for name, run in figures["runs"].items():
        print(
            f"{name:<22}{run['wall_seconds']:>10.1f}{run['sequences']:>11}{run['speed']:>9.1f}"
            f"{run['speed'] / limit:>9.2f}x{run['outside_run_seconds']:>14.1f}s"
        )
    for name in ("hand live", "hand memory", "textbrewer"):
        speed = figures["loops"].get(name)
        shown = "skipped (pip install -c scripts/constraints.txt -e '.[bench]')" if speed is None else ""
        print(f"{name:<22}{'':>21}" + (f"{speed:>9.1f}{speed / limit:>9.2f}x" if speed else shown))
    print(f"(limit: the student's own training loop, {limit:.1f} sequences/s)\n")
    for name, target in figures["targets"].items():
        print(f"target {name}: {target['value']:.2f} (wanted {target['target']})")
    for name, cache in figures["caches"].items():
        against = f", {cache['vs_minimum']:.3f}x the minimum" if cache["minimum_bytes"] else ""
        print(f"teacher cache {name}: {cache['bytes_per_example']:.0f} bytes per example{against}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    task = load_task(args.dataset)
    teacher_dir = finetune_teacher(args.teacher, task, TEACHER_SETTINGS).model_dir
    print(
        f"{args.dataset}: {args.examples} examples x {args.epochs} epochs x {args.max_length} tokens, "
        f"student {args.student}, {args.threads} threads, augmentation {args.augment} x {args.copies} copies"
    )
    with tempfile.TemporaryDirectory(prefix="autodistill-e2e-") as tmp:
        root = Path(tmp)
        runs = cli_runs(args, teacher_dir, root)
        loops_out = loops.measure(task, teacher_dir, args)
        caches = loops.cache_sizes(Path(runs["kd first"].pop("home")), Path(runs["aug cached first"].pop("home")))
    limit_speed = runs["limit"]["result"]["examples_per_second"]
    figures = {
        "machine": machine(args.threads),
        "settings": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, **PIPELINE},
        "limit_speed": limit_speed,
        "runs": {name: {k: v for k, v in run.items() if k != "result"} for name, run in runs.items()},
        "phases": {name: run["result"]["phases"] for name, run in runs.items()},
        "loops": loops_out,
        "targets": targets(runs, loops_out, limit_speed, args),
        "caches": caches,
    }
    report(figures)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
