"""The catalog's promises: splits never move, never overlap, keep class shares and hold no
duplicates; labels keep their ids; a failed prepare leaves nothing behind; every bad name
is refused in one line."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from installed import installed_source

from engine import paths
from engine.data import card_path, cards, catalog, list_datasets, load_task, prepare, show
from engine.data.builders import DATASETS, LARGE_TRAIN_EXAMPLES, Asset, MissingAssetError
from engine.data.schema import SPLITS
from engine.data.splits import dedup, sample_per_key, split_indices, stratified_sample
from engine.errors import AutodistillError
from engine.tasks.regression import quantile_bins
from engine.tasks.spec import TaskType

NAMES = [spec.name for spec in list_datasets()]
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def prepared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prepared")


@pytest.fixture
def shared_home(prepared_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that only read prepared data share one home, so each data set is prepared once."""
    monkeypatch.setenv("AUTODISTILL_HOME", str(prepared_home))


def read(folder: Path) -> dict[str, pd.DataFrame]:
    return {split: pd.read_parquet(folder / f"{split}.parquet") for split in SPLITS}


def inputs(frame: pd.DataFrame) -> pd.Series:
    cols = [c for c in ("text", "text_pair") if c in frame]
    return frame[cols].agg("\x1f".join, axis=1)


# --------------------------------------------------------------------------- split helpers


def test_split_is_a_seeded_partition_stratified_by_class():
    labels = np.repeat(["a", "b", "c"], [500, 300, 200])
    first = split_indices(labels, seed=7)
    again = split_indices(labels, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(first, again, strict=True))
    assert sorted(np.concatenate(first).tolist()) == list(range(len(labels)))
    for name, size in (("a", 500), ("b", 300), ("c", 200)):
        shares = [np.sum(labels[part] == name) / size for part in first]
        assert shares == pytest.approx([0.8, 0.1, 0.1], abs=0.01)
    other = split_indices(labels, seed=8)
    assert not np.array_equal(first[2], other[2])


def test_split_keeps_groups_whole_and_small_classes_in_every_split():
    groups = np.repeat(np.arange(40), 5)
    labels = groups % 2
    parts = split_indices(labels, seed=0, groups=groups)
    owners = [set(groups[part]) for part in parts]
    assert not (owners[0] & owners[1] or owners[0] & owners[2] or owners[1] & owners[2])
    tiny = split_indices(["x", "x", "x", "y", "y", "y", "y"], seed=0)
    assert all(len(part) >= 2 for part in tiny)


def test_dedup_keeps_first_copy_and_drops_contradicted_inputs():
    frame = pd.DataFrame({"text": ["a", "b", "a", "c", "c"], "label": [0, 1, 0, 0, 1]})
    kept, notes = dedup(frame, ["text", "text_pair"], ["label"])
    assert kept["text"].tolist() == ["a", "b"]
    assert notes == {"duplicates_dropped": 1, "conflicting_dropped": 2}


def test_samplers_keep_shares_and_caps():
    strata = np.repeat(["a", "b"], [750, 250])
    rows = stratified_sample(strata, 100, seed=1)
    assert len(rows) == 100 and np.sum(strata[rows] == "b") == 25
    assert np.array_equal(rows, np.sort(rows))
    capped = sample_per_key(strata, 30, seed=1)
    assert len(capped) == 60
    bins = quantile_bins(np.arange(100.0)[::-1], n_bins=10)
    assert np.bincount(bins).tolist() == [10] * 10


# --------------------------------------------------------------------------- the catalog


def test_catalog_covers_five_task_kinds_twice_each_with_cards():
    specs = list_datasets()
    assert len(specs) >= 14
    kinds = pd.Series([spec.kind for spec in specs]).value_counts()
    assert set(kinds.index) == {"classification", "pair-classification", "regression", "span", "token"}
    assert (kinds >= 2).all(), f"every task kind needs two data sets: {kinds.to_dict()}"
    for spec in specs:
        assert 1 <= spec.description.count(". ") + 1 <= 2, spec.name
        assert spec.task_type != TaskType.CLASSIFICATION or list(spec.label_names) == sorted(spec.label_names)
        card = card_path(spec.name).read_text(encoding="utf-8")
        assert card.startswith(f"# {spec.name}\n")
        assert f"> {spec.description}" in card, f"{spec.name}: card description differs from the TaskSpec"


