"""Mixup on word embeddings (§3.1, after Guo et al. 2019 and MixKD, Liang et al. 2021).

For a pair of examples (i, j) of the same batch and a mixing ratio λ ∈ [0, 1],

    x̂_i,t = λ x_i,t + (1-λ) x_j,t,      ŷ_i = λ y_i + (1-λ) y_j            (§3.1)

at every position t. Labels mix as one-hot (or already soft) class distributions,
as real-valued targets for regression, and, for span (token-tagging) tasks, per
position: the start and end targets become λ·onehot(s_i) + (1-λ)·onehot(s_j)
(the paper's sentence-tagging rule).

Teacher and student embed words differently (different widths), so each model
mixes *its own* embedding-layer vectors, with the same pairs and the same λ; they
share the teacher's tokenizer, so position t is the same token in both. The
token-type embedding is mixed along with the word embedding (then the model adds
its type-0 vector back), so sentence-pair examples mix exactly; position
embeddings are shared by both partners and need no mixing. A position is attended
if it is a real token of either partner.

λ is drawn per pair from Beta(α, α) (``mixup_dist="beta"``, ``mixup_alpha``) or
Uniform(0, 1). The pairing and the λs of a batch are a pure function of
(seed, epoch, batch position), so a resumed run mixes the same pairs.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import numpy as np

from engine.augment.base import AUGMENTERS, EmbeddingOperation
from engine.errors import AutodistillError
from engine.tasks.spec import TaskSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

# torch is imported inside the functions: this module registers ``mixup`` for every
# process that reads the registry, augmentation workers included, which never mix.


@AUGMENTERS.register("mixup")
class Mixup(EmbeddingOperation):
    """Word-embedding mixup; the work happens in :func:`mix_inputs` and :func:`mix_targets`."""

    name = "mixup"

    def backend(self) -> str:
        if self.settings.mixup_dist == "uniform":
            return "word-embedding mixup, λ ~ Uniform(0, 1)"
        return f"word-embedding mixup, λ ~ Beta({self.settings.mixup_alpha:g}, {self.settings.mixup_alpha:g})"


def sample_lambdas(rng: np.random.Generator, n: int, dist: str, alpha: float) -> np.ndarray:
    """n mixing ratios from Beta(α, α) or Uniform(0, 1)."""
    if dist == "uniform":
        return rng.random(n)
    return rng.beta(alpha, alpha, n)


def plan_mixup(
    rng: np.random.Generator, batch_size: int, rounds: int, dist: str, alpha: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Partners ``perm`` [rounds, B] (example i mixes with ``perm[r, i]``) and λ [rounds, B]."""
    import torch

    perms = [rng.permutation(batch_size) for _ in range(rounds)]
    lams = [sample_lambdas(rng, batch_size, dist, alpha) for _ in range(rounds)]
    perm = torch.as_tensor(np.stack(perms) if perms else np.zeros((0, batch_size)), dtype=torch.long)
    lam = torch.as_tensor(np.stack(lams) if lams else np.zeros((0, batch_size)), dtype=torch.float32)
    return perm, lam


def _unwrap(model: nn.Module) -> nn.Module:
    return getattr(model, "module", model)  # DistributedDataParallel keeps the model in .module


def _type_embeddings(model: nn.Module) -> nn.Embedding | None:
    embeddings = getattr(_unwrap(model).base_model, "embeddings", None)
    return getattr(embeddings, "token_type_embeddings", None)


def check_mixup_model(model: nn.Module, role: str) -> None:
    """Mixup feeds ``inputs_embeds``; refuse a model that cannot take them."""
    inner = _unwrap(model)
    if "inputs_embeds" not in inspect.signature(inner.forward).parameters:
        raise AutodistillError(
            f"mixup needs the {role} to accept inputs_embeds, but {type(inner).__name__}.forward does not"
        )
    try:
        inner.get_input_embeddings()
    except NotImplementedError:
        raise AutodistillError(
            f"mixup needs the {role}'s word-embedding layer, but {type(inner).__name__} does not expose one"
        ) from None


def mix_inputs(
    model: nn.Module, batch: dict[str, torch.Tensor], perm: torch.Tensor, lam: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Mixed ``inputs_embeds`` for ``model`` (§3.1), with the union attention mask."""
    import torch

    ids = batch["input_ids"]
    embeds = _unwrap(model).get_input_embeddings()(ids)
    types = _type_embeddings(model)
    with_types = types is not None and "token_type_ids" in batch
    if with_types:
        embeds = embeds + types(batch["token_type_ids"]) - types.weight[0]
    mask = batch["attention_mask"]
    for p, lam_r in zip(perm.to(ids.device), lam.to(ids.device), strict=True):
        weight = lam_r.to(embeds.dtype)[:, None, None]
        embeds = weight * embeds + (1 - weight) * embeds[p]
        mask = torch.maximum(mask, mask[p])
    mixed = {"inputs_embeds": embeds, "attention_mask": mask}
    if with_types:
        mixed["token_type_ids"] = torch.zeros_like(ids)
    return mixed


def mix_targets(
    labels: torch.Tensor, spec: TaskSpec, perm: torch.Tensor, lam: torch.Tensor, width: int
) -> torch.Tensor:
    """ŷ = λ y_i + (1-λ) y_j (§3.1), on the task head's soft targets: class distributions
    [B, C], real targets [B], per-position start/end distributions [B, 2, width] for spans,
    or per-token tag distributions [B, width, C] for tagging (the paper's sentence-tagging rule)."""
    from engine.tasks import task_head

    target = task_head(spec).soft_targets(labels, spec, width)
    for p, lam_r in zip(perm.to(labels.device), lam.to(labels.device), strict=True):
        weight = lam_r.reshape(-1, *([1] * (target.dim() - 1)))
        target = weight * target + (1 - weight) * target[p]
    return target
