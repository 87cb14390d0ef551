#!/bin/bash
# Build the carry folder .gt (ignored through .git/info/exclude) for benchmarks/gpu/throughput.sh:
# the packages the lent machine's image lacks and TextBrewer 0.2.1's source (wheels.sh), the prepared
# bbc-news, and MiniLM's tokenizer files (the random teacher shares its vocabulary).
set -e
cd "$(dirname "$0")/../.."
home=${AUTODISTILL_HOME:-$HOME/.cache/autodistill}
rm -rf .gt && mkdir -p .gt/whl .gt/tokenizer
exclude=$(git rev-parse --git-path info/exclude) && mkdir -p "$(dirname "$exclude")"
grep -qx ".gt/" "$exclude" 2>/dev/null || echo ".gt/" >> "$exclude"
source benchmarks/gpu/wheels.sh && download_wheels .gt/whl
.venv/bin/python -c "from engine.data.catalog import prepare; prepare('bbc-news')"
tar cf - -C "$home" datasets/bbc-news | xz -6 -T2 > .gt/data.txz
model=$(.venv/bin/python -c "from engine.models.zoo import resolve_model_path as r; print(r('minilm-l6'))")
cp "$model"/{config.json,tokenizer.json,tokenizer_config.json,vocab.txt,special_tokens_map.json} .gt/tokenizer/
du -sb .gt
