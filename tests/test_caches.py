"""The home's disk use and clearing its caches: caches go, results stay, and nothing another process
is building is deleted under it."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import cli
from autodistill import caches
from engine import AutodistillError, paths

ROOT = Path(__file__).resolve().parent.parent


def _file(relative: str, size: int) -> Path:
    path = paths.home() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def _part(name: str) -> caches.Usage:
    return next(use for use in caches.HomeFolder().usage() if use.part.name == name)


def test_each_part_counts_the_disk_its_entries_hold() -> None:
    _file("teacher_cache/a1/hidden_0.bin", 40_000)
    _file("teacher_cache/b2/hidden_0.bin", 40_000)
    _file("finetuned/minilm-l6__x__1/model.safetensors", 10_000)
    outputs, teachers, runs = _part("teacher-outputs"), _part("teachers"), _part("runs")
    assert outputs.entries == 2 and 80_000 <= outputs.size < 100_000  # whole blocks, as du counts
    assert teachers.entries == 1 and teachers.size >= 10_000
    assert runs.entries == 0 and runs.size == 0


def test_clearing_a_cache_deletes_its_entries_and_leaves_runs_and_the_store() -> None:
    cached = _file("teacher_cache/a1/hidden_0.bin", 40_000)
    student = _file("runs/reviews/run-1/student/model.safetensors", 1_000)
    store = _file("runs.sqlite", 1_000)
    freed, busy = caches.HomeFolder().clear(["teacher-outputs"])
    assert not cached.parent.exists() and (paths.home() / "teacher_cache").is_dir()
    assert student.exists() and store.exists()
    assert freed >= 40_000 and busy == []


def test_all_clears_every_cache_and_only_caches() -> None:
    made = [_file(f"{(*part.folders, *part.items)[0]}/entry/file.bin", 100) for part in caches.PARTS]
    caches.HomeFolder().clear(["all"])
    assert [path.exists() for path in made] == [not part.cache for part in caches.PARTS]


def test_a_result_or_an_unknown_name_is_refused_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.app(["cache", "clear", "runs"])
    assert stopped.value.code == 2
    assert "error: runs (your runs: students, results, reports) is not a cache" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.app(["cache", "clear", "teacher-cache"])
    assert "unknown cache 'teacher-cache'; choose one of: all, augmented-copies" in capsys.readouterr().err


def test_an_entry_another_process_is_building_is_kept() -> None:
    held = _file("aug_copies/k1/copy.bin", 100).parent
    gone = _file("aug_copies/k2/copy.bin", 100).parent
    hold = (
        "import sys, time\nfrom pathlib import Path\nfrom engine import paths\n"
        "with paths.exclusive(Path(sys.argv[1]), 'a test'):\n    print('held', flush=True)\n    time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold, str(held)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        _, busy = caches.HomeFolder().clear(["augmented-copies"], force=True)  # it uses the home: forced
    finally:
        holder.kill()
    assert busy == [held] and held.exists() and not gone.exists()


def test_clearing_while_another_process_uses_the_home_is_refused_unless_forced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cached = _file("teacher_cache/a1/hidden_0.bin", 100)
    use = "import sys, time\nfrom engine import paths\npaths.home()\nprint('using', flush=True)\ntime.sleep(60)\n"
    user = subprocess.Popen([sys.executable, "-c", use, "--dataset", "x"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert user.stdout.readline().strip() == "using"
        with pytest.raises(SystemExit) as stopped:
            cli.app(["cache", "clear", "teacher-outputs"])
        assert stopped.value.code == 2 and cached.exists()
        said = capsys.readouterr().err
        assert f"may be reading these caches: process {user.pid} (-c --dataset x); clear them when" in said
        cli.app(["cache", "clear", "teacher-outputs", "--force"])
        assert not cached.exists()
    finally:
        user.kill()
        user.wait()
    notes = paths.home().joinpath(*paths.USERS)
    caches.HomeFolder().clear(["teacher-outputs"])  # its note stays, but its process is gone
    assert not (notes / f"{socket.gethostname()}-{user.pid}").exists()
    (notes / "node-b-12").write_text("autodistill sweep")  # another machine's: its process cannot be told here
    with pytest.raises(AutodistillError, match=r"process 12 on node-b \(autodistill sweep\)"):
        caches.HomeFolder().clear(["teacher-outputs"])


def test_a_live_build_is_kept_and_an_abandoned_one_cleared(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    live = _file(f"models/subsets/m__layers-0-2__ab.partial-{os.getpid()}-1a2b/config.json", 10).parent
    abandoned = _file(f"models/subsets/m__layers-0-2__ab.partial-{dead.stdout.strip()}-3c4d/config.json", 10).parent
    _, busy = caches.HomeFolder().clear(["teachers"])
    assert busy == [live] and not abandoned.exists()


def test_every_folder_the_code_keeps_in_the_home_belongs_to_a_part() -> None:
    named = set()
    for source in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("autodistill/**/*.py")]:
        for args, below in re.findall(r"subdir\(((?:\s*\"[^\"]+\",?)+)\)(?:\s*/\s*\"([^\"]+)\")?", source.read_text()):
            parts = [*re.findall(r"\"([^\"]+)\"", args), below]
            named.add("/".join(parts[:2]) if parts[0] == "models" else parts[0])  # models/: a part per folder
    from engine.augment.copies import COPIES_DIR
    from engine.kd.sampled_cache import LEDGER_DIR

    named |= {COPIES_DIR, LEDGER_DIR, "runs.sqlite"}
    listed = {path for part in caches.PARTS for path in (*part.folders, *part.items)} | {"locks"}
    assert {"teacher_cache", "finetuned", "models/subsets", "models/mpnet-base"} <= named
    assert named <= listed, f"folders no part lists: {sorted(named - listed)}"


def test_a_build_killed_under_a_dashed_name_is_cleared_by_the_next_build() -> None:
    folder = paths.subdir("models", "subsets") / "minilm-l6__layers-0-2__ab"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    killed = folder.with_name(f"{folder.name}.partial-{dead.stdout.strip()}-0badf00d")
    killed.mkdir()
    paths.publish_folder(folder, lambda partial: (partial / "config.json").write_text("{}"), "config.json")
    assert (folder / "config.json").exists() and not killed.exists()


def test_a_home_that_cannot_be_made_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("AUTODISTILL_HOME", str(tmp_path / "a-file" / "home"))
    with pytest.raises(SystemExit) as stopped:
        cli.app(["cache", "list"])
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert f"error: autodistill's home {tmp_path}/a-file/home cannot be made (Not a directory)" in said