@pytest.mark.parametrize("call", [prepare, card_path, show])
def test_unknown_name_is_refused_listing_the_catalog(call):
    with pytest.raises(AutodistillError) as error:
        call("bbc-newz")
    assert "bbc-news" in str(error.value) and "\n" not in str(error.value)
    assert not (paths.home() / "datasets" / "bbc-newz").exists()


def test_card_refresh_checks_every_name_before_preparing_any(tmp_path):
    """``python -m engine.data GOOD BAD`` refuses in one line before it prepares GOOD (minutes for some)."""
    env = {**os.environ, "AUTODISTILL_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "engine.data", "simlex-999", "bbc-newz"], capture_output=True, text=True, env=env
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [done.stderr.strip()] and "unknown data set 'bbc-newz'" in done.stderr
    assert not (tmp_path / "datasets").exists()


def test_missing_asset_says_what_to_install():
    with pytest.raises(MissingAssetError, match=r"install_assets\.sh"):
        Asset("pypi", "autodistill-no-such-wheel", "none", "data").locate()
    with pytest.raises(MissingAssetError, match="@stdlib/no-such-data"):
        Asset("npm", "@stdlib/no-such-data", "none", "data").locate()


def test_prepare_reuses_the_cache_and_rebuilds_stale_copies(monkeypatch):
    installed_source("drug-review")
    folder = prepare("drug-review")
    assert sorted(p.name for p in folder.iterdir()) == [
        "dev.parquet", "spec.json", "stats.json", "test.parquet", "train.parquet"
    ]  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(catalog, "_split", lambda *a: pytest.fail("a cached data set was rebuilt"))
        assert prepare("drug-review") == folder

    meta = json.loads((folder / "spec.json").read_text())
    (folder / "spec.json").write_text(json.dumps({**meta, "builder_version": -1}))
    prepare("drug-review")
    assert json.loads((folder / "spec.json").read_text())["builder_version"] == meta["builder_version"]


def test_a_failed_prepare_leaves_nothing_half_written(monkeypatch):
    installed_source("drug-review")

    def crash(*args):
        raise RuntimeError("disk full")

    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(catalog, "_stats", crash)
        prepare("drug-review")
    assert list((paths.home() / "datasets").iterdir()) == []

    folder = prepare("drug-review")
    before = read(folder)
    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(catalog, "_stats", crash)
        prepare("drug-review", force=True)
    assert [p.name for p in (paths.home() / "datasets").iterdir()] == ["drug-review"]
    assert all(before[s].equals(after) for s, after in read(folder).items())


def test_official_test_split_is_kept_and_dev_is_carved_from_train():
    installed_source("drug-review")
    stats = json.loads((prepare("drug-review") / "stats.json").read_text())
    assert stats["sizes"]["test"] == 379  # the archive's test file
    assert stats["sizes"]["dev"] == pytest.approx(stats["sizes"]["train"] / 8, abs=3)


@pytest.mark.slow
def test_prepare_is_byte_identical_across_runs_and_hash_seeds(tmp_path):
    installed_source("bbc-news")
    first = prepare("bbc-news")
    files = {p.name: p.read_bytes() for p in first.iterdir()}
    assert {p.name: p.read_bytes() for p in prepare("bbc-news", force=True).iterdir()} == files
    other_home = tmp_path / "other"
    env = {**os.environ, "AUTODISTILL_HOME": str(other_home), "PYTHONHASHSEED": "12345"}
    code = "from engine.data import prepare; prepare('bbc-news')"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True)
    assert {p.name: p.read_bytes() for p in (other_home / "datasets" / "bbc-news").iterdir()} == files


