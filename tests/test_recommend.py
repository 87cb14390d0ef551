"""AutoDistiller's recommendation (paper §3.4, §5.4) on a small synthetic store of 'ours' runs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import toy_frame

import engine
from autodistill.advice.proposals import components
from autodistill.advice.recommend import recommend
from autodistill.advice.recommendation import RECOMMENDATION_VERSION, load_recommendation
from autodistill.features.featurize import featurizer_version
from autodistill.space import ADVICE_SPACE, DEFAULT_SPACE
from autodistill.space.defaults import fixed_default
from autodistill.store.database import DatasetFeatures, ModelDescriptor, RunRecord, RunStore, TrialRecord
from autodistill.store.shipped import export_study
from engine import AutodistillError, TaskData, TaskSpec, TaskType, TrainSettings, parse_config, training_device
from engine.teachers.finetune import FinetunedModel
from study.figure4 import group_stats, run_versus_random

VERSION = featurizer_version("bilstm")
TEACHER = ModelDescriptor("minilm-l6", 6, 384, 22_713_216)
STUDENT = ModelDescriptor("layers=0,2,4", 3, 384, 17_390_000)
CONFIGS = list(DEFAULT_SPACE.configurations())[::150]
LOGIT = fixed_default("logit")
TRAINING_SETS = ("news-like", "reviews-like", "spam-like")


def _features(name: str, n_examples: int, n_labels: int, seed: int) -> DatasetFeatures:
    """Real-shaped features: 50-d GloVe-like context and task embeddings, a baseline score."""
    rng = np.random.default_rng(seed)
    return DatasetFeatures(
        name,
        VERSION,
        "classification",
        n_examples,
        n_labels,
        0.55 + 0.05 * seed,
        "bilstm",
        tuple(float(x) for x in rng.normal(0, 0.1, 50)),
        tuple(float(x) for x in rng.normal(0, 0.4, 50)),
        frozenset({"film", "drug", "money"}),
    )


def fake_corpus_text(names):
    """What ``evaluate.corpus_text`` reads for data sets that exist only as features: word counts
    of their vocabulary and vectors for it (each leave-one-dataset-out fold rebuilds from them)."""
    vectors = {w: np.full(50, k + 1.0) for k, w in enumerate(("film", "drug", "money"))}
    return {name: {"film": 2, "drug": 1} for name in names}, vectors


def fill_store(
    store: RunStore,
    target: TaskData | None = None,
    *,
    runs_on_target: bool = False,
    mi_gain: float = 0.1,
    metric: str | None = None,
) -> None:
    """Fake 'ours' runs at one realistic budget on three data sets where MI-α distils best (by
    ``mi_gain`` over the rest), logit KD among them, timed and scored on test (by ``metric`` if
    given), plus the target's stored features."""
    rng = np.random.default_rng(0)
    names = list(TRAINING_SETS) + ([target.spec.name] if target is not None and runs_on_target else [])
    for k, name in enumerate(names):
        store.put_features(_features(name, 500 * (k + 1), 2 + k, k))
        scores = [0.9 * (0.8 + mi_gain * (c.inter_loss == "mi") + rng.normal(0, 0.01)) for c in [*CONFIGS, LOGIT]]
        store.add_runs(
            RunRecord(
                name,
                "classification",
                config,
                TEACHER,
                STUDENT,
                score,
                0.9,
                featurizer_version=VERSION,
                test_score=score,
                teacher_test_score=0.9,
                test_ratio=score / 0.9,
                fidelity="realistic",
                wall_time_s=20.0 * (1 + len(config.augment)) * (1 + 0.1 * rng.random()),
                train_examples=500,
                epochs=3,
                max_length=128,
                device=training_device(),  # timed on this machine's kind of device, as the cost model needs
                eval_examples=100,
                full_config={"pipeline": config.to_dict(), **({"metric": metric} if metric else {})},
            )
            for config, score in zip([*CONFIGS, LOGIT], scores, strict=True)
        )
    if target is not None:
        store.put_features(_features(target.spec.name, len(target.train), target.spec.num_labels, 7))


def fake_finetune_teacher(teacher, task, settings=None, *, show_progress=True) -> FinetunedModel:
    return FinetunedModel(teacher, task.spec.name, Path("/nowhere"), task.spec.metric, 0.9, {}, 0.0, 0.0, {})


@pytest.fixture(autouse=True)
def cached_teacher(monkeypatch: pytest.MonkeyPatch) -> None:
    """The teacher counts as fine-tuned already (recommend's 'teacher cached' case)."""
    monkeypatch.setattr(engine, "finetune_teacher", fake_finetune_teacher)


