"""Projection of student hidden states to the teacher's width, so l^inter compares like with like.

One learned linear map per student hidden state (embeddings included), rather than
one shared map: the embedding output and the outputs of successive layers live in
differently scaled spaces, and under EMD one student layer answers to several
teacher layers, so each layer gets its own map. The cost is small (N + 1 matrices
of student × teacher width). When the widths are equal the maps are the identity,
adding no parameters. MI-α could compare unequal widths, but every loss takes the
same projected path so that swapping losses changes nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from engine.errors import AutodistillError


class HiddenProjection(nn.Module):
    """Maps the N + 1 student hidden states [B, T, H_S] to [B, T, H_T]."""

    def __init__(self, num_student_layers: int, student_width: int, teacher_width: int) -> None:
        super().__init__()
        self.maps = nn.ModuleList(
            nn.Identity() if student_width == teacher_width else nn.Linear(student_width, teacher_width)
            for _ in range(num_student_layers + 1)
        )

    def forward(self, student_hiddens: Sequence[Tensor]) -> tuple[Tensor, ...]:
        if len(student_hiddens) != len(self.maps):
            raise AutodistillError(
                f"projection was built for {len(self.maps)} student hidden states, got {len(student_hiddens)}"
            )
        return tuple(project(h) for project, h in zip(self.maps, student_hiddens, strict=True))
