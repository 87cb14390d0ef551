# Sourced on the GPU machine (and by the study sweep's CPU smoke): where the carried files live
# and what Python sees. G: /tmp/gx unless set.
export G=${G:-/tmp/gx}
export PYTHONPATH=$G/site:$PWD
export AUTODISTILL_HOME=$G/home WNSEARCHDIR=$G/wordnet
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