@pytest.mark.slow
@pytest.mark.usefixtures("shared_home")
@pytest.mark.parametrize("name", NAMES)
def test_catalog_data_set_prepares_into_clean_stratified_splits(name):
    installed_source(name)
    entry = DATASETS.get(name)
    spec = entry.spec
    frames = read(prepare(name))
    assert all(len(frame) > 0 for frame in frames.values())
    if entry.large:  # built to run the engine at scale
        assert len(frames["train"]) >= LARGE_TRAIN_EXAMPLES, "a large set has 100k train examples"
    else:
        assert len(frames["train"]) <= 2600, "catalog data sets train CPU-sized"
        if entry.split_version > 1:
            assert [len(frames[s]) for s in ("dev", "test")] == list(entry.eval_sizes)
            first = read(prepare(name, split_version=1))
            assert first["train"].equals(frames["train"]), "a later split version keeps the training split"
    assert list(frames["train"].columns) == list(catalog.columns(spec))

    keys = {split: inputs(frame) for split, frame in frames.items()}
    every = pd.concat(keys.values())
    assert not every.duplicated().any(), "an input occurs twice (within or across splits)"

    if spec.task_type == TaskType.CLASSIFICATION:
        counts = pd.DataFrame({s: f["label"].value_counts() for s, f in frames.items()}).fillna(0)
        assert sorted(counts.index) == list(range(len(spec.label_names))), "every class is present"
        shares = counts.div(counts.sum(axis=0), axis=1)
        # drug-review's official test set has its own class shares; sotu-party's version-2 dev and test
        # are whole addresses, which bring their own party mix
        if name not in ("drug-review", "sotu-party"):
            assert (shares["test"] - shares["train"]).abs().max() < 0.03, "test is stratified"
    elif spec.task_type == TaskType.REGRESSION:
        assert all(frame["label"].dtype == np.float64 for frame in frames.values())
        assert frames["train"]["label"].nunique() > 10
    elif spec.task_type == TaskType.TOKEN:
        for frame in frames.values():
            assert (frame["tokens"].str.len() == frame["tags"].str.len()).all(), "a tag per word"
            assert (frame["text"] == frame["tokens"].str.join(" ")).all()
    else:
        for frame in frames.values():
            ends = frame["answer_start"] + frame["answer_text"].str.len()
            found = [ctx[s:e] for ctx, s, e in zip(frame["text_pair"], frame["answer_start"], ends, strict=True)]
            assert found == frame["answer_text"].tolist()

    task = load_task(name)
    assert dataclasses.replace(task.spec, label_scale=None) == spec and all(
        task.split(s).equals(frames[s]) for s in SPLITS
    )
    if spec.task_type == TaskType.REGRESSION:  # targets are standardized with the train split's mean and std
        assert task.spec.label_scale == pytest.approx(
            (frames["train"]["label"].mean(), frames["train"]["label"].std(ddof=0))
        )
    assert card_path(name).read_text(encoding="utf-8") == cards.card_text(name), (
        f"the numbers in {name}'s card are stale: run python -m engine.data {name}"
    )
    assert catalog.recorded_sizes()[name][str(entry.split_version)] == {s: len(f) for s, f in frames.items()}, (
        f"{catalog.SIZES_FILE.name} is stale: run python -m engine.data {name}"
    )


@pytest.mark.slow
@pytest.mark.usefixtures("shared_home")
def test_label_ids_follow_sorted_names():
    installed_source("bbc-news")
    spec = DATASETS.get("bbc-news").spec
    assert spec.label_names == ("business", "entertainment", "politics", "sports", "tech")
    train = read(prepare("bbc-news"))["train"]
    sport = train[train["text"].str.contains("Premiership|Wimbledon", regex=True)]
    assert sport["label"].mode()[0] == spec.label_names.index("sports")


@pytest.mark.slow
@pytest.mark.usefixtures("shared_home")
def test_sotu_addresses_never_straddle_splits():
    root = installed_source("sotu-party")
    entry = DATASETS.get("sotu-party")
    built = entry.build(root, entry.seed)
    address_of = pd.concat([built.frame, built.pool]).set_index("text")["group"]
    frames = read(prepare("sotu-party"))
    splits_of_address = (
        pd.concat([pd.DataFrame({"address": address_of[f["text"]].to_numpy(), "split": s}) for s, f in frames.items()])
        .groupby("address")["split"]
        .nunique()
    )
    assert len(splits_of_address) > 150 and (splits_of_address == 1).all()


@pytest.mark.slow
@pytest.mark.usefixtures("shared_home")
def test_show_prints_the_card_with_real_numbers():
    installed_source("wordnet-lexname")
    text = show("wordnet-lexname")
    stats = json.loads((prepare("wordnet-lexname") / "stats.json").read_text())
    assert f"| **total** | {stats['sizes']['train']} | {stats['sizes']['dev']} | {stats['sizes']['test']}" in text
    assert "## Labels" in text and "noun.artifact" in text


