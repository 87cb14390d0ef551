"""The run's HTML page fits its column, draws per-step curves where steps were logged, and labels every
score with its split and sample size. Built from a written run folder (no training), so it takes seconds;
where a headless Chromium is installed the layout is also measured in it at 1,280 px."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path

import pytest

from engine.pipelines.report import write_report
from engine.pipelines.result import RESULT_FILE, RunResult

TERMS = ("train/loss", "train/inter", "train/kd", "train/gt", "train/kd_aug", "train/gt_aug")
STEPS_PER_EPOCH = 64


def _result(run_dir: Path) -> RunResult:
    history = [
        {"epoch": e, "step": e * STEPS_PER_EPOCH, "accuracy": 0.5 + e / 10, **{t: 1 / e for t in TERMS}}
        for e in (1, 2, 3)
    ]
    return RunResult(
        run_id="r1",
        kind="distill",
        dataset="toy",
        task_kind="classification",
        metric="accuracy",
        config={"teacher": "minilm-l6", "train": {"max_eval_examples": 128}},
        student_score=0.8,
        teacher_score=0.9,
        ratio=0.8 / 0.9,
        student_dev_metrics={},
        teacher_dev_metrics={},
        student_params=4_400_000,
        teacher_params=22_700_000,
        student_layers=2,
        student_hidden=128,
        teacher_layers=6,
        teacher_hidden=384,
        train_examples=512,
        best_epoch=3,
        train_seconds=10.0,
        wall_seconds=12.0,
        examples_per_second=150.0,
        teacher_latency_ms=7.73,
        student_latency_ms=1.25,
        output_dir=str(run_dir),
        history=history,
        student_test_metrics={"accuracy": 0.81},
        teacher_test_metrics={"accuracy": 0.88},
        test_ratio=0.81 / 0.88,
        latency_busy=["teacher"],
        scored_examples={"dev": 100, "test": 128},
    )


@pytest.fixture
def page(tmp_path: Path) -> tuple[Path, RunResult]:
    """A finished run with every Eq. 1 term (six charts and the dev metric), steps logged to TensorBoard,
    and an export measured on the whole 300-example test split."""
    from torch.utils.tensorboard import SummaryWriter

    run_dir = tmp_path / "run"
    (run_dir / "student").mkdir(parents=True)
    result = _result(run_dir)
    (run_dir / RESULT_FILE).write_text(json.dumps(asdict(result)))
    writer = SummaryWriter(log_dir=str(run_dir / "tracking" / "tensorboard"))
    for step in range(1, 3 * STEPS_PER_EPOCH + 1):
        for term in TERMS:
            writer.add_scalar(term, 1 / step, step)
    writer.close()
    (run_dir / "student-onnx").mkdir()
    row = {"name": "teacher (PyTorch)", "score": 0.87, "latency_batch1_ms": 7.73, "latency_batch32_ms": 90.0}
    export = {"metric": "accuracy", "dataset": "toy", "test_examples": 300, "rows": [{**row, "size_mb": 90.0}]}
    (run_dir / "student-onnx" / "export.json").write_text(json.dumps(export))
    return write_report(run_dir, tmp_path / "report.html"), result


def _svg_width_px(html: str) -> float:
    width = re.search(r'<svg[^>]*\swidth="([\d.]+)pt"', html)
    return float(width.group(1)) * 96 / 72


def test_the_charts_are_drawn_no_wider_than_the_column_and_scale_down_with_it(page) -> None:
    html = page[0].read_text()
    column = int(re.search(r"body\{[^}]*max-width:(\d+)px", html).group(1))
    assert _svg_width_px(html) <= column  # seven panels wrap into rows instead of one 2,150-px row
    assert re.search(r"svg,img\{max-width:100%", html)  # and a narrower window scales them down
    assert "<div class='wide'><table>" in html  # a wide table scrolls in its own box, not the page


def test_steps_logged_are_drawn_per_step_with_the_epoch_means_on_them(page, tmp_path: Path) -> None:
    html = page[0].read_text()
    assert "per optimizer step" in html and "optimizer step" in html and "per step" in html
    (Path(page[1].output_dir) / "tracking" / "tensorboard").rename(tmp_path / "elsewhere")
    again = write_report(Path(page[1].output_dir), tmp_path / "again.html").read_text()
    assert "epoch means; no steps were logged" in again and ">epoch<" in again


def test_every_score_says_its_split_and_sample_size(page) -> None:
    html = page[0].read_text()
    assert "dev accuracy (n=100, whole split)" in html
    assert "test accuracy (n=128, seeded sample)" in html  # the run's test sample ...
    assert "test accuracy (n=300, whole split)" in html  # ... beside the export's whole split
    assert "7.73*" in html and "may be too high" in html  # the teacher's latency, timed busy, marked
    assert "to every dev example" not in html
    run_dir = Path(page[1].output_dir)
    (run_dir / RESULT_FILE).write_text(json.dumps({**asdict(page[1]), "one_answer": "pos"}))
    constant = write_report(run_dir, run_dir / "constant.html").read_text()
    assert "The student answers &#x27;pos&#x27; to every dev example" in constant  # its score is the label's share


def test_a_team_run_shows_its_members_and_what_theta_learned(page) -> None:
    assert "Teacher team" not in page[0].read_text()
    run_dir = Path(page[1].output_dir)
    member = {"layers": 6, "params": 22_700_000, "hidden": 384, "model_dir": "m"}
    team = {
        "mode": "learned", "reference": "minilm-l6:seed=7", "dropped": ["minilm-l6"],
        "members": [{**member, "name": "minilm-l6", "dev_score": 0.88},
                    {**member, "name": "minilm-l6:seed=7", "dev_score": 0.9}],
        "phase1_theta": [0.49, 0.51], "theta": [0.0, 1.0],
    }  # fmt: skip
    (run_dir / RESULT_FILE).write_text(json.dumps({**asdict(page[1]), "team": team}))
    html = write_report(run_dir, run_dir / "team.html").read_text()
    rows = re.sub(r"<[^>]+>", " ", html[html.index("Teacher team") :])
    assert " ".join(rows.split()).startswith(
        "Teacher team member layers parameters dev accuracy θ after phase 1 θ at the end "
        "minilm-l6 6 22,700,000 0.8800 0.490 0.000 minilm-l6:seed=7 6 22,700,000 0.9000 0.510 1.000 "
        "mode learned; the teacher above is minilm-l6:seed=7; uniform θ is 0.500; dropped by teacher selection: "
        "minilm-l6."
    )


def test_no_element_is_wider_than_its_column_in_a_real_browser_at_1280_px(page, tmp_path: Path) -> None:
    browser = next((p for n in ("chromium-headless-shell", "chromium") if (p := shutil.which(n))), None)
    if browser is None:
        pytest.skip("no headless Chromium installed")
    probe = """<script>
    const column = document.body.getBoundingClientRect().right + 1;
    const wide = [...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > column);
    document.body.setAttribute('data-too-wide', wide.map(e => e.tagName).join(',') || 'none');
    </script></body>"""
    checked = tmp_path / "checked.html"
    checked.write_text(page[0].read_text().replace("</body>", probe))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000", "--dump-dom"]
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    dom = subprocess.run([browser, *flags, profile, checked.as_uri()], capture_output=True, text=True, timeout=120)
    assert 'data-too-wide="none"' in dom.stdout, re.findall(r'data-too-wide="[^"]*"', dom.stdout)


def test_a_resumed_runs_steps_read_back_quietly_with_the_resumed_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A resumed run's writer purges from its restart step (``purge_step``); reading that back is not
    worth a warning on every report, and the steps logged again are the resumed run's."""
    from torch.utils.tensorboard import SummaryWriter

    from engine.pipelines.step_log import logged_steps

    events = tmp_path / "tracking" / "tensorboard"
    for first, last, value, purge in ((1, 5, 1.0, None), (3, 6, 2.0, 3)):  # killed after step 5, resumed at 3
        writer = SummaryWriter(log_dir=str(events), purge_step=purge, filename_suffix=f".{first}")
        for step in range(first, last + 1):
            writer.add_scalar("loss", value, step)
        writer.close()
    with caplog.at_level(logging.WARNING):
        steps = logged_steps(tmp_path / "tracking")
    assert steps == {"loss": [(1, 1.0), (2, 1.0), (3, 2.0), (4, 2.0), (5, 2.0), (6, 2.0)]}
    assert not [r for r in caplog.records if r.name.startswith("tensorboard")]
