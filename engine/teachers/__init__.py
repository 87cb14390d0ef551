"""Teacher teams and teacher policies: how each step's teacher signal is formed.

* ``finetune``   supervised fine-tuning: each member (cached), the no-KD student baseline
* ``subsets``    smaller teachers cut from a pretrained encoder
* ``team``       fine-tuned members and their teacher-output caches
* ``objective``  prediction-layer KD from a team; the teacher-policy registry
* ``policies``   ``single``, ``average``, ``sample``
* ``learned``    AutoSKDBERT's learned Cat(θ) (``learned``)

How a config names a member (``minilm-l6:layers=0,1:seed=7``) is
:mod:`engine.models.teacher_spec`, below the config schema that parses it.
"""