def _fake_entry(frame: pd.DataFrame, pool: pd.DataFrame, eval_sizes: tuple[int, int]):
    """A registered-looking data set built from ``frame`` (the capped sample) and ``pool``."""
    from engine.data.builders import Built, Dataset
    from engine.tasks.spec import TaskSpec

    spec = TaskSpec(name="fake", task_type=TaskType.CLASSIFICATION, description="", label_names=("a", "b"))
    asset = Asset("pypi", "none", "none")
    built = Built(frame, {}, pool=pool)
    return Dataset(spec=spec, asset=asset, seed=3, build=lambda *_: built, eval_sizes=eval_sizes), built


def _rows(start: int, n: int, groups: int | None = None) -> pd.DataFrame:
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(start, start + n)], "label": ["a", "b"] * (n // 2)})
    return frame if groups is None else frame.assign(group=[f"g{i % groups}" for i in range(start, start + n)])


def test_split_version_2_keeps_train_and_draws_larger_dev_and_test_from_the_pool():
    entry, built = _fake_entry(_rows(0, 100), _rows(100, 400), (150, 200))
    first = catalog._versioned_splits(built, entry, 1)
    second = catalog._versioned_splits(built, entry, 2)
    assert entry.split_version == 2 and second["train"].equals(first["train"])
    assert [len(second[s]) for s in ("dev", "test")] == [150, 200]
    texts = [set(second[s]["text"]) for s in SPLITS]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    assert (second["test"]["label"].value_counts() == 100).all(), "drawn with the training split's class shares"
    assert catalog._versioned_splits(built, entry, 2)["test"].equals(second["test"]), "seeded"


def test_split_version_2_moves_whole_groups_and_leaves_training_groups_out():
    entry, built = _fake_entry(_rows(0, 100, groups=20), _rows(100, 600, groups=20), (40, 40))
    second = catalog._versioned_splits(built, entry, 2)
    groups = {s: set(built.pool.set_index("text")["group"].reindex(second[s]["text"]).dropna()) for s in SPLITS}
    train_groups = set(built.frame.set_index("text")["group"].reindex(second["train"]["text"]))
    assert not (groups["dev"] & groups["test"]), "a group straddles dev and test"
    assert not ((groups["dev"] | groups["test"]) & train_groups), "a training group's rows left training"


def test_a_split_request_larger_than_the_source_is_refused_with_its_size():
    entry, built = _fake_entry(_rows(0, 100), _rows(100, 100), (150, 200))
    with pytest.raises(AutodistillError, match=r"asks for 150 dev and 200 test examples, but its source holds 200 "):
        catalog._versioned_splits(built, entry, 2)


def test_split_versions_resolve_and_a_missing_one_is_refused():
    assert catalog.resolve_split_version("vader-valence", None) == 2
    assert catalog.resolve_split_version("vader-valence", 1) == 1
    assert catalog.latest_split_version("bbc-news") == 1 and catalog.latest_split_version("my.csv") == 1
    with pytest.raises(AutodistillError, match="has split version 1 only, not split version 2"):
        catalog.resolve_split_version("bbc-news", 2)
    with pytest.raises(AutodistillError, match="split versions 1 to 2, not split version 3"):
        load_task("vader-valence", split_version=3)
    with pytest.raises(AutodistillError, match="a file or hub set has 1 only"):
        load_task("reviews.csv", split_version=2)


def test_claims_leave_out_retired_and_low_resolution_sets():
    assert "retired" in catalog.claims_note("wordnet-gloss-pair", 5000)
    assert catalog.claims_note("simlex-999", 100).startswith("low resolution: its test split holds 100 examples")
    assert catalog.claims_note("vader-valence", 2500) == ""
    first = catalog.claims_note("vader-valence", 300, split_version=1)  # its sized version 2 is the latest
    assert first.startswith("low resolution") and "version 2's holds 2,500" in first and "cannot give" not in first


def test_a_test_splits_resolution_comes_from_the_recorded_sizes_without_a_build():
    first, second = (catalog.split_resolution("vader-valence", v) for v in (1, 2))
    assert (first.test_examples, second.test_examples) == (300, 2500) and second.metric == "spearman"
    assert first.claims_note.startswith("low resolution") and second.claims_note == ""
