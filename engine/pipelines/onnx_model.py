"""The student as an ONNX graph: export, int8 quantization, and a runner that stands in for the model.

Export goes through torch's own ONNX exporter (``torch.onnx.export``, the ``torch.export``
based one) and int8 through onnxruntime's dynamic quantization, both maintained upstream.
The graph takes the inputs the model's ``forward`` takes (MPNet has no token types) and
returns the head's outputs under their Hugging Face names (``logits``, or ``start_logits``
and ``end_logits``), with batch and sequence dynamic. :class:`OnnxModel` runs a graph
through onnxruntime and answers like the PyTorch model, so that the task heads, the
metrics, the latency timer and prediction use it unchanged.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import nn

from engine.errors import AutodistillError
from engine.models.batch import Batch, model_inputs

#: The graph's file name in an exported folder, and its int8 version's.
ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
#: Outputs of a Hugging Face model that are not the head's (the graph leaves them out).
NOT_HEAD_OUTPUTS = frozenset({"loss", "hidden_states", "attentions"})


def _require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise AutodistillError(
            "ONNX export and inference need onnxruntime: pip install 'autodistill[export]'"
        ) from None
    return onnxruntime


class _HeadOutputs(nn.Module):
    """The model with its head's outputs as a tuple, the form an exporter traces."""

    def __init__(self, model: nn.Module, inputs: tuple[str, ...], outputs: tuple[str, ...]) -> None:
        super().__init__()
        self.model, self.inputs, self.outputs = model, inputs, outputs

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        result = self.model(**dict(zip(self.inputs, tensors, strict=True)))
        return tuple(result[name] for name in self.outputs)


#: Warnings the exporter gives on every export of ours, none of which the user can act on: that
#: PyTorch's pytree module renamed a class it uses, and that our two dynamic axes (batch, sequence),
#: shared by every input, are named once rather than per input.
EXPORTER_CHATTER = (
    (FutureWarning, r"`isinstance\(treespec, LeafSpec\)` is deprecated"),
    (UserWarning, r"# The axis name: \w+ will not be used"),
)


def export_onnx(model: nn.Module, sample: Batch, path: Path) -> tuple[str, ...]:
    """Write ``model`` as an ONNX graph to ``path``, traced on ``sample`` (a collated batch of at
    least two examples, so that batch and sequence are not fixed at 1); returns its output names."""
    try:
        from torch.export import Dim
    except ImportError:  # pragma: no cover - torch >= 2.4 has it
        raise AutodistillError("ONNX export needs torch >= 2.4 (torch.export)") from None
    model = model.to("cpu").eval()
    inputs = model_inputs(model, sample)
    with torch.no_grad():
        outputs = tuple(name for name in model(**inputs) if name not in NOT_HEAD_OUTPUTS)
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", 512)
    batch, sequence = Dim("batch"), Dim("sequence", max=limit)
    quiet = logging.getLogger("torch.onnx")  # the exporter names every optional library it skips
    level, quiet.level = quiet.level, logging.ERROR
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # and prints its progress
            for category, text in EXPORTER_CHATTER:
                warnings.filterwarnings("ignore", message=text, category=category)
            torch.onnx.export(
                _HeadOutputs(model, tuple(inputs), outputs).eval(),
                tuple(inputs.values()),
                str(path),
                input_names=list(inputs),
                output_names=list(outputs),
                dynamic_shapes=(tuple({0: batch, 1: sequence} for _ in inputs),),  # forward's *tensors
                dynamo=True,
                external_data=False,  # one file to ship (graphs under protobuf's 2 GB limit)
            )
    except Exception as exc:  # the exporter's report is pages long; one line of it says why
        raise AutodistillError(f"cannot export {type(model).__name__} to ONNX: {_reason(exc)}") from None
    finally:
        quiet.level = level
    return outputs


def _reason(exc: Exception) -> str:
    """The line of the exporter's report that names the failure (its exception summary)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    summary = [line.split(">:", 1)[1].strip() for line in lines if line.startswith("<class") and ">:" in line]
    return (summary or lines or [type(exc).__name__])[0]


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of the graph's weights (activations quantized on the fly)."""
    _require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quiet = logging.getLogger()  # the quantizer suggests pre-processing through the root logger
    level, quiet.level = quiet.level, logging.ERROR
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        quiet.level = level


class OnnxModel(nn.Module):
    """An ONNX graph behind the PyTorch model's interface: ``forward`` takes the same tensors and
    answers with the head's outputs by name, on the CPU, with ``threads`` onnxruntime threads
    (None: onnxruntime's default, all cores)."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        super().__init__()
        ort = _require_onnxruntime()
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = options.inter_op_num_threads = threads
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> SimpleNamespace:
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        feed = {name: np.ascontiguousarray(given[name].cpu().numpy()) for name in self.input_names}
        values = self.session.run(self.output_names, feed)
        return SimpleNamespace(**{n: torch.from_numpy(v) for n, v in zip(self.output_names, values, strict=True)})
