"""``autodistill search``: recommend's picks, then TPE with pruning over epochs (beyond the paper).

* :mod:`~autodistill.search.space` — the Distiller space as Optuna suggestions;
* :mod:`~autodistill.search.request` — what a search asks for, checked once;
* :mod:`~autodistill.search.study` — the study on disk: resume, refusals, budget spent;
* :mod:`~autodistill.search.session` — the search itself, run here, and its report;
* :mod:`~autodistill.search.ray_tune` — the same on Ray Tune (OptunaSearch + ASHA).
"""

from autodistill.search.request import PRUNERS, SearchRequest, make_trial
from autodistill.search.session import SearchReport, export_student, recommended_picks, run_search
from autodistill.search.space import params_of, suggest_pipeline

__all__ = [
    "PRUNERS",
    "SearchReport",
    "SearchRequest",
    "export_student",
    "make_trial",
    "params_of",
    "recommended_picks",
    "run_search",
    "suggest_pipeline",
]
