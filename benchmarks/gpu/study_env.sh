# Sourced on the GPU machine (and by the CPU smoke): where the study sweep's carried files live.
export G=${G:-/tmp/gs}
export PYTHONPATH=$G/site:$PWD
export AUTODISTILL_HOME=$G/home WNSEARCHDIR=$G/wordnet
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
