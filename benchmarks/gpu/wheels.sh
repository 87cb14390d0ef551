# Sourced by make_parts.sh and make_throughput_parts.sh (run from the checkout's root):
# `download_wheels DIR` puts in DIR the packages the lent machine's image lacks, as wheels for its
# Python 3.12, and TextBrewer 0.2.1's source.
download_wheels() {
  local pins=() name
  for name in pydantic pydantic-core annotated-types typing-inspection dill; do
    pins+=("$name==$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('$name'))")")
  done
  # POT 0.9.5: later wheels carry a 175 MB extension (ot.bsp) that `import ot` loads
  .venv/bin/pip download -q --no-deps -c scripts/constraints.txt --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$1" "${pins[@]}" POT==0.9.5
  .venv/bin/pip download -q --no-deps -c scripts/constraints.txt -d "$1" textbrewer==0.2.1
}
