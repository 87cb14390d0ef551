"""A collated batch and the inputs a model's ``forward`` takes from it.

Kept apart from the trainer so that the teacher cache, the objective and the
teacher policies can feed models without importing the training loop.
"""

from __future__ import annotations

import inspect

import torch
from accelerate.utils import extract_model_from_parallel
from torch import nn

Batch = dict[str, torch.Tensor]


def model_inputs(model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
    """The batch tensors this model's ``forward`` accepts (MPNet has no token types).

    Several processes wrap the student in DDP, whose ``forward`` takes ``*args, **kwargs``:
    the signature that counts is the wrapped model's.
    """
    accepted = inspect.signature(extract_model_from_parallel(model).forward).parameters
    names = ("input_ids", "attention_mask", "token_type_ids", "inputs_embeds")
    return {k: batch[k] for k in names if k in batch and k in accepted}
