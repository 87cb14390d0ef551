#!/bin/bash
# Build the carry folder .gt (ignored through .git/info/exclude) for benchmarks/gpu/throughput.sh:
# the packages the lent machine's image lacks (as make_parts.sh downloads them), TextBrewer 0.2.1's
# source, the prepared bbc-news and MiniLM's tokenizer files (the random teacher shares its vocabulary).
set -e
cd "$(dirname "$0")/../.."
home=${AUTODISTILL_HOME:-$HOME/.cache/autodistill}
version() { .venv/bin/python -c "import importlib.metadata as m; print(m.version('$1'))"; }
rm -rf .gt && mkdir -p .gt/whl .gt/tokenizer
exclude=$(git rev-parse --git-path info/exclude) && mkdir -p "$(dirname "$exclude")"
grep -qx ".gt/" "$exclude" 2>/dev/null || echo ".gt/" >> "$exclude"
pins=()
for name in pydantic pydantic-core annotated-types typing-inspection dill; do pins+=("$name==$(version $name)"); done
.venv/bin/pip download -q --no-deps -c scripts/constraints.txt --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .gt/whl "${pins[@]}" POT==0.9.5
.venv/bin/pip download -q --no-deps -c scripts/constraints.txt -d .gt/whl textbrewer==0.2.1
.venv/bin/python -c "from engine.data.catalog import prepare; prepare('bbc-news')"
tar cf - -C "$home" datasets/bbc-news | xz -6 -T2 > .gt/data.txz
model=$(.venv/bin/python -c "from engine.models.zoo import resolve_model_path as r; print(r('minilm-l6'))")
cp "$model"/{config.json,tokenizer.json,tokenizer_config.json,vocab.txt,special_tokens_map.json} .gt/tokenizer/
du -sb .gt
