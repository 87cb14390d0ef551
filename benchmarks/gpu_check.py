"""The engine on one GPU: does every piece run there, and how fast is it.

Checks, each recorded with its status (``ok``, ``failed`` with the error, or ``skipped``
with the reason) in ``benchmarks/results/gpu_check.json`` with the GPU's name:

* ``bf16``        the teacher fine-tuned in bf16 (autocast on CUDA) on every task type;
* ``matrix``      every intermediate loss × mapping distilled once on a small slice, spread
  over the five task types (classification, pair, regression, span, token), plus MI-α with
  the second critic and mixup;
* ``team``        a learned team (AutoSKDBERT) with teacher selection and candidate retraining;
* ``cache``       the teacher-output cache built, loaded again, and served on the device;
* ``launch``      one small run through ``accelerate launch --num_processes 1``;
* ``throughput``  examples/s of the engine, the hand loop and TextBrewer 0.2.1 at 128 tokens,
  MPNet-base teacher and a TinyBERT4-shaped student (the loops of ``engine_throughput.py``).

The paper's pair at a realistic budget (MPNet-base → TinyBERT4, every study configuration,
scored on test) is the study's sweep, not a check here: ``autodistill study sweep --fidelity
realistic --teacher mpnet-base --students tinybert4`` (``benchmarks/gpu/sweep.sh``).

``--cpu-smoke`` runs everything that does not need CUDA on a tiny slice with the MiniLM
teacher and the ``tiny`` student, prints the record and writes nothing under results/;
the CUDA checks are recorded as skipped. A GPU machine can run the checks in several
commands (``--checks``): each one updates its entries of the JSON file.

Usage: .venv/bin/python benchmarks/gpu_check.py [--cpu-smoke] [--checks matrix,team] [--tasks token]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch
from accelerate.state import AcceleratorState

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import engine  # noqa: E402
import engine.pipelines.run as engine_run  # noqa: E402  (its TEACHER_SETTINGS: the slice's teacher)
import engine.teachers.finetune as engine_finetune  # noqa: E402  (and the fine-tune's)
from benchmarks import engine_throughput as loops  # noqa: E402
from engine import TrainSettings, component_names, load_task, parse_config  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "gpu_check.json"
CUDA_ONLY = "skipped: needs a CUDA GPU and this machine has none; run benchmarks/gpu_check.py on one"
#: The task types and the catalog set each is checked on.
TASKS = {
    "classification": "wordnet-lexname",
    "pair": "wordnet-gloss-pair",
    "regression": "sotu-year",
    "span": "wordnet-span",
    "token": "brown-pos",
}
MIXUP_TASKS = ("classification", "token")
#: The throughput comparison's data and loop sizes (engine_throughput.py's arguments).
THROUGHPUT = {"dataset": "bbc-news", "examples": 1024, "max_length": 128, "batch_size": 32, "threads": 8}
CHECKS = ("bf16", "matrix", "team", "cache", "launch", "throughput")
CUDA_CHECKS = ("bf16", "throughput")


@dataclass(frozen=True)
class Scale:
    """Models and slice sizes of one check session."""

    teacher: str
    student: str
    examples: int
    eval_examples: int
    max_length: int
    batch_size: int
    precision: str  # the teacher's fine-tune precision

    def teacher_settings(self) -> TrainSettings:
        return TrainSettings(
            epochs=1,
            batch_size=self.batch_size,
            lr=1e-4,
            max_length=self.max_length,
            max_train_examples=self.examples,
            max_eval_examples=self.eval_examples,
            precision=self.precision,
        )

    def train(self, **extra: object) -> dict:
        """The student's settings on the slice (``auto`` precision: bf16 on the GPU)."""
        return {
            "epochs": 1,
            "batch_size": self.batch_size,
            "max_length": self.max_length,
            "max_train_examples": self.examples,
            "max_eval_examples": self.eval_examples,
            **extra,
        }


SMOKE = Scale("minilm-l6", "tiny", examples=16, eval_examples=8, max_length=32, batch_size=8, precision="fp32")
GPU = Scale("mpnet-base", "tinybert4", examples=512, eval_examples=256, max_length=128, batch_size=32, precision="bf16")


