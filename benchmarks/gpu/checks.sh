# The last weight part, MPNet reassembled, then gpu_check.py one check per process (each saves its entries).
source benchmarks/gpu/env.sh
cp .g4/part3 $G/parts/ && python3 benchmarks/gpu/unpack.py $G/parts $G/home/models/mpnet-base || exit 1
for spec in bf16:100 matrix:200 team:70 cache:50 launch:70 throughput:90; do
  check=${spec%%:*}; limit=${spec##*:}; start=$(date +%s)
  timeout $limit python3 benchmarks/gpu_check.py --checks $check --workdir $G/work --textbrewer-dir $G/tb > $OUT/$check.log 2>&1
  echo "== $check exit $? in $(( $(date +%s) - start )) s"; grep -v -i "warn" $OUT/$check.log | tail -4
  cp benchmarks/results/gpu_check.json $OUT/ 2>/dev/null
done
