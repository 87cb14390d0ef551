"""Teachers and students use fused (SDPA) attention: no loss reads attention probabilities, so the
fused kernel must give the eager softmax's losses and gradients, padding included."""

from __future__ import annotations

import numpy as np
import torch
from transformers import BertConfig, BertForSequenceClassification

from engine.components import parse_config
from engine.kd.objective import DistillationObjective
from engine.models.zoo import build_student
from engine.tasks.encoding import EncodedSplit, collate
from engine.tasks.spec import TaskSpec, TaskType

SPEC = TaskSpec("toy", TaskType.CLASSIFICATION, "toy", ("neg", "pos", "mid"))


def _bert(attention: str, width: int, layers: int, seed: int) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=50,
        hidden_size=width,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=2 * width,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=3,
        attn_implementation=attention,
    )
    return BertForSequenceClassification(config)


def _loss_and_grads(attention: str, batch: dict[str, torch.Tensor]) -> tuple[float, dict, list[torch.Tensor]]:
    teacher, student = _bert(attention, 32, 4, seed=1).eval(), _bert(attention, 16, 2, seed=2).train()
    config = parse_config({"dataset": "toy", "mapping": "skip", "inter_loss": "mse", "pred_loss": "ce"})
    torch.manual_seed(3)  # the projection's initial weights
    objective = DistillationObjective(SPEC, config, teacher, student_layers=2, student_width=16)
    loss, terms = objective(student, batch)
    loss.backward()
    modules = [student, *objective.trainable_modules()]
    return float(loss.detach()), terms, [p.grad.clone() for m in modules for p in m.parameters() if p.grad is not None]


def test_fused_attention_gives_the_eager_losses_and_gradients_on_padded_batches():
    rng = np.random.default_rng(0)
    ids = [[2, *rng.integers(5, 50, n).tolist(), 3] for n in (3, 11, 6, 14)]  # ragged: padding masked out
    split = EncodedSplit(ids, [[0] * len(x) for x in ids], rng.integers(0, 3, len(ids)), np.arange(len(ids)))
    batch = collate(split, [0, 1, 2, 3], 0)
    eager_loss, eager_terms, eager_grads = _loss_and_grads("eager", batch)
    fused_loss, fused_terms, fused_grads = _loss_and_grads("sdpa", batch)
    assert abs(eager_loss - fused_loss) < 1e-5
    assert eager_terms.keys() == fused_terms.keys() == {"kd", "inter"}
    assert len(eager_grads) == len(fused_grads) > 0
    for eager, fused in zip(eager_grads, fused_grads, strict=True):
        assert torch.allclose(eager, fused, atol=1e-5, rtol=1e-4)


def test_students_and_teachers_are_built_with_fused_attention():
    student = build_student("tiny", "minilm-l6", SPEC)
    assert student.config._attn_implementation == "sdpa"
    subset = build_student("layers=0,2", "minilm-l6", SPEC)  # loaded through the teacher's path
    assert subset.config._attn_implementation == "sdpa"
