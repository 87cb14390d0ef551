"""The GPU check's CPU path: its non-CUDA checks run on a tiny slice, the CUDA ones say why they
are skipped, and nothing is written under benchmarks/results/ (that record is the GPU's)."""

from __future__ import annotations

import json

import engine.pipelines.run as engine_run
import engine.teachers.finetune as engine_finetune
from benchmarks import gpu_check


def test_cpu_smoke_runs_what_needs_no_gpu_and_skips_the_rest_saying_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AUTODISTILL_HOME", str(tmp_path / "home"))  # its teachers and caches, never the user's
    monkeypatch.setattr(engine_run, "TEACHER_SETTINGS", engine_run.TEACHER_SETTINGS)  # restored afterwards
    monkeypatch.setattr(engine_finetune, "TEACHER_SETTINGS", engine_finetune.TEACHER_SETTINGS)
    monkeypatch.setattr(gpu_check, "RESULTS", tmp_path / "results" / "gpu_check.json")
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: False)
    argv = ["--cpu-smoke", "--tasks", "classification", "--matrix-limit", "1", "--workdir", str(tmp_path / "runs")]
    checks = "bf16,matrix,cache,launch,throughput"
    assert gpu_check.main([*argv, "--checks", checks]) == 0

    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("GPU_CHECK "))
    record = json.loads(line.split(" ", 1)[1])
    assert record["environment"]["gpu"] is None
    checks = record["checks"]
    for name in ("bf16", "throughput"):
        assert checks[name] == {"status": "skipped", "reason": gpu_check.CUDA_ONLY}
    assert checks["matrix"]["status"] == "ok" and list(checks["matrix"]["pieces"]) == ["mse-skip (classification)"]
    cache = checks["cache"]["pieces"]["classification"]["result"]
    # the cache was filled in other batches (other padding), so float sums may differ in the last bits
    assert cache["max_abs_diff"] < 1e-5 and cache["load_s"] < cache["build_s"]
    launched = checks["launch"]["pieces"]["classification"]
    assert launched["status"] == "ok" and launched["result"]["num_processes"] == 1
    assert not (tmp_path / "results").exists()


def test_every_intermediate_loss_and_mapping_is_in_the_matrix_once_and_every_task_type_is_used(tmp_path):
    session = gpu_check.Session(gpu_check.SMOKE, tuple(gpu_check.TASKS), tmp_path, None, cuda=False)
    runs = gpu_check.matrix_runs(session)
    names = gpu_check.component_names()
    pairs = [(f["inter_loss"], f["mapping"]) for _, _, f in runs if "mapping" in f]
    assert sorted(pairs) == sorted((lo, m) for lo in names["inter_loss"] for m in names["mapping"])
    assert {kind for _, kind, _ in runs} == set(gpu_check.TASKS)
    assert any(f.get("critic") == "mlp" for _, _, f in runs) and any(f.get("augment") for _, _, f in runs)


def test_each_saved_check_keeps_the_machine_it_ran_on(tmp_path, monkeypatch):
    results = tmp_path / "gpu_check.json"
    monkeypatch.setattr(gpu_check, "RESULTS", results)
    h100, h200 = {"gpu": "H100"}, {"gpu": "H200"}
    # a record from before checks carried their own machine: one environment for all of them
    results.write_text(json.dumps({"environment": h100, "checks": {"bf16": {"status": "ok"}}}))
    gpu_check.save({"throughput": {"status": "ok"}}, h200)
    gpu_check.save({"bf16": {"status": "failed"}}, h200)
    saved = json.loads(results.read_text())
    assert set(saved) == {"checks"}
    assert saved["checks"]["throughput"] == {"status": "ok", "environment": h200}
    assert saved["checks"]["bf16"] == {"status": "failed", "environment": h200}
    gpu_check.save({"throughput": {"status": "ok"}}, h100)
    assert json.loads(results.read_text())["checks"]["bf16"]["environment"] == h200
