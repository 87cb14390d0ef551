"""Random search over the Distiller space (paper §4), in local worker processes or on a Ray cluster.

AutoDistiller learns from past runs; a sweep makes them. The package keeps the
decision apart from the machinery:

* :mod:`~autodistill.sweep.plan` — which trials to run (a pure function of the request);
* :mod:`~autodistill.sweep.execute` — one trial through :func:`engine.run` /
  :func:`engine.finetune`, its failure as one line;
* :mod:`~autodistill.sweep.backends` — in this process or a local process pool;
  :mod:`~autodistill.sweep.ray_backend` — Ray tasks;
* :mod:`~autodistill.sweep.runner` — running the pending trials, logging each
  outcome in the runs store, the summary.
"""

from autodistill.sweep.backends import BACKENDS
from autodistill.sweep.execute import Outcome, TrialFn, error_line, execute_trial
from autodistill.sweep.plan import Trial, parse_students, plan, plan_datasets, sample_configs, trial_id
from autodistill.sweep.runner import SweepReport, ensure_features, record_outcome, run_sweep, run_trials
from engine import available_cpus

__all__ = [
    "BACKENDS",
    "Outcome",
    "SweepReport",
    "Trial",
    "TrialFn",
    "available_cpus",
    "ensure_features",
    "error_line",
    "execute_trial",
    "parse_students",
    "plan",
    "plan_datasets",
    "record_outcome",
    "run_sweep",
    "run_trials",
    "sample_configs",
    "trial_id",
]
