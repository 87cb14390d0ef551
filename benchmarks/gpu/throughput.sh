# The one command on a lent GPU machine (carry .gt, built by make_throughput_parts.sh): install the
# carried packages, unpack bbc-news, then benchmarks/gpu_throughput.py: the throughput table, then the
# study's realistic sweep for $1 seconds (default 240). Results and the log come back in $OUT.
source benchmarks/gpu/env.sh
mkdir -p $G/site $G/home
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $G/site .gt/whl/*.whl || exit 1
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target $G/tb \
  .gt/whl/textbrewer-0.2.1.tar.gz || echo "TextBrewer did not install: its rows are skipped"
tar xJf .gt/data.txz -C $G/home || exit 1
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
python3 -c "import torch, transformers, accelerate; print(torch.__version__, transformers.__version__, accelerate.__version__)"
python3 benchmarks/gpu_throughput.py --tokenizer .gt/tokenizer --workdir $G/work --textbrewer-dir $G/tb \
  --study-seconds ${1:-240} --out $OUT/gpu_throughput.json > $OUT/gpu_throughput.log 2>&1
echo "== gpu_throughput exit $?"; grep -v -i "warn\|Loading weights\|Writing model" $OUT/gpu_throughput.log | tail -40
