"""Held-out evaluation of AutoDistiller's advice: for each data set of the study
in turn, the predictor's picks made without it against random configurations, the fixed defaults
and the no-KD baseline, under one budget and the same seeds, with the study's best run as the oracle.

* :mod:`~autodistill.heldout.arms`: which configurations each arm gets, chosen without the data set;
* :mod:`~autodistill.heldout.protocol`: running them through the sweep, one row per run in ``results.csv``;
* :mod:`~autodistill.heldout.summary`: mean test ratio per arm, win rates, the Wilcoxon test, the losses,
  and :func:`~autodistill.heldout.summary.markdown`, the section a study page includes.
"""

from autodistill.heldout.protocol import DEFAULT_OUT, HeldoutSettings, evaluate_heldout, read_rows
from autodistill.heldout.summary import HeldoutSummary, markdown, summarize

__all__ = ["DEFAULT_OUT", "HeldoutSettings", "HeldoutSummary", "evaluate_heldout", "markdown", "read_rows", "summarize"]
