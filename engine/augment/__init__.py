"""Data augmentation policy a(x, y) of Distiller's Eq. 1 (§3.1, Algorithm 1).

Elementary operations, registered by the names users type:

=========  ===========================================================  =======================
name       what                                                         module
=========  ===========================================================  =======================
``ca``     contextual augmentation: masked-LM filling, or GloVe          ``contextual``
           nearest neighbours offline (``ca_model="glove"``)
``ra``     random augmentation (EDA): WordNet synonym replacement,       ``random_eda``
           random insertion, swap, deletion
``bt``     back-translation: Apertium eng-spa offline, or Marian         ``backtranslation``
``mixup``  mixup on word embeddings, labels mixed with the same λ        ``mixup``
=========  ===========================================================  =======================

A policy is any stack of them (``augment=("ca", "ra", "mixup")``), applied per
example by :class:`~engine.augment.policy.AugmentPolicy`, during training in
background workers (:mod:`engine.augment.feed`, :mod:`engine.augment.workers`,
:mod:`engine.augment.training`)
or written once to disk by :func:`~engine.augment.pregenerated.pregenerate`.
Importing the package fills :data:`AUGMENTERS`.
"""

from engine.augment import backtranslation, contextual, mixup, random_eda
from engine.augment.base import AUGMENTERS, AugmentSettings, TextItem
from engine.augment.policy import AugmentPolicy, PolicySpec, TextExample, build_policy
from engine.augment.pregenerated import PregeneratedSource, pregenerate

__all__ = [
    "AUGMENTERS",
    "AugmentPolicy",
    "AugmentSettings",
    "PolicySpec",
    "PregeneratedSource",
    "TextExample",
    "TextItem",
    "backtranslation",
    "build_policy",
    "contextual",
    "mixup",
    "pregenerate",
    "random_eda",
]
