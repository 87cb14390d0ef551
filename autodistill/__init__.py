"""AutoDistiller, the meta layer: advice on which distillation pipeline to run on a new data set.

``cli`` imports what it needs from here, and a user's code should too: the rooms behind this door
are free to change their modules. The study (the project's own write-up) imports its plumbing from
the rooms themselves, so the door lists what a user calls. The rooms, from the ground up:

* :mod:`~autodistill.space` — the pipeline space: its points (:class:`Pipeline`), its rules, the
  fixed defaults, the vocabulary older data was written in;
* :mod:`~autodistill.store` — the runs store (SQLite) and the runs shipped with the project;
* :mod:`~autodistill.journal` — what a user runs by hand (``run``, ``finetune``, ``teacher train``), kept there;
* :mod:`~autodistill.caches` — the home folder's parts, their disk use, clearing the caches among them;
* :mod:`~autodistill.features` — a data set's features (paper Table 7) and the baseline feature;
* :mod:`~autodistill.bridge` — where a point and a budget become an engine config, and a result a row;
* :mod:`~autodistill.predictor` — the paper's predictor and its model designs (evaluated, not advising);
* :mod:`~autodistill.sweep` — random search: trials run and logged (the study's plan included);
* :mod:`~autodistill.advice` — ``recommend``: weigh the space by predicted gain over logit KD, price and save the picks;
* :mod:`~autodistill.search` — ``search``: recommend's picks, then TPE with pruning;
* :mod:`~autodistill.evaluation` — how good the advice is: leave-one-out, nested, held-out, importance,
  and the one noise model (seed spread, test sampling, dev-selection bias) its claims are read against.

Names load on first use (:func:`__getattr__`): ``from autodistill import open_store`` costs the
store's import, not the predictor's and the search's (seconds), so a command pays for what it uses.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Where each public name lives: module -> the names it lends the door.
_DOOR: dict[str, tuple[str, ...]] = {
    "autodistill.space": ("DEFAULT_SPACE", "Pipeline", "inter_level", "pipeline_label"),
    "autodistill.store.database": ("RunStore", "list_runs", "open_store", "stored_runs"),
    "autodistill.store.shipped": ("STUDY_DIR", "export_study", "import_runs", "shipped_store"),
    "autodistill.journal": ("record_user_run", "record_user_teacher"),
    "autodistill.caches": ("HomeFolder",),
    "autodistill.features.baseline": ("BaselineSettings",),
    "autodistill.features.featurize": ("Featurized", "featurize_dataset", "featurizer_version"),
    "autodistill.bridge": ("BUDGET_FIELDS", "engine_config", "make_budget", "space_for"),
    "autodistill.predictor.model": ("PredictorSettings",),
    "autodistill.sweep": ("SweepReport", "Trial", "parse_students", "plan_datasets", "run_sweep"),
    "autodistill.sweep.study_plan": ("fidelity", "select_configs"),
    "autodistill.sweep.study_run": ("run_study",),
    "autodistill.advice.recommend": ("DEFAULT_STUDENT", "recommend", "recommend_dataset"),
    "autodistill.advice.recommendation": ("LEGEND", "Recommendation", "load_recommendation"),
    "autodistill.advice.trial": ("run_trial", "trial_readout"),
    "autodistill.search": ("SearchReport", "SearchRequest", "recommended_picks", "run_search"),
    "autodistill.evaluation.lodo": ("PAPER_MEAN_SPEARMAN", "default_version", "evaluate_lodo"),
    "autodistill.evaluation.nested": ("evaluate_nested", "parse_designs", "reported_on"),
    "autodistill.evaluation.noise": ("latest_splits", "sampling_errors"),
    "autodistill.evaluation.heldout": (
        "HELDOUT_RESULTS",
        "HeldoutSettings",
        "HeldoutSummary",
        "evaluate_heldout",
        "heldout_markdown",
        "summarize_heldout",
    ),
    "autodistill.evaluation.importance": ("COMPONENTS", "importance_report"),
}
_HOME: dict[str, str] = {name: module for module, names in _DOOR.items() for name in names}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    """Load a public name's module the first time the name is asked for (PEP 562)."""
    if name not in _HOME:
        raise AttributeError(f"module 'autodistill' has no attribute {name!r}")
    value = getattr(import_module(_HOME[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
