"""The README's first command, timed as a newcomer meets it: a fresh ``AUTODISTILL_HOME``.

``recommend`` fine-tunes the teacher (nothing is cached yet) and ranks the pipelines; ``run
--pick 1`` distils the top pick. Each step is one subprocess, timed by wall clock, with the peak
memory of its process. What the steps reported (the teacher's fine-tune seconds, the verdict,
the pick, the run's dev and test ratios) is read back from the files they wrote, so the figures
and the advice they belong to travel together. ``scripts/setup.sh`` is not timed here: it installs
packages, which depends on the network and a pip cache more than on this project.

    python benchmarks/first_command.py           # vader-valence, tiny, --budget 2: results/first_command.json
    python benchmarks/first_command.py --dataset bbc-news --out /tmp/first-bbc.json

The machine's other load counts: run it on idle cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "first_command.json"
AUTODISTILL = Path(sys.executable).with_name("autodistill")


def timed(command: list[str], env: dict[str, str], cwd: Path, answer: Path | None = None) -> dict[str, float]:
    """Run one step to completion; its wall seconds and its process's peak memory (GB). What it
    prints on stdout (the answer, progress going to stderr) goes to ``answer`` if given."""
    started = time.perf_counter()
    with open(answer or os.devnull, "w") as out:
        child = subprocess.Popen(command, env=env, cwd=cwd, stdout=out)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not every child's so far
    if code := os.waitstatus_to_exitcode(status):
        raise subprocess.CalledProcessError(code, command)
    return {"seconds": round(time.perf_counter() - started, 1), "peak_gb": round(usage.ru_maxrss / 1e6, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="vader-valence")
    parser.add_argument("--student", default="tiny")
    parser.add_argument("--budget", default="2", help="recommend's --budget in minutes, as the README gives it")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="first-command-") as scratch:
        work = Path(scratch)
        env = {**os.environ, "AUTODISTILL_HOME": str(work / "home")}
        picks = work / "picks.json"
        recommend = ["recommend", "--dataset", args.dataset, "--student", args.student, "--budget", args.budget]
        recommend += ["--out", picks.name]  # as the README types it, in the folder the steps run in
        steps = {"recommend": timed([str(AUTODISTILL), *recommend], env, work, answer=work / "answer.txt")}
        answer = (work / "answer.txt").read_text().splitlines()
        run = ["run", "--recommendation", picks.name, "--pick", "1"]
        steps["run --pick 1"] = timed([str(AUTODISTILL), *run], env, work)
        advice = json.loads(picks.read_text())
        result = json.loads(next((work / "home" / "runs" / args.dataset).glob("distill-*/result.json")).read_text())
        teacher = json.loads(next((work / "home" / "finetuned").glob("*/result.json")).read_text())
    total = sum(step["seconds"] for step in steps.values())
    report = {
        "command": f"recommend --dataset {args.dataset} --student {args.student} --budget {args.budget}, "
        "then run --pick 1",
        "steps": steps,
        "total_minutes": round(total / 60, 2),
        "teacher_finetune_seconds": round(teacher["train_seconds"], 1),
        "verdict": advice["verdict"],
        "answer": answer,  # recommend's screen, line for line
        "pick_1": {k: advice["picks"][0][k] for k in ("config", "minutes", "gain")},
        "run": {k: result[k] for k in ("ratio", "test_ratio", "student_params", "teacher_params", "wall_seconds")}
        | {"phases": result["phases"]},  # where the run's seconds went, beside the minutes pick 1 was priced at
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "date": time.strftime("%Y-%m-%d")},
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['command']}: {report['total_minutes']} min on {os.cpu_count()} CPUs "
          f"(teacher fine-tune {report['teacher_finetune_seconds']} s); test ratio {result['test_ratio']:.3f}; "
          f"wrote {args.out}")  # fmt: skip


if __name__ == "__main__":
    main()
