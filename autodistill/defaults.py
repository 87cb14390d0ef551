"""The fixed default pipelines a practitioner reaches for instead of a recommendation.

AutoDistiller's advice is only worth having if it beats these (the held-out
evaluation's arms), and the study runs them on every data set so that they compare across data
sets. They are named by what a user types (``--default tinybert``):

* ``logit``: plain logit KD (Hinton et al., 2015): the prediction loss only, no
  intermediate term, no augmentation.
* ``tinybert``: TinyBERT's intermediate recipe (Jiao et al., 2020) as a Distiller
  pipeline (paper Appendix A): MSE over the Skip mapping, CE prediction loss. Its
  contextual augmentation is left out, so the recipe costs what its losses cost.
* ``mi-alpha``: the Distiller paper's own recipe (Table 1): MI-α with "α = 0.9" over
  the Skip mapping, CE prediction loss. The authors' code passed that 0.9 through a
  sigmoid before interpolating, and our α is the interpolation weight itself, so the
  recipe as they ran it is α = sigmoid(0.9) = 0.711 here (as configs/recipes/mi-alpha.yaml).

Regression tasks take MSE as their prediction loss (``for_task``), as every pipeline
of the space does there.
"""

from __future__ import annotations

from dataclasses import replace

from autodistill.space import Pipeline, logit_kd
from engine import choices_error

FIXED_DEFAULTS: dict[str, Pipeline] = {
    "logit": logit_kd("ce"),
    "tinybert": Pipeline(mapping="skip", inter_loss="mse", alpha=None, pred_loss="ce"),
    "mi-alpha": Pipeline(mapping="skip", inter_loss="mi", alpha=0.711, pred_loss="ce"),
}


def fixed_default(name: str, *, regression: bool = False) -> Pipeline:
    """One fixed default by name; a regression task's takes the MSE prediction loss."""
    if name not in FIXED_DEFAULTS:
        raise choices_error("fixed default", name, tuple(FIXED_DEFAULTS))
    point = FIXED_DEFAULTS[name]
    return replace(point, pred_loss="mse") if regression else point
