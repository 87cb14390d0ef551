"""What finding headroom over logit KD costs on a data set other data sets say nothing about.

recommend puts logit KD first on every held-out family (``benchmarks/advice_heldout.py``): nothing in
the other families' runs points to the three pipelines the study page finds beating it. This replays
the next step a user can take (:mod:`autodistill.evaluation.own_trial`): try the top ``k`` alternatives
(by the top of their predicted gain's interval, from a model fitted without the data set's family)
and logit KD with ``s`` seeds on the data set itself, and let recommend's own-runs rule choose on dev.
Every ``k`` and ``s`` asked is printed; none is chosen here. Figures on the pairs the study's claims
count, each data set's latest split version; the pick's gain is on test, on the trial's own runs.

    python benchmarks/own_trial.py      # about half a minute; benchmarks/results/own_trial.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
from advice_heldout import study_headroom

from autodistill.evaluation.noise import latest_splits
from autodistill.evaluation.own_trial import own_trials
from autodistill.store.shipped import shipped_store
from engine import dataset_family

RESULTS = Path(__file__).parent / "results" / "own_trial.json"
#: Alternatives tried (None: every one the study ran there) and seeds per configuration.
ALTERNATIVES, SEEDS = (1, 2, 4, None), (3, 6)


def main() -> None:
    started = time.perf_counter()
    with shipped_store() as store:
        runs = latest_splits(store.runs(source="ours"))
        table = study_headroom(store)
    counted = table.loc[table["claims"] == "counted", ["dataset", "student", "headroom", "over logit KD"]]
    trials = own_trials(runs, dataset_family, ALTERNATIVES, SEEDS).merge(counted, on=["dataset", "student"])
    summary = summarise(trials)
    pd.set_option("display.width", 200)
    print(summary.to_string(index=False))
    found = trials[trials["headroom"] == "over logit KD"]
    print("on the pairs with headroom over logit KD (the study page's lead, what the trial's pick gained):")
    columns = ["dataset", "student", "asked", "seeds", "pick", "over logit KD", "gain", "gain_later_seeds"]
    columns += ["cost_x_logit"]
    print(found[columns].round(4).to_string(index=False))
    RESULTS.write_text(
        json.dumps(
            {
                "summary": summary.to_dict(orient="records"),
                "trials": trials.round(5).to_dict(orient="records"),
                "seconds": round(time.perf_counter() - started, 1),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")


def summarise(trials: pd.DataFrame) -> pd.DataFrame:
    """Per (alternatives asked, seeds): how many counted pairs a trial could be replayed on, how often it
    picked something other than logit KD, the pick's mean and worst test gain, the trial's median cost in
    logit KD runs, and the mean share of the study's lead it captured where the study finds headroom: on
    the trial's runs, and on the seeds beyond them where the study ran both (runs the choice never saw)."""
    found = trials["headroom"] == "over logit KD"
    trials = trials.assign(
        captured=(trials["gain"] / trials["over logit KD"]).where(found),
        captured_later=(trials["gain_later_seeds"] / trials["over logit KD"]).where(found),
    )
    wrong = ~found & ~trials["pick_is_logit"]
    summary = trials.assign(picked_without_headroom=wrong).groupby(["asked", "seeds"], sort=False)
    return (
        summary.agg(
            pairs=("dataset", "size"),
            not_logit=("pick_is_logit", lambda picks: int((~picks).sum())),
            picked_without_headroom=("picked_without_headroom", "sum"),
            mean_gain=("gain", "mean"),
            worst_gain=("gain", "min"),
            median_cost_x_logit=("cost_x_logit", "median"),
            headroom_pairs=("captured", "count"),
            headroom_captured=("captured", "mean"),
            headroom_pairs_later_seeds=("captured_later", "count"),
            headroom_captured_later_seeds=("captured_later", "mean"),
        )
        .reset_index()
        .round(4)
    )


if __name__ == "__main__":
    main()
