"""Held-out evaluation of AutoDistiller's advice: for each data set of the study
in turn, the advice's picks made without its family against random configurations, the fixed defaults
and the no-KD baseline, under one budget and the same seeds, with the study's best run as the oracle.

* :mod:`~autodistill.evaluation.heldout.arms`: which configurations each arm gets, chosen without the data set;
* :mod:`~autodistill.evaluation.heldout.protocol`: running them through the sweep, one row per run in ``results.csv``;
* :mod:`~autodistill.evaluation.heldout.summary`: mean test ratio per arm, win rates, the Wilcoxon test, the losses,
  and :func:`~autodistill.evaluation.heldout.summary.heldout_markdown`, the section a study page includes.
"""

from autodistill.evaluation.heldout.protocol import HELDOUT_RESULTS, HeldoutSettings, evaluate_heldout, read_rows
from autodistill.evaluation.heldout.summary import HeldoutSummary, heldout_markdown, study_section, summarize_heldout

__all__ = [
    "HELDOUT_RESULTS",
    "HeldoutSettings",
    "HeldoutSummary",
    "evaluate_heldout",
    "heldout_markdown",
    "read_rows",
    "study_section",
    "summarize_heldout",
]
