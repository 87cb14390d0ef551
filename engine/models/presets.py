"""Named models a user can type: the default teacher and the fresh-student shapes.

A leaf module of plain data, so that the config schema can fill in a preset's
learning rate without importing torch or the zoo.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_TEACHER = "minilm-l6"


@dataclass(frozen=True)
class StudentShape:
    """A fresh-BERT student shape (paper Table 6, scaled to what runs offline), with the learning
    rate it trains at when the user sets none. Its layers start from random weights, so the
    pretrained-model rate of 5e-5 leaves it near chance after a few epochs. Measured by
    distilling from MiniLM on bbc-news (3 epochs, 128 tokens, default pipeline; dev accuracy):
    ``tiny`` .24 at 5e-5, .82 at 1e-3, .94 at 2e-3; ``mini`` .97 at 1e-3, .57 at 2e-3;
    ``tinybert4`` .98 at 1e-3. ``small`` is wider than MiniLM and was not measured: its rate
    follows the trend of wider shapes wanting smaller rates."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    lr: float


#: Named student shapes. Widths follow the paper's Table 6 students; a student
#: wider than the teacher's embedding matrix cannot be PCA-initialised (see
#: :func:`_pca_projection`), which only matters for ``small`` under MiniLM.
STUDENT_PRESETS: dict[str, StudentShape] = {
    "tiny": StudentShape(layers=2, hidden=128, heads=2, ffn=512, lr=2e-3),
    "mini": StudentShape(layers=4, hidden=256, heads=4, ffn=1024, lr=1e-3),
    "tinybert4": StudentShape(layers=4, hidden=312, heads=12, ffn=1200, lr=1e-3),
    "small": StudentShape(layers=4, hidden=512, heads=8, ffn=2048, lr=5e-4),
}
