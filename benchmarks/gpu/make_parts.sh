#!/bin/bash
# Build the carry folders .g1-.g4 (ignored through .git/info/exclude) for an offline GPU machine:
# the packages the machine's image lacks, the prepared data sets, WordNet, and MPNet-base in parts.
# Each call of the workplace's GPU tool carries at most 64 MiB with the tracked tree (~9 MB).
set -e
cd "$(dirname "$0")/../.."
home=${AUTODISTILL_HOME:-$HOME/.cache/autodistill}
datasets=${DATASETS:-wordnet-lexname wordnet-gloss-pair sotu-year wordnet-span brown-pos bbc-news drug-review vader-valence simlex-999}
rm -rf .g1 .g2 .g3 .g4 && mkdir -p .g1/whl .g2 .g3 .g4
# ignored, or every call would carry all four folders as untracked files
exclude=$(git rev-parse --git-path info/exclude) && mkdir -p "$(dirname "$exclude")"
for g in .g1 .g2 .g3 .g4; do grep -qx "$g/" "$exclude" 2>/dev/null || echo "$g/" >> "$exclude"; done
source benchmarks/gpu/wheels.sh && download_wheels .g1/whl
# prepared here first: a fresh home has none (prepare reuses a current copy)
.venv/bin/python -c "import sys; from engine.data.catalog import prepare; [prepare(d) for d in sys.argv[1:]]" $datasets
tar cf - -C "$home" $(for d in $datasets; do echo datasets/$d; done) | xz -6 -T2 > .g1/data.txz
tar cf - -C /usr/share wordnet/data.noun wordnet/data.verb wordnet/data.adj wordnet/data.adv | xz -9 -T2 > .g1/wn.txz
model=$(.venv/bin/python -c "from engine.models.zoo import resolve_model_path as r; print(r('mpnet-base'))") \
  || { echo "make_parts: MPNet-base is not installed here; run scripts/setup.sh --with-mpnet" >&2; exit 1; }
tar cf .g1/mpnet_small.tar -C "$model" --exclude model.safetensors .
first=$((54000000 - $(du -cb .g1 | tail -1 | cut -f1) - 20000))
.venv/bin/python benchmarks/gpu/pack.py "$model" .g1/mpnet $first,54000000,54000000,54000000
mv .g1/mpnet/part1 .g2/ && mv .g1/mpnet/part2 .g3/ && mv .g1/mpnet/part3 .g4/
du -sb .g1 .g2 .g3 .g4
