"""``autodistill report RUN``: one self-contained HTML page a person can look at.

The page shows the loss curves of each term of Eq. 1 and the dev metric per epoch (from
the run's history in ``result.json``), the teacher and the student side by side (score,
parameters, weights on disk, CPU latency), the export's measurements when the run's
student was exported to its default folder, and the config. Charts are inline SVG drawn
by matplotlib, so the page needs no network and no script to show its numbers.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

import yaml

from engine.errors import AutodistillError
from engine.pipelines.result import RESULT_FILE, RunResult

#: What each history term is in Eq. 1 (keys as the objectives log them).
TERMS = {
    "train/loss": "total loss (weighted sum)",
    "train/inter": "Σ m_ij l_inter (intermediate layers)",
    "train/kd": "l_pred(f^T(x), f^S(x)) (β1)",
    "train/gt": "l_pred(y, f^S(x)) (γ1)",
    "train/kd_aug": "l_pred(f^T(x̂), f^S(x̂)) (β2)",
    "train/gt_aug": "l_pred(ŷ, f^S(x̂)) (γ2)",
}
STYLE = """body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}"""


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the run's page (default ``<run>/report.html``) and return its path."""
    run_dir = Path(run_dir)
    if not (run_dir / RESULT_FILE).exists():
        raise AutodistillError(f"{str(run_dir)!r} is not a finished run (no {RESULT_FILE}); pass a run folder")
    result = RunResult.load(run_dir)
    export = run_dir / "student-onnx" / "export.json"
    sections = [
        f"<h1>{html.escape(result.kind)} run {html.escape(result.run_id)} on {html.escape(result.dataset)}</h1>",
        models_table(result, run_dir / "student"),
        export_table(json.loads(export.read_text())) if export.exists() else "",
        "<h2>Training curves (epoch means)</h2>",
        curves_svg(result),
        "<h2>Config</h2>",
        f"<pre>{html.escape(yaml.safe_dump(result.config, sort_keys=False))}</pre>",
    ]
    page = "\n".join(
        [
            "<!doctype html><html><head><meta charset='utf-8'>",
            f"<title>autodistill run {result.run_id}</title>",
            f"<style>{STYLE}</style></head><body>",
            *sections,
            "</body></html>",
        ]
    )
    out = Path(out) if out else run_dir / "report.html"
    out.write_text(page)
    return out


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def models_table(result: RunResult, student_dir: Path) -> str:
    """Teacher against student: dev (and test) score, size, CPU latency at batch 1, as the run measured them."""
    on_disk = sum(p.stat().st_size for p in student_dir.glob("*.safetensors")) / 1e6
    tested = bool(result.student_test_metrics and result.teacher_test_metrics)
    rows = []
    for who, disk in (("teacher", result.teacher_params * 4e-6), ("student", on_disk)):
        test = [f"{getattr(result, f'{who}_test_metrics')[result.metric]:.4f}"] if tested else []
        rows.append(
            [
                who,
                f"{getattr(result, f'{who}_score'):.4f}",
                *test,
                f"{getattr(result, f'{who}_params'):,}",
                f"{disk:.1f}",
                f"{getattr(result, f'{who}_latency_ms'):.2f}",
            ]
        )
    header = ["model", f"dev {result.metric}", *([f"test {result.metric}"] if tested else [])]
    header += ["parameters", "weights (MB; teacher: fp32 estimate)", "CPU ms / example"]
    ratios = f"dev <b>{result.ratio:.4f}</b>" + (f", test <b>{result.test_ratio:.4f}</b>" if tested else "")
    ratio = f"<p>Distillation ratio (student / teacher score): {ratios}; "
    speed = f"{result.examples_per_second:.1f} training examples/s, {result.wall_seconds:.0f} s in all.</p>"
    return "<h2>Teacher and student</h2>" + _table(header, rows) + ratio + speed


def export_table(measured: dict) -> str:
    """The export's measurements (``autodistill export``): test score, latency at batch 1 and 32, size."""
    header = ["model", f"test {measured['metric']}", "batch 1 (ms)", "batch 32 (ms)", "size (MB)"]
    rows = [
        [
            r["name"],
            f"{r['score']:.4f}",
            f"{r['latency_batch1_ms']:.2f}",
            f"{r['latency_batch32_ms']:.1f}",
            f"{r['size_mb']:.1f}",
        ]
        for r in measured["rows"]
    ]
    where = f"{html.escape(measured['dataset'])}, {measured['test_examples']} examples"
    note = f"<p>Test split of {where}; CPU, one thread.</p>"
    return "<h2>Exported (ONNX)</h2>" + _table(header, rows) + note


def curves_svg(result: RunResult) -> str:
    """One small chart per Eq. 1 term the run logged, and the dev metric, against the epoch."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no backend to choose

    epochs = [h["epoch"] for h in result.history]
    panels = [(key, label) for key, label in TERMS.items() if any(key in h for h in result.history)]
    panels.append((result.metric, f"dev {result.metric}"))
    figure = Figure(figsize=(3.2 * len(panels), 2.6))
    axes = figure.subplots(1, len(panels), squeeze=False)
    for axis, (key, label) in zip(axes[0], panels, strict=True):
        axis.plot(epochs, [h.get(key, float("nan")) for h in result.history], marker="o")
        axis.set_title(label, fontsize=8)
        axis.set_xlabel("epoch", fontsize=8)
        axis.tick_params(labelsize=7)
    figure.tight_layout()
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none"}):  # titles and ticks stay text a reader (or a test) can find
        figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]