@dataclass
class Session:
    scale: Scale
    tasks: tuple[str, ...]
    workdir: Path
    matrix_limit: int | None
    cuda: bool
    textbrewer_dir: Path | None = None  # a folder with textbrewer 0.2.1 installed (machines without network)

    def task(self, kind: str):
        return load_task(TASKS[kind])

    def config(self, kind: str, **fields: object):
        """A distillation config on the slice of ``kind``'s catalog set."""
        base = {"dataset": TASKS[kind], "teacher": self.scale.teacher, "student": self.scale.student}
        if kind == "regression":
            base["pred_loss"] = "mse"
        return parse_config({**base, "train": self.scale.train(), **fields})

    def run(self, kind: str, name: str, **fields: object) -> dict:
        config = self.config(kind, **fields)
        tick = time.perf_counter()
        result = engine.run(config, output_dir=self.workdir / name, show_progress=False, task=self.task(kind))
        return {
            "task": kind,
            "student_dev": result.student_score,
            "teacher_dev": result.teacher_score,
            "seconds": round(time.perf_counter() - tick, 2),
        }


def guarded(action: Callable[[], object]) -> dict:
    """Run one piece: its result, or the error that stopped it (the check goes on).

    accelerate keeps one precision per process; the pieces here mix fp32 and bf16, so each
    starts from a fresh accelerator state (the process group, if any, is kept)."""
    AcceleratorState._reset_state(reset_partial_state=False)
    try:
        return {"status": "ok", "result": action()}
    except Exception as error:  # a check reports every failure, whatever its type
        return {
            "status": "failed",
            "error": f"{type(error).__name__}: {error}",
            "trace": traceback.format_exc()[-1500:],
        }


def summarise(pieces: dict[str, dict]) -> dict:
    failed = [name for name, piece in pieces.items() if piece["status"] == "failed"]
    return {"status": "failed" if failed else "ok", "failed": failed, "pieces": pieces}


# --------------------------------------------------------------------------- the checks


def check_bf16(session: Session) -> dict:
    """Fine-tune the teacher in bf16 on every task type; the weights must stay finite."""

    def one(kind: str) -> dict:
        tick = time.perf_counter()
        info = engine.finetune_teacher(session.scale.teacher, session.task(kind), session.scale.teacher_settings())
        return {"dev": info.dev_score, "seconds": round(time.perf_counter() - tick, 2)}

    return summarise({kind: guarded(lambda kind=kind: one(kind)) for kind in session.tasks})


def matrix_runs(session: Session) -> list[tuple[str, str, dict]]:
    """(name, task type, config fields): each loss × mapping once, round-robin over the task types."""
    names = component_names()
    runs = []
    for i, (loss, mapping) in enumerate((lo, m) for lo in names["inter_loss"] for m in names["mapping"]):
        runs.append(
            (f"{loss}-{mapping}", session.tasks[i % len(session.tasks)], {"inter_loss": loss, "mapping": mapping})
        )
    for critic in names["critic"][1:]:  # the default critic ran in the loss × mapping runs
        runs.append((f"mi-{critic}", session.tasks[0], {"inter_loss": "mi", "alpha": 0.9, "critic": critic}))
    for kind in (k for k in MIXUP_TASKS if k in session.tasks):
        runs.append((f"mixup-{kind}", kind, {"augment": ["mixup"]}))
    return runs if session.matrix_limit is None else runs[: session.matrix_limit]


def check_matrix(session: Session) -> dict:
    pieces = {}
    for name, kind, fields in matrix_runs(session):
        pieces[f"{name} ({kind})"] = guarded(
            lambda name=name, kind=kind, fields=fields: session.run(kind, name, **fields)
        )
    return summarise(pieces)


def check_team(session: Session) -> dict:
    """A learned team: selection happens, the configured candidates are saved, two are retrained."""
    teacher, kind = session.scale.teacher, session.tasks[0]
    team = {
        "teachers": [f"{teacher}:layers=0", f"{teacher}:layers=0:seed=3"],
        "mode": "learned",
        "drop_m": 1,
        "candidates": 3,
        "theta_lr": 0.05,
    }
    config = session.config(kind, team=team, train=session.scale.train(min_steps=6))

    def learned() -> dict:
        result = engine.run(config, output_dir=session.workdir / "team", show_progress=False, task=session.task(kind))
        report = result.team
        if report.get("selected_theta") is None or len(report.get("candidates", [])) != 3:
            raise AssertionError(f"no selection or not 3 candidates: {report}")
        runs = engine.retrain_candidates(
            config,
            result,
            limit=2,
            task=session.task(kind),
            output_root=session.workdir / "candidates",
            show_progress=False,
        )
        return {
            "steps": report["steps"],
            "dropped": report["dropped"],
            "candidates": len(report["candidates"]),
            "retrained": [{"step": r.step, "student_dev": r.result.student_score} for r in runs],
        }

    return summarise({kind: guarded(learned)})


