# The study's realistic sweep with the paper's pair (MPNet-base -> TinyBERT4), stopped at $2 seconds; resumable.
source benchmarks/gpu/env.sh
timeout ${2:-540} python3 -c "from cli import app; app()" study sweep --fidelity realistic --students tinybert4 \
  --teacher mpnet-base --datasets "$1" --workers 0 --no-features --store $G/study.sqlite > $OUT/sweep.log 2>&1
echo "== sweep exit $?"; grep -v -i "warn" $OUT/sweep.log | tr '\r' '\n' | grep -v "it/s\|s/it" | tail -25
python3 -c "import sqlite3; s=sqlite3.connect('$G/study.sqlite'); d=sqlite3.connect('$OUT/study.sqlite'); s.backup(d); print('rows', d.execute('select count(*) from trials').fetchone())"
