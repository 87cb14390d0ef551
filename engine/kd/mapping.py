"""Layer mappings m_ij of Eq. 1 (§3.3.1): which teacher hidden states each student hidden state learns from.

Hidden states come as Hugging Face models return them: a sequence of N + 1
(student) or M + 1 (teacher) tensors [B, T, H], index 0 the embedding output and
index i the output of layer i. The teacher's may also be a dict holding only the
indices in :attr:`LayerMapping.teacher_layers`, as a teacher-output cache stores them.
Every mapping also pairs the embeddings, student 0 with teacher 0, as TinyBERT and
BERT-EMD distil them. Student states must already have the teacher's width
(:mod:`engine.kd.projection`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import ot
import torch
from torch import Tensor

from engine.errors import AutodistillError
from engine.registry import Registry

InterLoss = Callable[[Tensor, Tensor, Tensor], Tensor]
TeacherHiddens = Sequence[Tensor] | Mapping[int, Tensor]


class LayerMapping(ABC):
    """Pairs N student layers with M teacher layers and sums l^inter over the pairs."""

    name: str

    def __init__(self, num_student_layers: int, num_teacher_layers: int) -> None:
        if num_student_layers < 1 or num_teacher_layers < 1:
            raise AutodistillError(
                f"layer mapping {self.name!r} needs at least one layer on each side, got student "
                f"{num_student_layers} and teacher {num_teacher_layers}"
            )
        self.num_student_layers = num_student_layers
        self.num_teacher_layers = num_teacher_layers

    @property
    @abstractmethod
    def teacher_layers(self) -> tuple[int, ...]:
        """Teacher hidden-state indices the loss reads (all a cache needs to keep)."""

    @abstractmethod
    def loss(
        self,
        student_hiddens: Sequence[Tensor],
        teacher_hiddens: TeacherHiddens,
        mask: Tensor,
        inter_loss: InterLoss,
    ) -> Tensor:
        """Σ_ij m_ij l^inter(H_j^S, H_i^T) for one batch; ``mask`` is the attention mask [B, T]."""

    def _check_counts(self, student_hiddens: Sequence[Tensor], teacher_hiddens: TeacherHiddens) -> None:
        """Catch a mapping built for other depths than the models it is fed."""
        for side, layers, hiddens in (
            ("student", self.num_student_layers, student_hiddens),
            ("teacher", self.num_teacher_layers, teacher_hiddens),
        ):
            if isinstance(hiddens, Sequence) and len(hiddens) != layers + 1:
                raise AutodistillError(
                    f"layer mapping {self.name!r} was built for {layers} {side} layers "
                    f"({layers + 1} hidden states) but got {len(hiddens)} hidden states"
                )


MAPPINGS: Registry[type[LayerMapping]] = Registry("layer mapping")


def build_mapping(name: str, *, num_student_layers: int, num_teacher_layers: int) -> LayerMapping:
    """The mapping ``name`` for a student of N layers and a teacher of M layers."""
    return MAPPINGS.get(name)(num_student_layers, num_teacher_layers)


class OneToOneMapping(LayerMapping):
    """m_ij ∈ {0, 1}: each student layer j learns from one teacher layer; Eq. 1 sums the pairs."""

    def __init__(self, num_student_layers: int, num_teacher_layers: int) -> None:
        super().__init__(num_student_layers, num_teacher_layers)
        if num_student_layers > num_teacher_layers:
            raise AutodistillError(
                f"layer mapping {self.name!r} gives each student layer its own teacher layer, but the "
                f"student has {num_student_layers} layers, the teacher only {num_teacher_layers}; use 'emd'"
            )
        layers = range(1, num_student_layers + 1)
        self.pairs: tuple[tuple[int, int], ...] = ((0, 0), *((j, self.teacher_layer(j)) for j in layers))

    @abstractmethod
    def teacher_layer(self, j: int) -> int:
        """The teacher layer student layer j (1..N) learns from."""

    @property
    def teacher_layers(self) -> tuple[int, ...]:
        return tuple(i for _, i in self.pairs)

    def loss(
        self,
        student_hiddens: Sequence[Tensor],
        teacher_hiddens: TeacherHiddens,
        mask: Tensor,
        inter_loss: InterLoss,
    ) -> Tensor:
        self._check_counts(student_hiddens, teacher_hiddens)
        return torch.stack([inter_loss(student_hiddens[j], teacher_hiddens[i], mask) for j, i in self.pairs]).sum()


@MAPPINGS.register("skip")
class SkipMapping(OneToOneMapping):
    """Skip (§3.3.1): student layer j ↔ teacher layer j·⌊M/N⌋, every ⌊M/N⌋-th teacher layer."""

    name = "skip"

    def teacher_layer(self, j: int) -> int:
        return j * (self.num_teacher_layers // self.num_student_layers)


@MAPPINGS.register("last")
class LastMapping(OneToOneMapping):
    """Last (§3.3.1): student layer j ↔ teacher layer j + M - N, the teacher's last N layers."""

    name = "last"

    def teacher_layer(self, j: int) -> int:
        return j + self.num_teacher_layers - self.num_student_layers


