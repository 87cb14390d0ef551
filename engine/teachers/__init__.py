"""Teacher teams and teacher policies: how each step's teacher signal is formed.

* ``spec``       how a config names a member (``minilm-l6:layers=0,1:seed=7``)
* ``subsets``    smaller teachers cut from a pretrained encoder
* ``team``       fine-tuned members and their teacher-output caches
* ``objective``  prediction-layer KD from a team; the teacher-policy registry
* ``policies``   ``single``, ``average``, ``sample``
* ``learned``    AutoSKDBERT's learned Cat(θ) (``learned``)

This package's modules are imported one by one; ``__init__`` imports none, so the
config schema can read :mod:`engine.teachers.spec` without loading models.
"""
