"""``autodistill report RUN``: one self-contained HTML page a person can look at.

The page shows the loss curves of each term of Eq. 1 and the dev metric: per optimizer step
where the run's tracking logged steps (:mod:`engine.pipelines.step_log`), else the epoch
means of ``result.json``; the teacher and the student side by side (scores labelled with
their split and how many examples they are over, parameters, weights on disk, CPU latency
from each model's one latency record), the export's measurements when the run's student
was exported to its default folder, and the config. Charts are inline SVG drawn
by matplotlib, so the page needs no network and no script to show its numbers.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

import yaml

from engine.errors import AutodistillError
from engine.pipelines.export import BUSY_MARK, BUSY_NOTE
from engine.pipelines.result import RESULT_FILE, RunResult
from engine.pipelines.step_log import Steps, logged_steps
from engine.tasks import one_answer_note

#: What each history term is in Eq. 1 (keys as the objectives log them).
TERMS = {
    "train/loss": "total loss (weighted sum)",
    "train/inter": "Σ m_ij l_inter (intermediate layers)",
    "train/kd": "l_pred(f^T(x), f^S(x)) (β1)",
    "train/gt": "l_pred(y, f^S(x)) (γ1)",
    "train/kd_aug": "l_pred(f^T(x̂), f^S(x̂)) (β2)",
    "train/gt_aug": "l_pred(ŷ, f^S(x̂)) (γ2)",
}
#: Nothing may be wider than the 1,000-px column: charts and images scale down to it, a wide table
#: or config scrolls inside its own box instead of widening the page.
STYLE = """body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
svg,img{max-width:100%;height:auto;display:block}.wide{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}pre{background:#f6f6f6;padding:1em;overflow:auto}
.note{color:#555;font-size:90%}"""
#: Charts per row: three 3.2-inch panels are 922 px, inside the column.
PANELS_PER_ROW = 3


def write_report(run_dir: Path, out: Path | None = None) -> Path:
    """Write the run's page (default ``<run>/report.html``) and return its path."""
    run_dir = Path(run_dir)
    if not (run_dir / RESULT_FILE).exists():
        raise AutodistillError(f"{str(run_dir)!r} is not a finished run (no {RESULT_FILE}); pass a run folder")
    result = RunResult.load(run_dir)
    export = run_dir / "student-onnx" / "export.json"
    steps = logged_steps(run_dir / "tracking")
    curves = "per optimizer step, with the epoch means as dots" if steps else "epoch means; no steps were logged"
    sections = [
        f"<h1>{html.escape(result.kind)} run {html.escape(result.run_id)} on {html.escape(result.dataset)}</h1>",
        models_table(result, run_dir / "student"),
        team_table(result.team, result.metric) if result.team else "",
        export_table(json.loads(export.read_text())) if export.exists() else "",
        f"<h2>Training curves ({curves})</h2>",
        curves_svg(result, steps),
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
    return f"<div class='wide'><table><tr>{head}</tr>{body}</table></div>"


def scored_on(result: RunResult, split: str) -> str:
    """How many examples a run's ``split`` score is over, and whether that is a sample or the whole split."""
    n = result.scored_examples.get(split)
    if n is None:
        return "examples not recorded"
    sampled = result.config.get("train", {}).get("max_eval_examples") == n
    return f"n={n}, {'seeded sample' if sampled else 'whole split'}"


def _latency(result: RunResult, who: str) -> str:
    return f"{getattr(result, f'{who}_latency_ms'):.2f}" + BUSY_MARK * (who in result.latency_busy)


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
                _latency(result, who),
            ]
        )
    dev, test = (
        f"dev {result.metric} ({scored_on(result, 'dev')})",
        f"test {result.metric} ({scored_on(result, 'test')})",
    )
    header = ["model", dev, *([test] if tested else [])]
    header += ["parameters", "weights (MB; teacher: fp32 estimate)", "CPU ms / example (1 thread)"]
    ratios = f"dev <b>{result.ratio:.4f}</b>" + (f", test <b>{result.test_ratio:.4f}</b>" if tested else "")
    ratio = f"<p>Distillation ratio (student / teacher score): {ratios}; "
    speed = f"{result.examples_per_second:.1f} training examples/s, {result.wall_seconds:.0f} s in all.</p>"
    busy = f"<p class='note'>{BUSY_MARK} {BUSY_NOTE}.</p>" if result.latency_busy else ""
    one_answer = (
        f"<p class='note'>{html.escape(one_answer_note('The student', result.one_answer))}.</p>"
        if result.one_answer is not None
        else ""
    )
    return "<h2>Teacher and student</h2>" + _table(header, rows) + ratio + speed + busy + one_answer


def team_table(team: dict, metric: str) -> str:
    """A team run's members: size, fine-tuned dev score and, for a learned team, θ after phase 1 (beside
    uniform: a θ that barely left it dropped its teacher on a thin margin) and at the end; the models
    table's teacher is the member best on dev."""
    learned = "phase1_theta" in team
    header = ["member", "layers", "parameters", f"dev {metric}"] + (
        ["θ after phase 1", "θ at the end"] if learned else []
    )
    rows = []
    for i, member in enumerate(team["members"]):
        row = [member["name"], str(member["layers"]), f"{member['params']:,}", f"{member['dev_score']:.4f}"]
        if learned:
            row += [f"{team['phase1_theta'][i]:.3f}", f"{team['theta'][i]:.3f}"]
        rows.append(row)
    note = f"<p class='note'>mode {html.escape(team['mode'])}; the teacher above is {html.escape(team['reference'])}"
    if learned:
        dropped = ", ".join(team.get("dropped") or []) or "none"
        note += f"; uniform θ is {1 / len(team['members']):.3f}; dropped by teacher selection: {html.escape(dropped)}"
    return "<h2>Teacher team</h2>" + _table(header, rows) + note + ".</p>"


def export_table(measured: dict) -> str:
    """The export's measurements (``autodistill export``): test score, latency at batch 1 and 32, size."""
    test = f"test {measured['metric']} (n={measured['test_examples']}, whole split)"
    header = ["model", test, "batch 1 (ms)", "batch 32 (ms)", "size (MB)"]
    rows = [
        [
            r["name"],
            f"{r['score']:.4f}",
            f"{r['latency_batch1_ms']:.2f}" + BUSY_MARK * r.get("busy", False),
            f"{r['latency_batch32_ms']:.1f}" + BUSY_MARK * r.get("busy", False),
            f"{r['size_mb']:.1f}",
        ]
        for r in measured["rows"]
    ]
    where = f"{html.escape(measured['dataset'])}, {measured['test_examples']} examples"
    note = f"<p>Test split of {where}; CPU, one thread (a PyTorch model's latency as its run recorded it).</p>"
    busy = f"<p class='note'>{BUSY_MARK} {BUSY_NOTE}.</p>" if any(r.get("busy") for r in measured["rows"]) else ""
    return "<h2>Exported (ONNX)</h2>" + _table(header, rows) + note + busy


def curves_svg(result: RunResult, steps: Steps | None = None) -> str:
    """One small chart per Eq. 1 term the run logged, and the dev metric: per optimizer step where
    ``steps`` (:func:`~engine.pipelines.step_log.logged_steps`) has the term, with each epoch's mean
    as a dot at the epoch's middle step; otherwise the epoch means against the epoch. Panels wrap
    at :data:`PANELS_PER_ROW`, so the chart fits the page's column."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure  # no pyplot: no global figure state, no backend to choose

    steps = steps or {}
    panels = [(key, label) for key, label in TERMS.items() if any(key in h for h in result.history)]
    panels.append((result.metric, f"dev {result.metric}"))
    columns = min(len(panels), PANELS_PER_ROW)
    rows = -(-len(panels) // columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for axis, (key, label) in zip(axes, panels, strict=False):
        _panel(axis, result.history, key, steps.get(key if key in TERMS else f"dev/{key}", []))
        axis.set_title(label, fontsize=8)
        axis.tick_params(labelsize=7)
    for axis in axes[len(panels) :]:
        axis.set_visible(False)
    figure.tight_layout()
    buffer = io.StringIO()
    with rc_context({"svg.fonttype": "none"}):  # titles and ticks stay text a reader (or a test) can find
        figure.savefig(buffer, format="svg")
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _panel(axis, history: list[dict[str, float]], key: str, logged: list[tuple[int, float]]) -> None:
    from matplotlib.ticker import MaxNLocator

    means = [h.get(key, float("nan")) for h in history]
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(logged) > len(history):  # steps were logged: the curve, and each epoch's mean at its middle
        ends = [h.get("step", float("nan")) for h in history]
        middles = [(start + end) / 2 for start, end in zip([0, *ends[:-1]], ends, strict=True)]
        axis.plot([s for s, _ in logged], [v for _, v in logged], linewidth=0.8, label="per step")
        axis.plot(middles, means, "o", label="epoch mean")
        axis.set_xlabel("optimizer step", fontsize=8)
        axis.legend(fontsize=6)
    else:
        axis.plot([h["epoch"] for h in history], means, marker="o")
        axis.set_xlabel("epoch", fontsize=8)
