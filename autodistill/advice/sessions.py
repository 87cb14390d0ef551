"""Machine sessions: which stored runs were timed on one machine, told from when they ran.

A run's wall time measures its machine as much as its pipeline (two 2-core CPUs took the same runs
two to three times apart), and runs stored before the engine's speed probe do not say which machine
timed them. Their clocks do: a study sweeps in sessions, its runs following one another on one device
label without long pauses, and a session's machine is not swapped while it runs. So runs on one device
label, each starting within :data:`SESSION_GAP` of the end of the ones before, form a session
(:func:`machine_sessions`), and the cost model gives each session a level of its own
(:func:`session_levels`): the median of what it misses on the session's runs, shrunk toward none by
:data:`SESSION_PRIOR` runs' worth, so a session of a handful of runs moves little. A run whose session
other runs fitted knows its machine's speed the way a probed run does; a candidate (no session) or
a run of a session no fitted run shares is priced at the average machine's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The column :func:`with_machine_sessions` adds and the cost model reads.
SESSION = "machine_session"
#: A pause this long on a device label starts a new session: a sweep's next run starts within seconds
#: of the last one's end, while sessions on the project's machines lie hours apart.
SESSION_GAP = pd.Timedelta(minutes=30)
#: Runs' worth of evidence for "this session is an average machine" that a session's own runs outweigh.
SESSION_PRIOR = 10.0


def machine_sessions(runs: pd.DataFrame) -> pd.Series:
    """Each run's session key (its device label and the session's first start), NaN where the run has no
    ``created_at`` (its end) or wall time. Sessions are read off the whole frame at once: the keys of a
    subset differ where the runs left out bridged a pause."""
    columns = runs.reindex(columns=["created_at", "wall_time_s", "device"]).reset_index(drop=True)  # by position
    end = pd.to_datetime(columns["created_at"], utc=True, format="ISO8601", errors="coerce")
    start = end - pd.to_timedelta(columns["wall_time_s"].astype(float), unit="s")
    keys = pd.Series(np.nan, index=columns.index, dtype=object)
    timed = start.notna()
    for device, index in columns[timed].groupby(columns["device"].astype(str)).groups.items():
        order = start[index].sort_values()
        latest_end = end[order.index].cummax().shift()  # the end of every run started before this one
        first = (order - latest_end > SESSION_GAP) | latest_end.isna()
        session_start = order.where(first).ffill()
        keys[order.index] = device + " from " + session_start.dt.strftime("%Y-%m-%dT%H:%M:%S")
    return keys.set_axis(runs.index)


def with_machine_sessions(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with their :data:`SESSION` column (:func:`machine_sessions` over all of them)."""
    return runs.assign(**{SESSION: machine_sessions(runs)})


def session_levels(sessions: pd.Series, missed: np.ndarray, levels: dict[str, float]) -> dict[str, float]:
    """``levels`` moved by the shrunk median of what a model still ``missed`` (log measured less log
    predicted) on each session's runs, centred so that the runs' mean level is none: an unknown
    machine is the average one. Runs without a session (NaN) count for none."""
    frame = pd.DataFrame({"session": sessions.to_numpy(), "missed": missed}).dropna()
    per = frame.groupby("session")["missed"].agg(["median", "size"])
    moved = {s: levels.get(s, 0.0) + m * n / (n + SESSION_PRIOR) for s, m, n in per.itertuples()}
    mean = float(frame["session"].map(moved).mean()) if len(frame) else 0.0
    return {s: level - mean for s, level in moved.items()}


def session_offset(sessions: pd.Series, levels: dict[str, float]) -> np.ndarray:
    """Each row's session level, 0 where it has no session or its session is not among ``levels``."""
    return sessions.map(levels).astype(float).fillna(0.0).to_numpy()
