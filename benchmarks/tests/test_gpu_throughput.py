"""The GPU throughput benchmark's CPU smoke mode: every loop of its table runs on tiny shapes and is
recorded with its device, TextBrewer is skipped saying why, and the study's sweep is driven and
counted in runs per minute."""

from __future__ import annotations

import json

from benchmarks import gpu_throughput


def test_cpu_smoke_fills_the_table_and_counts_study_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AUTODISTILL_HOME", str(tmp_path / "home"))  # its teachers and caches, never the user's
    out = tmp_path / "gpu_throughput.json"
    argv = ["--cpu-smoke", "--workdir", str(tmp_path / "work"), "--out", str(out), "--study-seconds", "20"]
    gpu_throughput.main(argv)

    report = json.loads(out.read_text())
    entries = {entry["loop"]: entry for entry in report["entries"]}
    engine = [f"engine {p}, {t}" for p in ("fp32", "bf16") for t in ("live teacher", "teacher cache")]
    measured = [*gpu_throughput.REFERENCE.values(), *engine, "hand loop (engine_throughput.py, fp32)"]
    assert set(entries) == {*measured, "TextBrewer 0.2.1 (fp32)"}
    for loop in measured:
        assert entries[loop]["examples_per_second"] > 0 and entries[loop]["device"] == "cpu"
    assert entries["engine bf16, teacher cache"]["cache_build_seconds"] >= 0
    assert "not installed" in entries["TextBrewer 0.2.1 (fp32)"]["skipped"]
    study = report["study"]
    assert study["status"].startswith(("stopped after", "sweep complete (exit 0)")) and study["runs"] >= 0
    assert "runs per minute" in capsys.readouterr().out