def check_cache(session: Session) -> dict:
    """Build the teacher-output cache, load it again, and compare what it serves with a live forward."""
    from engine.kd.teacher_cache import TeacherCache, teacher_forward
    from engine.tasks import encode_split
    from engine.tasks.encoding import collate, limit_examples

    device = "cuda" if session.cuda else "cpu"

    def one(kind: str) -> dict:
        task, scale = session.task(kind), session.scale
        info = engine.finetune_teacher(scale.teacher, task, scale.teacher_settings(), show_progress=False)
        tokenizer = engine.load_tokenizer(str(info.model_dir))
        teacher = engine.load_task_model(str(info.model_dir), task.spec).to(device).eval()
        frame = limit_examples(task.train, scale.examples, 0)
        split = encode_split(frame, task.spec, tokenizer, scale.max_length, train=True)
        key, times = f"gpu-check-{time.time()}", []
        for _ in range(2):  # built, then loaded
            tick = time.perf_counter()
            cache = TeacherCache.build_or_load(
                teacher, key, task.spec, split, tokenizer.pad_token_id, device=device, show_progress=False
            )
            times.append(round(time.perf_counter() - tick, 3))
        batch = {
            k: v.to(device) for k, v in collate(split, list(range(min(4, len(split)))), tokenizer.pad_token_id).items()
        }
        served = cache.lookup(batch["index"], batch["input_ids"].shape[1], device, ())
        with torch.no_grad():
            live = teacher_forward(teacher, batch, task.spec)
        diff = max(float((s.float() - t.float()).abs().max()) for s, t in zip(served.logits, live.logits, strict=True))
        return {
            "build_s": times[0],
            "load_s": times[1],
            "served_on": str(served.logits[0].device),
            "max_abs_diff": diff,
        }

    return summarise({kind: guarded(lambda kind=kind: one(kind)) for kind in session.tasks[:2]})


def check_launch(session: Session) -> dict:
    """One small run in a child started by ``accelerate launch --num_processes 1``."""
    kind = session.tasks[0]
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", str(Path(__file__).resolve()),
        "--child", json.dumps({"kind": kind, "workdir": str(session.workdir / "launched"), "smoke": not session.cuda}),
    ]  # fmt: skip

    def launched() -> dict:
        out = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        line = next((x for x in out.stdout.splitlines() if x.startswith("LAUNCHED ")), None)
        if out.returncode != 0 or line is None:
            raise RuntimeError(f"accelerate launch exited {out.returncode}: {out.stderr[-1500:]}")
        return json.loads(line.split(" ", 1)[1])

    return summarise({kind: guarded(launched)})


def child(spec: str) -> None:
    """The launched side of :func:`check_launch`: one run, then what the process saw."""
    args = json.loads(spec)
    session = make_session(SMOKE if args["smoke"] else GPU, (args["kind"],), Path(args["workdir"]), None)
    row = session.run(args["kind"], "launched", inter_loss="mse", mapping="skip")
    state = engine.distributed.state()
    row.update(
        distributed_type=str(state.distributed_type), num_processes=state.num_processes, device=str(state.device)
    )
    print("LAUNCHED", json.dumps(row), flush=True)


def check_throughput(session: Session) -> dict:
    """Examples/s at 128 tokens: hand loop, engine (fp32 and bf16, live teacher and cache), TextBrewer."""
    args = SimpleNamespace(
        **THROUGHPUT, teacher=session.scale.teacher, precision="fp32", textbrewer_dir=session.textbrewer_dir
    )
    engine.prepare_dataset(args.dataset)
    task, tokenizer, split, dev = loops._setup(args)
    name = session.scale.student
    bf16 = SimpleNamespace(**{**vars(args), "precision": "bf16"})
    pieces = {
        "hand loop (fp32)": guarded(lambda: loops.hand_loop(task, split, args, name)),
        "engine (fp32, live teacher)": guarded(
            lambda: loops.engine(task, tokenizer, split, dev, args, name, cached=False)[0]
        ),
        "engine (fp32, cache)": guarded(lambda: loops.engine(task, tokenizer, split, dev, args, name, cached=True)[0]),
        "engine (bf16, cache)": guarded(lambda: loops.engine(task, tokenizer, split, dev, bf16, name, cached=True)[0]),
    }
    student = engine.build_student(name, args.teacher, task.spec)
    pairs = loops.skip_pairs(student, engine.load_task_model(args.teacher, task.spec).config.num_hidden_layers)
    pieces["TextBrewer 0.2.1 (fp32)"] = guarded(lambda: _measured(loops.textbrewer(args, name, pairs)))
    return summarise(pieces)


