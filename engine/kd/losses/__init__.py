"""Distillation losses of Eq. 1: prediction-layer (β and γ terms) and intermediate (l^inter).

Importing the package fills every registry, MI-α's ``"mi"`` included.
"""

from engine.kd.losses.intermediate import INTER_LOSSES, build_inter_loss
from engine.kd.losses.mi import CRITICS, MIAlphaLoss, interpolated_bound
from engine.kd.losses.prediction import LABEL_LOSSES, PRED_LOSSES, check_pred_loss

__all__ = [
    "CRITICS",
    "INTER_LOSSES",
    "LABEL_LOSSES",
    "PRED_LOSSES",
    "MIAlphaLoss",
    "build_inter_loss",
    "check_pred_loss",
    "interpolated_bound",
]