@pytest.fixture
def store(tmp_path: Path, toy_task: TaskData) -> RunStore:
    with RunStore(tmp_path / "runs.sqlite") as runs_store:
        fill_store(runs_store, toy_task)
        yield runs_store


def test_a_teacher_that_answers_one_label_everywhere_is_said_above_the_advice(
    store: RunStore, toy_task: TaskData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    from cli import render

    def constant_teacher(*args, **kwargs) -> FinetunedModel:
        return replace(fake_finetune_teacher(*args, **kwargs), one_answer="pos")

    monkeypatch.setattr(engine, "finetune_teacher", constant_teacher)
    rec = load_recommendation(recommend(toy_task, store, top=3, show_progress=False).save(tmp_path / "rec.json"))
    assert rec.teacher_one_answer == "pos"
    with render.console.capture() as said:
        render.advice(rec, 3, tmp_path / "rec.json")
    assert "warning: the teacher answers 'pos' to every dev example" in said.get().splitlines()[1]
    assert "(dev 0.900) -> " in said.get().splitlines()[0], "the score every ratio is a share of"
    monkeypatch.setattr(engine, "finetune_teacher", fake_finetune_teacher)
    assert recommend(toy_task, store, top=3, show_progress=False).teacher_one_answer is None


def test_recommend_says_what_data_show_would_of_how_the_file_was_read(store: RunStore, toy_task: TaskData) -> None:
    made = "no dev split: dev is drawn from train (32 rows, seed 0)"
    task = TaskData(toy_task.spec, toy_task.train, toy_task.dev, toy_task.test, extra={"made": made})
    said: list[str] = []
    recommend(task, store, top=2, show_progress=False, on_status=said.append)
    assert said[0] == f"{task.spec.name}: {made}"
    assert not any("lose the rest" in line for line in said), "a few words each: nothing is cut"
    said.clear()
    task.train["text"] += " and then some more words" * 2
    recommend(task, store, top=2, budget=TrainSettings(max_length=8), show_progress=False, on_status=said.append)
    assert said[1] == "toy: 100% of the training examples run to 8 tokens and lose the rest; --max-length sets it"


def test_recommend_says_where_the_stores_runs_of_the_task_type_were_scored_by_another_metric(
    tmp_path: Path, toy_task: TaskData
) -> None:
    said: list[str] = []
    f1_task = TaskData(replace(toy_task.spec, metric="f1"), toy_task.train, toy_task.dev, toy_task.test)
    with RunStore(tmp_path / "runs.sqlite") as runs_store:
        fill_store(runs_store, toy_task, metric="accuracy")
        recommend(f1_task, runs_store, top=2, show_progress=False, on_status=said.append)
        assert "toy: scored by f1, but the store's classification runs were scored by accuracy" in "\n".join(said)
        said.clear()
        recommend(toy_task, runs_store, top=2, show_progress=False, on_status=said.append)
        assert not any("scored by" in line for line in said), "the same metric: nothing to say"


def test_recommend_puts_the_configurations_that_distilled_best_first(
    store: RunStore, toy_task: TaskData, tmp_path: Path
) -> None:
    rec = recommend(toy_task, store, top=5, show_progress=False)
    assert [p.config.inter_loss for p in rec.picks] == ["mi"] * 5
    pipelines = {(c.inter_level, c.mapping, c.pred_loss, c.policy) for c in (p.config for p in rec.picks)}
    assert len(pipelines) == 5  # five different pipelines, not one with its aug_p/repeats turned
    assert rec.verdict.startswith("beats logit KD on the evidence")  # MI-α's gain clears its interval
    worth = [p.gain.mean / p.minutes for p in rec.picks[1:]]  # after the verdict's pick: gain per minute
    assert worth == sorted(worth, reverse=True) and all(p.gain.mean > 0 for p in rec.picks[1:])
    assert rec.trained_on == TRAINING_SETS and rec.n_runs == 3 * (len(CONFIGS) + 1)
    assert rec.candidates == sum(1 for _ in ADVICE_SPACE.configurations())  # the paper's space and logit KD
    saved = load_recommendation(rec.save(tmp_path / "rec.json"))
    assert saved.picks == rec.picks and saved.teacher_score == 0.9 and saved.logit_kd == rec.logit_kd
    first = json.loads((tmp_path / "rec.json").read_text())
    for pick in first["picks"]:  # a file of format 1 held the first vocabulary; the engine config is read
        pick["config"] = {"augmenters": ["random"], "mixup": False}
    (tmp_path / "v1.json").write_text(json.dumps({**first, "version": 1}))
    v1 = load_recommendation(tmp_path / "v1.json").picks  # made before split versions: for the first splits
    assert [p.config for p in v1] == [p.config for p in rec.picks] and {p.engine["split_version"] for p in v1} == {1}
    for pick in first["picks"]:  # a file of format 2 had no reason, and format 7's ranker score is ignored
        del pick["reason"]
        pick.update(score=0.9, uncertainty=0.1, predicted_ratio=0.95)
    del first["logit_kd"]
    (tmp_path / "v2.json").write_text(json.dumps({**first, "version": 2, "design": "lgbm", "predictor": "/p"}))
    older = load_recommendation(tmp_path / "v2.json")
    assert older.picks[0].reason == "" and older.logit_kd is None
    assert [p.config for p in older.picks] == [p.config for p in rec.picks]
    config = parse_config(saved.pick(2).engine)
    assert config.dataset == "toy" and config.student == "layers=0,2,4" and config.inter_loss == "mi"
    with pytest.raises(AutodistillError, match=r"picks 1\.\.5"):
        saved.pick(6)


def test_advice_reads_dev_scores_only(store: RunStore, toy_task: TaskData) -> None:
    """Test scores are for evaluation: scrambling every one of them in the store changes no pick,
    gain, price or verdict (the test split chose nothing)."""
    options = {"top": 3, "show_progress": False}
    before = recommend(toy_task, store, **options)
    with store.transaction():
        store._conn.execute("UPDATE runs SET test_ratio = abs(random() % 1000) / 1000.0, test_score = 0.5")
    assert store.runs()["test_ratio"].nunique() > 1
    after = recommend(toy_task, store, **options)
    assert after.picks == before.picks and after.logit_kd == before.logit_kd and after.verdict == before.verdict
    assert all(pick.gain is not None for pick in after.picks)


def test_the_recommendation_says_where_logit_kd_stands_among_the_pipelines(store: RunStore, toy_task: TaskData) -> None:
    """MI-α distils best in the fake store, so logit KD, which gains nothing over itself, stands
    behind every pipeline predicted to beat it: every MI-α pipeline of the space."""
    rec = recommend(toy_task, store, top=3, show_progress=False)
    logit = rec.logit_kd
    assert logit is not None and logit.config == fixed_default("logit")
    mi_pipelines = {components(c) for c in ADVICE_SPACE.configurations() if c.inter_loss == "mi"}
    assert logit.rank > len(mi_pipelines) and logit.reason == "" and logit.gain is None
    assert parse_config(logit.engine).inter_loss is None  # runnable as it stands: plain logit KD


def test_one_model_orders_every_pick_by_predicted_gain(store: RunStore, toy_task: TaskData) -> None:
    """No second ordering: the proposals are the distinct pipelines of highest predicted gain, and
    the picks after the verdict's are those, by gain per minute."""
    from autodistill.advice.evidence import gather_evidence
    from autodistill.advice.proposals import propose

    rec = recommend(toy_task, store, top=4, show_progress=False)
    runs = store.runs(source="ours")
    evidence = gather_evidence(runs, toy_task, (STUDENT, TEACHER), {"train_examples": 96, "epochs": 3,
                               "max_length": 128}, None)  # fmt: skip
    proposals = propose(evidence.gains, list(ADVICE_SPACE.configurations()))
    means = [p.gain.mean for p in proposals.ranked]
    assert means == sorted(means, reverse=True)
    assert len({components(p.config) for p in proposals.ranked}) == len(proposals.ranked)
    top = {p.config for p in proposals.top(3 * 4)}
    assert {p.config for p in rec.picks} <= top


def test_unseen_leaves_the_data_sets_own_runs_out(tmp_path: Path, toy_task: TaskData) -> None:
    with RunStore(tmp_path / "own.sqlite") as store:
        fill_store(store, toy_task, runs_on_target=True)
        seen = recommend(toy_task, store, top=1, show_progress=False)
        unseen = recommend(toy_task, store, top=1, unseen=True, show_progress=False)
    assert "toy" in seen.trained_on and "toy" not in unseen.trained_on


def test_an_empty_store_says_how_to_fill_it(tmp_path: Path, toy_task: TaskData) -> None:
    with RunStore(tmp_path / "empty.sqlite") as store, pytest.raises(AutodistillError) as info:
        recommend(toy_task, store, show_progress=False, shipped=None)
    assert "autodistill sweep" in str(info.value) and "\n" not in str(info.value)


def test_an_empty_store_learns_from_the_shipped_study(tmp_path: Path, toy_task: TaskData) -> None:
    with RunStore(tmp_path / "collected.sqlite") as collected:
        fill_store(collected, toy_task)
        export_study(collected, tmp_path / "study")
    said: list[str] = []
    with RunStore(tmp_path / "fresh.sqlite") as store:
        rec = recommend(
            toy_task, store, top=1, show_progress=False,
            shipped=tmp_path / "study", on_status=said.append,
        )  # fmt: skip
        assert len(store.runs(source="ours")) == 3 * (len(CONFIGS) + 1)
    assert rec.trained_on == TRAINING_SETS and rec.picks[0].config.inter_loss == "mi"
    assert any(f"imported the {3 * (len(CONFIGS) + 1)} runs of the project's study" in line for line in said)
    steps = ("teacher ", "the gain and cost models", "weighing the pipeline space")
    where = [next(i for i, line in enumerate(said) if line.startswith(step)) for step in steps]
    assert where == sorted(where), "each slow step is said before it starts, in order"


def test_the_papers_runs_cannot_recommend_for_a_new_data_set(store: RunStore, toy_task: TaskData) -> None:
    with pytest.raises(AutodistillError, match="--source ours"):
        recommend(toy_task, store, source="paper", show_progress=False)


@pytest.mark.parametrize(
    ("rows", "labels", "message"),
    [(30, None, "at least 50"), (96, 0, "at least 2")],
)
def test_degenerate_data_sets_are_refused_before_the_teacher_is_trained(
    store: RunStore, monkeypatch: pytest.MonkeyPatch, rows: int, labels: int | None, message: str
) -> None:
    def never(*args, **kwargs):
        raise AssertionError("the teacher must not be fine-tuned for a data set that cannot be featurized")

    monkeypatch.setattr(engine, "finetune_teacher", never)
    train = toy_frame(rows, 0)
    if labels is not None:
        train = train.assign(label=labels)
    spec = TaskSpec("bad", TaskType.CLASSIFICATION, "Is this review positive?", ("neg", "pos"))
    with pytest.raises(AutodistillError, match=message):
        recommend(TaskData(spec, train, toy_frame(32, 1), toy_frame(32, 2)), store, show_progress=False)


def test_an_unknown_student_is_refused_before_the_teacher_is_trained(
    store: RunStore, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args, **kwargs):
        raise AssertionError("the teacher must not be fine-tuned for a student that cannot be built")

    monkeypatch.setattr(engine, "finetune_teacher", never)
    with pytest.raises(AutodistillError, match="unknown student 'huge'; choose one of"):
        recommend(toy_task, store, student="huge", show_progress=False)


def test_picks_against_random_configurations(
    store: RunStore, toy_task: TaskData, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_sweep import fake_trial

    rec = recommend(toy_task, store, top=3, show_progress=False)
    results = run_versus_random(rec, toy_task, store, top=2, random_n=3, show_progress=False, trial_fn=fake_trial)
    assert list(results["group"]) == ["AutoDistiller"] * 2 + ["random"] * 3 + ["no-KD"]
    assert set(results["config"][:2]) == {p.config for p in rec.picks[:2]}
    assert not set(results["config"][2:]) & set(results["config"][:2])
    stats = group_stats(results)
    assert stats["AutoDistiller"][0] == pytest.approx(0.9)  # fake_trial: MI-α gives 0.9, others 0.8 or fail
    assert stats["no-KD"][0] == pytest.approx(0.8)
    assert len(store.trials()) == 6  # logged like any sweep trial


def test_picks_are_scored_at_the_budget_they_will_run_at() -> None:
    from autodistill.advice.runs import budget_inputs
    from autodistill.bridge import make_budget

    capped = budget_inputs(make_budget(max_train_examples=192, epochs=8, max_length=48), n_train=1_701)
    assert capped == {"train_examples": 192, "epochs": 8, "max_length": 48}
    whole = budget_inputs(make_budget(max_train_examples=5_000), n_train=1_701)
    assert whole["train_examples"] == 1_701 and whole["max_length"] == make_budget().max_length


def test_a_recommendation_from_before_cls_pkd_reads_its_pkd_picks_as_per_token(tmp_path: Path) -> None:
    """Files of format < 4 were written while ``pkd`` was computed per token (the Figure 4 picks)."""
    old = Path(__file__).resolve().parent.parent / "docs" / "study" / "fig4-picks-sotu-party.json"
    data = json.loads(old.read_text())
    assert data["version"] < 4 and {p["engine"]["inter_loss"] for p in data["picks"]} == {"pkd"}
    rec = load_recommendation(old)
    assert {(p.config.inter_loss, p.engine["inter_loss"]) for p in rec.picks} == {("pkd-tokens", "pkd-tokens")}
    today = rec.save(tmp_path / "today.json")  # written now: pkd-tokens by name, and read back as such
    assert json.loads(today.read_text())["version"] == RECOMMENDATION_VERSION
    assert [p.config for p in load_recommendation(today).picks] == [p.config for p in rec.picks]


def _own_logit_and_alone(store: RunStore, alone_ratio: float) -> None:
    """Logit KD on the target at 0.80 dev ratio over three seeds, and the student trained alone beside it."""
    rng = np.random.default_rng(1)
    for seed in range(3):
        ratio = 0.80 + rng.normal(0, 0.003)
        store.add_run(RunRecord("toy", "classification", LOGIT, TEACHER, STUDENT, 0.9 * ratio, 0.9,
                                featurizer_version=VERSION, fidelity="realistic", seed=seed, train_examples=500,
                                epochs=3, max_length=128))  # fmt: skip
        store.record_trial(TrialRecord(
            f"alone-{seed}", "finetune", "toy", STUDENT.name, "done", {"epochs": 3, "max_length": 128},
            {"teacher": TEACHER.name}, student_score=0.9 * alone_ratio, teacher_score=0.9,
            ratio=alone_ratio + rng.normal(0, 0.003), fidelity="realistic", test_ratio=0.1,
        ))  # fmt: skip


@pytest.mark.parametrize(("alone_ratio", "command"), [(0.85, "finetune"), (0.80, "run")])
def test_the_advice_is_to_train_alone_where_that_beat_logit_kd_on_the_data_sets_own_runs(
    tmp_path: Path, toy_task: TaskData, alone_ratio: float, command: str
) -> None:
    with RunStore(tmp_path / "alone.sqlite") as store:
        fill_store(store, toy_task)
        _own_logit_and_alone(store, alone_ratio)
        rec = recommend(toy_task, store, top=3, show_progress=False)
        unseen = recommend(toy_task, store, top=3, show_progress=False, unseen=True)
    assert rec.command == command and unseen.command == "run", "held out, the data set's own runs are not read"
    if command == "finetune":
        lead = float(rec.verdict.removeprefix("train the student alone (no KD): ").split()[0])
        assert lead == pytest.approx(0.05, abs=0.01) and "3 seeds against 3" in rec.verdict
        assert rec.picks[0].config.logit_only, "what to distil, should the user distil anyway"
    saved = load_recommendation(rec.save(tmp_path / "rec.json"))
    assert saved.command == rec.command


def test_picks_after_the_first_go_by_gain_per_minute_and_costly_losses_last() -> None:
    from autodistill.advice.gain import GainEstimate
    from autodistill.advice.recommendation import Pick
    from autodistill.advice.rules import _worth

    def pick(name: str, gain: float | None, minutes: float) -> Pick:
        estimate = None if gain is None else GainEstimate(gain, gain - 0.01, gain + 0.01, 1)
        return Pick(0, LOGIT, {"name": name}, gain=estimate, minutes=minutes)

    picks = [pick("slow win", 0.02, 10), pick("fast win", 0.01, 1), pick("cheap loss", -0.01, 1),
             pick("costly loss", -0.01, 10), pick("unknown", None, 1)]  # fmt: skip
    assert [p.engine["name"] for p in sorted(picks, key=_worth)] == [
        "fast win", "slow win", "cheap loss", "costly loss", "unknown"
    ]  # fmt: skip


def test_a_student_started_unlike_any_in_the_store_falls_back_to_logit_kd_and_says_why(
    store: RunStore, toy_task: TaskData
) -> None:
    """The store's runs are of the teacher's layers (pretrained weights); a fresh `tiny` gains differently."""
    rec = recommend(toy_task, store, student="tiny", top=2, show_progress=False)
    assert rec.picks[0].config.logit_only
    assert "no runs at this budget of a student trained from random weights, as tiny is" in rec.verdict
    assert "(its students at this budget: layers=0,2,4)" in rec.verdict, "which students it holds"