def _measured(value: float | None) -> float:
    if value is None:  # engine_throughput printed why (install or run failed)
        raise RuntimeError("TextBrewer gave no figure; see the output above")
    return value


RUNNERS: dict[str, Callable[[Session], dict]] = {
    "bf16": check_bf16,
    "matrix": check_matrix,
    "team": check_team,
    "cache": check_cache,
    "launch": check_launch,
    "throughput": check_throughput,
}


# --------------------------------------------------------------------------- session


def make_session(scale: Scale, tasks: tuple[str, ...], workdir: Path, matrix_limit: int | None) -> Session:
    for kind in tasks:
        engine.prepare_dataset(TASKS[kind])
    # every slice teacher: one short fine-tune, which its plan line reads as the teacher's own settings
    engine_run.TEACHER_SETTINGS = engine_finetune.TEACHER_SETTINGS = scale.teacher_settings()
    return Session(scale, tasks, workdir, matrix_limit, cuda=torch.cuda.is_available())


def environment() -> dict:
    cuda = torch.cuda.is_available()
    return {
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "bf16_supported": bool(cuda and torch.cuda.is_bf16_supported()),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "date": time.strftime("%Y-%m-%d"),
    }


def run_checks(session: Session, checks: list[str]) -> dict[str, dict]:
    record = {}
    for name in checks:
        if name in CUDA_CHECKS and not session.cuda:
            record[name] = {"status": "skipped", "reason": CUDA_ONLY}
            print(f"{name}: {CUDA_ONLY}", flush=True)
            continue
        tick = time.perf_counter()
        record[name] = {**RUNNERS[name](session), "seconds": round(time.perf_counter() - tick, 1)}
        print(f"{name}: {record[name]['status']} ({record[name]['seconds']} s)", flush=True)
    return record


def save(record: dict, environment_now: dict) -> None:
    """Merge this invocation's checks into the committed record (one machine may run them in parts).

    Each check keeps the machine it ran on: parts run on different days may get different GPUs.
    A record written before that holds one ``environment`` for all its checks.
    """
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"checks": {}}
    checks = {name: {"environment": old.get("environment"), **entry} for name, entry in old["checks"].items()}
    checks |= {name: {**entry, "environment": environment_now} for name, entry in record.items()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"checks": checks}, indent=2) + "\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="the non-CUDA checks on a tiny slice; writes nothing")
    parser.add_argument("--checks", default=",".join(CHECKS), help=f"comma-separated, of {', '.join(CHECKS)}")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"task types, of {', '.join(TASKS)}")
    parser.add_argument("--matrix-limit", type=int, default=None, help="run only the first N matrix runs")
    parser.add_argument("--workdir", type=Path, default=None, help="run folders (default: a temporary folder)")
    parser.add_argument(
        "--textbrewer-dir", type=Path, default=None, help="textbrewer 0.2.1 installed here (pip --target)"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for value, valid in ((args.checks, CHECKS), (args.tasks, TASKS)):
        unknown = set(value.split(",")) - set(valid)
        if unknown:
            parser.error(f"unknown {sorted(unknown)}; choose from {', '.join(valid)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        child(args.child)
        return 0
    if not args.cpu_smoke and not torch.cuda.is_available():
        print("no CUDA GPU here: run with --cpu-smoke, or on a GPU machine", file=sys.stderr)
        return 2
    tasks = tuple(args.tasks.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        session = make_session(SMOKE if args.cpu_smoke else GPU, tasks, workdir, args.matrix_limit)
        session.textbrewer_dir = args.textbrewer_dir
        record = run_checks(session, args.checks.split(","))
    if args.cpu_smoke:
        print("GPU_CHECK", json.dumps({"environment": environment(), "checks": record}), flush=True)
    else:
        save(record, environment())
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 1 if any(c["status"] == "failed" for c in record.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