def pair_costs(inter_loss: InterLoss, students: Sequence[Tensor], teachers: Sequence[Tensor], mask: Tensor) -> Tensor:
    """l^inter of every (student, teacher) state pair as a [len(students), len(teachers)] matrix.

    A loss with a ``pairwise`` method computes the matrix itself (MI-α encodes each
    state once for all pairs); any other is called pair by pair.
    """
    pairwise = getattr(inter_loss, "pairwise", None)
    if pairwise is not None:
        return pairwise(students, teachers, mask)
    costs = [inter_loss(s, t, mask) for s in students for t in teachers]
    return torch.stack(costs).view(len(students), len(teachers))


def emd_flow(cost: Tensor) -> Tensor:
    """The optimal flow W of Eq. 4 for a cost matrix D [N, M], from POT's exact solver.

    Student layers (rows) each supply mass 1/N and teacher layers (columns) each
    demand 1/M: uniform layer weights. The flow is a constant: no gradient.
    """
    n, m = cost.shape
    costs = cost.detach().cpu().double().numpy()
    # Shifted to be non-negative: with uniform marginals every plan moves the same total mass, so
    # the optimal plan is unchanged, and POT's network simplex can report negative costs (MI-α's
    # are -I_α) as "infeasible" and return an all-zero plan, which would make the loss 0/0.
    flow = ot.emd(np.full(n, 1 / n), np.full(m, 1 / m), costs - costs.min())
    if not np.isclose(flow.sum(), 1.0):
        raise AutodistillError(f"the EMD layer mapping found no transport plan for costs {costs.tolist()}")
    return torch.as_tensor(flow, dtype=cost.dtype, device=cost.device)


@MAPPINGS.register("emd")
class EMDMapping(LayerMapping):
    """EMD (BERT-EMD, Eq. 4): a many-to-many mapping re-solved on every batch.

    d_ij = l^inter(H_i^S, H_j^T) over all student layers 1..N and teacher layers 1..M;
    the loss Σ w_ij d_ij / Σ w_ij keeps its gradient through d_ij only. Layer weights
    are uniform: BERT-EMD's cost-attention update of the weights is not implemented.
    The embedding pair 0 ↔ 0 is added outside the transport, as BERT-EMD does.
    """

    name = "emd"

    @property
    def teacher_layers(self) -> tuple[int, ...]:
        return tuple(range(self.num_teacher_layers + 1))

    def loss(
        self,
        student_hiddens: Sequence[Tensor],
        teacher_hiddens: TeacherHiddens,
        mask: Tensor,
        inter_loss: InterLoss,
    ) -> Tensor:
        self._check_counts(student_hiddens, teacher_hiddens)
        n, m = self.num_student_layers, self.num_teacher_layers
        students = [student_hiddens[j] for j in range(1, n + 1)]
        cost = pair_costs(inter_loss, students, [teacher_hiddens[i] for i in range(1, m + 1)], mask)
        flow = emd_flow(cost)
        return inter_loss(student_hiddens[0], teacher_hiddens[0], mask) + (flow * cost).sum() / flow.sum()
