"""Augmentation policies (Algorithm 1): stacks apply in order, per example, seeded by
(seed, draw, example) so that batching, worker processes and pre-generation all give
the same augmented text; task validity is kept or counted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from engine.augment import AugmentPolicy, AugmentSettings, PolicySpec, TextExample, TextItem, pregenerate
from engine.augment.backtranslation import apertium_modes
from engine.augment.contextual import ContextualAugmentation
from engine.augment.feed import AugmentFeed
from engine.augment.policy import example_rng, frame_examples
from engine.augment.pregenerated import PregeneratedSource
from engine.augment.random_eda import RandomAugmentation
from engine.components import parse_config
from engine.config import DistillConfig, TrainSettings
from engine.data.schema import TaskData
from engine.errors import AutodistillError
from engine.models.zoo import load_tokenizer
from engine.tasks import encode_split
from engine.tasks.spec import TaskSpec, TaskType

CLS = TaskSpec("toy", TaskType.CLASSIFICATION, "", ("neg", "pos"))
PAIR = TaskSpec("pair", TaskType.CLASSIFICATION, "", ("no", "yes"), paired=True)
SPAN = TaskSpec("span", TaskType.SPAN, "", paired=True)
SETTINGS = AugmentSettings(aug_p=0.3)


def policy(ops: tuple[str, ...], task: TaskSpec = CLS, seed: int = 0, repeated: int = 1) -> AugmentPolicy:
    return AugmentPolicy(PolicySpec(ops, SETTINGS, seed, repeated), task)


def span_example(key: int, context: str, answer: str) -> TextExample:
    return TextExample(key, "which animal?", None, context, context.index(answer), answer)


# --------------------------------------------------------------------------- Algorithm 1


def test_the_stack_applies_its_operations_in_order():
    example = TextExample(7, "the happy actors enjoyed a lovely long story near the river", 1)
    (out,), dropped = policy(("ra", "ca"), seed=3).augment([(example, 2)])
    step0 = RandomAugmentation(SETTINGS).augment([TextItem(example.text)], [example_rng(3, 2, 7, 0, 0)])[0]
    step1 = ContextualAugmentation(SETTINGS).augment([step0], [example_rng(3, 2, 7, 1, 0)])[0]
    assert out.text == step1.text and out.label == 1 and out.key == 7
    assert not any(dropped.values())


def test_an_example_augments_the_same_whatever_batch_it_is_in():
    examples = [TextExample(k, f"the happy actors enjoyed story number {k} near the river", 0) for k in range(6)]
    p = policy(("ca", "ra"))
    together, _ = p.augment([(e, 0) for e in examples])
    alone = [p.augment([(e, 0)])[0][0] for e in reversed(examples)]
    assert together == alone[::-1]
    assert p.augment([(examples[0], 1)])[0] != p.augment([(examples[0], 0)])[0]  # another draw, another text


def test_pair_tasks_augment_each_side_on_its_own():
    example = TextExample(1, "happy actors enjoyed the story", 1, "lovely dog walked near the river")
    (out,), _ = AugmentPolicy(PolicySpec(("ca",), AugmentSettings(aug_p=0.5), 0), PAIR).augment([(example, 0)])
    assert out.text != example.text and out.text_pair != example.text_pair and out.label == 1


def test_span_tasks_recompute_answer_start():
    example = span_example(0, "Yesterday the quick brown fox jumped over a lazy dog near the river.", "brown fox")
    outs, dropped = policy(("ra", "ca"), SPAN).augment([(example, d) for d in range(20)])
    assert len(outs) == 20 and not any(dropped.values())
    for out in outs:
        assert out.text_pair[out.answer_start : out.answer_start + len(out.answer_text)] == "brown fox"


@pytest.mark.skipif("eng-spa" not in apertium_modes(), reason="Apertium eng-spa missing")
def test_span_examples_whose_answer_is_lost_are_dropped_and_counted():
    context = "Yesterday the quick brown fox jumped over a lazy dog near the river."
    examples = [span_example(0, context, "brown fox"), span_example(1, context, "quick")]  # quick -> fast
    broken = TextExample(2, "q", None, "an answer elsewhere", 0, "missing")
    outs, dropped = policy(("bt", "ra"), SPAN).augment([(e, 0) for e in [*examples, broken]])
    assert [o.key for o in outs] == [0]
    assert dropped["bt"] == 1 and dropped["bad_answer"] == 1


# --------------------------------------------------------------------------- live vs workers vs pre-generated


def _toy_task(toy_task: TaskData) -> TaskData:
    return TaskData(toy_task.spec, toy_task.train.iloc[:24], toy_task.dev, toy_task.test)


def _feed(task: TaskData, config: DistillConfig, workers: int, source=None) -> AugmentFeed:
    tokenizer = load_tokenizer("minilm-l6")
    split = encode_split(task.train, task.spec, tokenizer, 16, train=True)
    p = AugmentPolicy(PolicySpec.from_config(config), task.spec)
    return AugmentFeed(p, task.train, split, tokenizer, 16, tokenizer.pad_token_id, workers=workers, source=source)


def _batches(feed: AugmentFeed, epochs: int) -> list[dict[str, torch.Tensor]]:
    out = []
    with feed:
        for epoch in range(epochs):
            schedule = np.random.default_rng([0, epoch]).permutation(len(feed.split))
            feed.schedule(epoch, [schedule[i : i + 8] for i in range(0, len(schedule), 8)])
            out.extend(feed.get(b) for b in range(3))
    return out


def _same(a: list[dict[str, torch.Tensor]], b: list[dict[str, torch.Tensor]]) -> bool:
    return all(x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True))


def test_worker_processes_give_exactly_the_in_process_batches(toy_task):
    task = _toy_task(toy_task)
    config = DistillConfig(dataset="toy", augment=("ra", "ca", "mixup"), repeated_aug=2)
    in_process = _batches(_feed(task, config, workers=0), epochs=2)
    feed = _feed(task, config, workers=1)
    assert _same(in_process, _batches(feed, epochs=2))
    assert in_process[0]["aug_input_ids"].shape[0] == 16  # 8 examples x 2 copies
    assert in_process[0]["mix_lambda"].shape == (1, 16)
    report = feed.report(fit_seconds=10.0)
    assert report["source"] == "live (1 worker process)" and 0 <= report["trainer_wait_share"] <= 1


def test_pregenerated_copy_k_is_live_draw_k(toy_task, tmp_path):
    task = _toy_task(toy_task)
    config = DistillConfig(dataset="toy", augment=("ca", "ra"), aug_workers=0)
    manifest = pregenerate(task, config, copies=2, out_dir=tmp_path / "aug")
    assert manifest["copies"] == 2 and manifest["backends"]["ca"].startswith("glove")
    p = AugmentPolicy(PolicySpec.from_config(config), task.spec)
    for k in range(2):
        written = pd.read_parquet(tmp_path / "aug" / f"copy-{k:03d}.parquet")
        live, _ = p.augment([(e, k) for e in frame_examples(task.train)])
        assert written["text"].tolist() == [e.text for e in live]
        assert written["key"].tolist() == task.train.index.tolist()
    # a run reading the folder sees the same batches as live augmentation (epochs 0 and 1)
    source = PregeneratedSource(tmp_path / "aug", p, task.train, "toy", config.train.max_length)
    assert _same(_batches(_feed(task, config, 0), 2), _batches(_feed(task, config, 0, source), 2))
    assert not source.reused


def test_pregenerated_copies_of_other_data_or_settings_are_refused(toy_task, tmp_path):
    task = _toy_task(toy_task)
    config = DistillConfig(dataset="toy", augment=("ra",), aug_workers=0)
    pregenerate(task, config, copies=1, out_dir=tmp_path)
    p = AugmentPolicy(PolicySpec.from_config(config), task.spec)
    changed = task.train.assign(text=task.train["text"] + " again")
    with pytest.raises(AutodistillError, match="generated from other training data"):
        PregeneratedSource(tmp_path, p, changed, "toy", config.train.max_length)
    other = AugmentPolicy(PolicySpec.from_config(config.model_copy(update={"aug_p": 0.5})), task.spec)
    with pytest.raises(AutodistillError, match=r"aug_p=0\.1 but this run has aug_p=0\.5"):
        PregeneratedSource(tmp_path, other, task.train, "toy", config.train.max_length)
    with pytest.raises(AutodistillError, match="max_words=128 but this run has max_words=32"):
        PregeneratedSource(tmp_path, p, task.train, "toy", 32)
    with pytest.raises(AutodistillError, match="no text operation to pre-generate"):
        pregenerate(task, config.model_copy(update={"augment": ("mixup",)}), 1, tmp_path / "m")


def test_only_the_words_the_model_can_see_are_augmented():
    long = " ".join(f"w{i}" for i in range(100))
    frame = pd.DataFrame({"text": [long, "short  text\nkept as is"], "text_pair": [long, None], "label": [0, 1]})
    first, second = frame_examples(frame, max_words=48)
    assert first.text == first.text_pair == " ".join(f"w{i}" for i in range(48))
    assert second.text == "short  text\nkept as is"  # nothing cut, nothing normalised
    spans = frame.assign(answer_start=[len(long) - 3, 0], answer_text=["w99", "short"])
    assert frame_examples(spans, max_words=48)[0].text == long  # the answer must stay findable


# --------------------------------------------------------------------------- bad input


def test_bad_augmentation_settings_fail_in_one_line():
    base = {"dataset": "toy"}
    valid = r"unknown augmentation operation 'eda'; choose one of: bt, ca, mixup, ra$"
    with pytest.raises(AutodistillError, match=valid):
        parse_config({**base, "augment": ["ca", "eda"]})
    with pytest.raises(AutodistillError, match="aug_p: Input should be less than or equal to 1"):
        parse_config({**base, "augment": ["ra"], "aug_p": 1.5})
    with pytest.raises(AutodistillError, match="aug_p: Input should be greater than or equal to 0"):
        parse_config({**base, "augment": ["ra"], "aug_p": -0.1})
    assert parse_config({**base, "augment": "ca, ra+mixup"}).augment == ("ca", "ra", "mixup")
    assert parse_config({**base, "augment": ["ra"]}).weights == (1.0, 0.5, 1.0, 0.5)  # Appendix G


def test_settings_reach_the_policy():
    config = DistillConfig(
        dataset="toy", augment=("ca", "mixup"), aug_p=0.2, mixup_dist="uniform", train=TrainSettings(seed=9)
    )
    spec = PolicySpec.from_config(config)
    assert spec.seed == 9 and spec.settings.aug_p == 0.2 and spec.text_ops == ("ca",) and spec.mixup_rounds == 1
    assert AugmentPolicy(spec, CLS).backends()["mixup"] == "word-embedding mixup, λ ~ Uniform(0, 1)"
