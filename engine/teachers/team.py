"""Teacher teams and teacher policies: how each step's teacher signal is formed.

A *team* is n teachers, each fine-tuned on the task by the ordinary teacher
fine-tuning (and cached the same way). A member is written as a teacher spec::

    minilm-l6                          a zoo preset, a hub id or a local folder
    minilm-l6:layers=0,1,2,3           the preset's first four encoder layers (a smaller teacher)
    minilm-l6:seed=7                   the same model fine-tuned with another seed
    minilm-l6:layers=0,1:epochs=5      options combine; each variant is cached under its own key

A *teacher policy* turns the team's logits into the one target the student
distils from at a step (prediction-layer KD only, as in AutoSKDBERT):

* ``single``  one member, ``team.pick`` (ordinary single-teacher KD);
* ``average`` the mean of all members' logits (AvgKD, Hinton et al. 2015);
* ``sample``  one member drawn per step from a fixed Cat(θ) (stochastic KD, AutoSKDBERT §2.1);
* ``learned`` AutoSKDBERT: Cat(θ) learned by bilevel optimisation (:mod:`engine.teachers.learned`).

Every member's logits come from its own :class:`~engine.kd.teacher_cache.TeacherCache`
over the run's training examples, so a step costs one student forward whatever
the team's size. Members may use different tokenizers for classification and
regression (each cache is built on its own tokenisation of the same rows); span
logits are per token, so a span team must tokenise exactly like the student.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from engine.training import distributed
from engine.config import DistillConfig, TeamConfig, TrainSettings
from engine.data.schema import TaskData, TaskSpec, TaskType
from engine.models.encoding import EncodedSplit, encode_split, limit_examples
from engine.errors import AutodistillError, choices_error
from engine.kd.losses import LABEL_LOSSES, PRED_LOSSES, check_pred_loss
from engine.kd.objective import label_targets, logit_list, mean_over_heads, natural_label_loss, prediction_heads
from engine.paths import publish_folder, subdir
from engine.registry import Registry
from engine.kd.teacher_cache import TeacherCache, TeacherOutputs, split_fingerprint
from engine.training.trainer import Batch, model_inputs
from engine.models.zoo import build_student, count_parameters, load_config, load_task_model, load_tokenizer, model_identity

if TYPE_CHECKING:
    from engine.training.finetune import FinetunedModel

# --------------------------------------------------------------------------- teacher specs

TEACHER_OPTIONS = ("layers", "seed", "epochs")
_OPTION_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.*?)\s*$")


@dataclass(frozen=True)
class TeacherSpec:
    """One team member: a base model and how it is cut down and fine-tuned."""

    base: str
    layers: tuple[int, ...] | None = None
    seed: int | None = None
    epochs: int | None = None

    def __str__(self) -> str:
        text = self.base
        if self.layers is not None:
            text += ":layers=" + ",".join(map(str, self.layers))
        if self.seed is not None:
            text += f":seed={self.seed}"
        if self.epochs is not None:
            text += f":epochs={self.epochs}"
        return text

    def settings(self, base: TrainSettings) -> TrainSettings:
        """The fine-tuning settings of this member: ``base`` with its seed/epochs options."""
        update = {k: v for k, v in (("seed", self.seed), ("epochs", self.epochs)) if v is not None}
        return base.model_copy(update=update) if update else base

    def source(self) -> str:
        """What the teacher fine-tuning loads: the base, or a saved layer subset of it."""
        return self.base if self.layers is None else materialize_layer_subset(self.base, self.layers)


def parse_teacher_spec(text: str) -> TeacherSpec:
    """``"minilm-l6:layers=0,1,2,3:seed=7"`` -> :class:`TeacherSpec`; one-line errors."""
    parts = str(text).strip().split(":")
    options: dict[str, str] = {}
    while len(parts) > 1 and (match := _OPTION_RE.match(parts[-1])):
        key, value = match.groups()
        if key not in TEACHER_OPTIONS:
            raise choices_error(f"option of teacher {text!r}:", key, TEACHER_OPTIONS)
        if key in options:
            raise AutodistillError(f"teacher {text!r} sets {key} twice")
        options[key] = value
        parts.pop()
    base = ":".join(parts).strip()
    if not base:
        raise AutodistillError(f"teacher {text!r} names no model before its options")
    try:
        layers = tuple(int(x) for x in options["layers"].split(",")) if "layers" in options else None
        seed = int(options["seed"]) if "seed" in options else None
        epochs = int(options["epochs"]) if "epochs" in options else None
    except ValueError:
        raise AutodistillError(
            f"bad teacher {text!r}: write layers=0,1,2 (layer indices), seed=N, epochs=N (integers)"
        ) from None
    if layers is not None and (not layers or min(layers) < 0 or list(layers) != sorted(set(layers))):
        raise AutodistillError(f"bad teacher {text!r}: layers must be distinct increasing indices from 0")
    if epochs is not None and epochs < 1:
        raise AutodistillError(f"bad teacher {text!r}: epochs must be at least 1")
    return TeacherSpec(base, layers, seed, epochs)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[-40:]


def materialize_layer_subset(base: str, layers: Sequence[int]) -> str:
    """Save ``base``'s pretrained encoder cut to ``layers`` as a model folder, once.

    The folder is an ordinary (head-less) Hugging Face model, so the teacher
    fine-tuning treats it like any other model and caches its fine-tune under a
    key of its own.
    """
    digest = hashlib.sha256(f"{model_identity(base)}|{list(layers)}".encode()).hexdigest()[:10]
    folder = subdir("models", "subsets") / f"{_slug(base)}__layers-{'-'.join(map(str, layers))}__{digest}"
    # Under DDP transformers saves weights on the main process only: it writes, the others wait.
    with distributed.main_first():
        if not (folder / "config.json").exists():
            _save_layer_subset(base, layers, folder)
    return str(folder)


def _save_layer_subset(base: str, layers: Sequence[int], folder: Path) -> None:
    spec = TaskSpec("_encoder", TaskType.CLASSIFICATION, "", ("a", "b"))
    model = build_student("layers=" + ",".join(map(str, layers)), base, spec)

    def build(partial: Path) -> None:
        model.base_model.save_pretrained(partial)
        load_tokenizer(base).save_pretrained(partial)

    # Sweep workers may all get here at once: the first to finish publishes the folder.
    publish_folder(folder, build, marker="config.json")


# --------------------------------------------------------------------------- the team


@dataclass
class TeamMember:
    """A fine-tuned team member and its size."""

    spec: TeacherSpec
    info: FinetunedModel
    params: int
    layers: int
    hidden: int

    @property
    def name(self) -> str:
        return str(self.spec)

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "dev_score": self.info.dev_score,
            "params": self.params,
            "layers": self.layers,
            "hidden": self.hidden,
            "model_dir": str(self.info.model_dir),
        }


class LogitSource(Protocol):
    """Where a member's logits come from: a :class:`TeacherCache` (or a stand-in in tests)."""

    def lookup(
        self, index: Tensor, width: int, device: torch.device | str, layers: tuple[int, ...]
    ) -> TeacherOutputs: ...


def prepare_team(team: TeamConfig, task: TaskData, settings: TrainSettings, *, show_progress: bool = True) -> Team:
    """Fine-tune (or reuse) every member of ``team`` on ``task`` with the teacher settings."""
    from engine.training.finetune import finetune_teacher  # finetune imports nothing of ours; keep it that way

    members = []
    for text in team.teachers:
        spec = parse_teacher_spec(text)
        info = finetune_teacher(spec.source(), task, spec.settings(settings), show_progress=show_progress)
        config = load_config(str(info.model_dir))
        model = load_task_model(str(info.model_dir), task.spec)
        members.append(
            TeamMember(
                spec=spec,
                info=replace(info, name=text),
                params=count_parameters(model),
                layers=config.num_hidden_layers,
                hidden=config.hidden_size,
            )
        )
    return Team(team, members)


def split_halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """AutoSKDBERT §3.2: a seeded 50/50 split of the training rows into a
    student-training half and a distribution-optimisation half (each sorted)."""
    order = np.random.default_rng([seed, 50]).permutation(n)
    cut = math.ceil(n / 2)
    return np.sort(order[:cut]), np.sort(order[cut:])


def subset(split: EncodedSplit, rows: np.ndarray) -> EncodedSplit:
    """The examples ``rows`` of an encoded split, as a split of their own."""
    rows = np.asarray(rows, dtype=np.int64)

    def pick(values: list) -> list:
        return [values[i] for i in rows] if values else []

    return EncodedSplit(
        input_ids=pick(split.input_ids),
        token_type_ids=pick(split.token_type_ids),
        labels=split.labels[rows],
        rows=split.rows[rows],
        offsets=pick(split.offsets),
        contexts=pick(split.contexts),
        answers=pick(split.answers),
    )


@dataclass
class Team:
    """The fine-tuned members of one :class:`TeamConfig`."""

    config: TeamConfig
    members: list[TeamMember]

    @property
    def reference(self) -> TeamMember:
        """The member with the best fine-tuned dev score: the run's reported teacher."""
        return max(self.members, key=lambda m: m.info.dev_score)

    def _member_split(
        self, member: TeamMember, frame, student_split: EncodedSplit, spec: TaskSpec, max_length: int
    ) -> tuple[EncodedSplit, int]:
        tokenizer = load_tokenizer(str(member.info.model_dir))
        mine = encode_split(frame, spec, tokenizer, max_length, train=True)
        if split_fingerprint(mine) == split_fingerprint(student_split):
            return student_split, tokenizer.pad_token_id
        if spec.task_type is TaskType.SPAN or len(mine) != len(student_split):
            raise AutodistillError(
                f"teacher {member.name!r} tokenises differently from the student; span logits are per "
                "token, so a span team must share the student's tokenizer"
            )
        return mine, tokenizer.pad_token_id

    def caches(
        self,
        task: TaskData,
        settings: TrainSettings,
        student_split: EncodedSplit,
        *,
        device: str = "cpu",
        show_progress: bool = True,
    ) -> list[TeacherCache]:
        """One teacher-output cache per member over the run's training rows (built once)."""
        frame = limit_examples(task.train, settings.max_train_examples, settings.seed)
        caches = []
        for member in self.members:
            split, pad_id = self._member_split(member, frame, student_split, task.spec, settings.max_length)
            model = load_task_model(str(member.info.model_dir), task.spec).to(device)
            caches.append(
                TeacherCache.build_or_load(
                    model,
                    str(member.info.model_dir),
                    task.spec,
                    split,
                    pad_id,
                    device=device,
                    show_progress=show_progress,
                )
            )
            del model
        return caches

    def objective(
        self,
        config: DistillConfig,
        task: TaskData,
        train: EncodedSplit,
        pad_id: int,
        *,
        device: str = "cpu",
        show_progress: bool = True,
    ) -> tuple[TeamObjective, EncodedSplit]:
        """The team objective and the split the student trains on.

        ``learned`` trains the student on one half of ``train`` and optimises Cat(θ)
        on the other (§3.2); every other mode trains on all of it.
        """
        caches = self.caches(task, config.train, train, device=device, show_progress=show_progress)
        if self.config.mode != "learned":
            return TeamObjective(task.spec, config, caches, pad_id=pad_id), train
        student_rows, theta_rows = split_halves(len(train), config.train.seed)
        if len(theta_rows) == 0:
            raise AutodistillError("learned mode needs at least 2 training examples (one per half)")
        objective = TeamObjective(
            task.spec,
            config,
            caches,
            pad_id=pad_id,
            train_index=student_rows,
            val=subset(train, theta_rows),
            val_index=theta_rows,
        )
        return objective, subset(train, student_rows)

    def reference_dev(self, task: TaskData, settings: TrainSettings) -> tuple[EncodedSplit, int]:
        """The run's dev examples tokenised for the reference teacher (its score and latency)."""
        tokenizer = load_tokenizer(str(self.reference.info.model_dir))
        frame = limit_examples(task.dev, settings.max_eval_examples, settings.seed)
        return encode_split(frame, task.spec, tokenizer, settings.max_length, train=False), tokenizer.pad_token_id

    def report(self, objective: TeamObjective | None) -> dict:
        """What the run stores about its team: members, and what the policy learned."""
        out = {
            "mode": self.config.mode,
            "members": [m.to_json() for m in self.members],
            "reference": self.reference.name,
        }
        if objective is not None:
            out.update(objective.policy.report())
        return out


# --------------------------------------------------------------------------- the objective


class TeacherPolicy(Protocol):
    """Forms each step's teacher signal from the team (one registry entry per mode)."""

    def trainable_modules(self) -> list[nn.Module]:
        """State the trainer checkpoints with the run (Cat(θ) and its optimiser for ``learned``)."""
        ...

    def signal(self, student: nn.Module, batch: Batch) -> tuple[list[Tensor], dict[str, float]]:
        """The teacher logits (one tensor per head) the student distils from at this step."""
        ...

    def report(self) -> dict:
        """What to record in the run's result (θ, candidates, ...)."""
        ...


TEACHER_POLICIES: Registry[type] = Registry("teacher policy")


class TeamObjective:
    """Prediction-layer KD from a teacher team (AutoSKDBERT Eq. 1/3, plus Distiller's γ1 term):

        L = β1 · l^pred(g(f^T1..n(x)), f^S(x)) + γ1 · l^pred(y, f^S(x))

    where g is the teacher policy's signal. Implements the trainer's ``Objective``.
    ``train_index``/``val_index`` map the examples of the student's split and of the
    distribution-optimisation split to rows of the members' caches.
    """

    def __init__(
        self,
        spec: TaskSpec,
        config: DistillConfig,
        caches: Sequence[LogitSource],
        *,
        pad_id: int,
        train_index: np.ndarray | None = None,
        val: EncodedSplit | None = None,
        val_index: np.ndarray | None = None,
    ) -> None:
        if config.team is None:
            raise AutodistillError("a team objective needs config.team")
        check_pred_loss(config.pred_loss, spec.task_type)
        self.spec, self.config, self.team = spec, config, config.team
        self.caches, self.pad_id = list(caches), pad_id
        if len(self.caches) != len(self.team.teachers):
            raise AutodistillError(f"{len(self.caches)} teacher caches for {len(self.team.teachers)} teachers")
        self.beta1, self.gamma1 = config.weights[:2]
        self.pred_loss = PRED_LOSSES.get(config.pred_loss)
        self.label_loss = LABEL_LOSSES.get(config.pred_loss)
        self.index = {"train": train_index, "val": val_index}
        self.val = val
        #: Objective calls in the whole run (N of Algorithm 1), when the student split is known.
        self.total_steps = (
            math.ceil(len(train_index) / config.train.batch_size) * config.train.epochs
            if train_index is not None
            else None
        )
        self.policy: TeacherPolicy = TEACHER_POLICIES.get(self.team.mode)(self)

    @property
    def size(self) -> int:
        return len(self.caches)

    def trainable_modules(self) -> list[nn.Module]:
        return self.policy.trainable_modules()

    def member_logits(self, member: int, batch: Batch, split: str = "train") -> list[Tensor]:
        """Member ``member``'s cached logits for ``batch`` (of the student or the θ split)."""
        index = batch["index"].cpu()
        mapping = self.index[split]
        if mapping is not None:
            index = torch.as_tensor(mapping, dtype=torch.long)[index]
        out = self.caches[member].lookup(index, batch["input_ids"].shape[1], batch["input_ids"].device, ())
        return logit_list(out.logits)

    def loss(
        self, student_logits: list[Tensor], target: list[Tensor], batch: Batch, *, kd_loss=None
    ) -> tuple[Tensor, dict[str, float]]:
        """β1·l^pred(target, student) + γ1·l^pred(y, student) for one batch.

        ``kd_loss`` replaces the registry loss; the θ step passes a version that
        keeps the target differentiable (:data:`engine.teachers.learned.SOFT_TARGET_LOSSES`).
        """
        kd_loss = kd_loss or self.pred_loss
        mask = batch["attention_mask"].bool() if self.spec.task_type is TaskType.SPAN else None
        logs: dict[str, float] = {}
        total = torch.zeros((), device=batch["input_ids"].device)
        if self.beta1:
            kd = sum(
                kd_loss(s.float(), t.float(), temperature=self.config.temperature, mask=mask)
                for s, t in zip(student_logits, target, strict=True)
            ) / len(student_logits)
            total = total + self.beta1 * kd
            logs["kd"] = float(kd.detach())
        if self.gamma1:
            gt = mean_over_heads(
                self.label_loss, student_logits, label_targets(batch["labels"], self.spec), self.spec, batch
            )
            total = total + self.gamma1 * gt
            logs["gt"] = float(gt.detach())
        return total, logs

    def label_loss_only(self, student_logits: list[Tensor], batch: Batch) -> Tensor:
        """The task's own loss against ground truth (CE, or MSE for regression)."""
        loss = LABEL_LOSSES.get(natural_label_loss(self.spec))
        return mean_over_heads(loss, student_logits, label_targets(batch["labels"], self.spec), self.spec, batch)

    def __call__(self, student: nn.Module, batch: Batch) -> tuple[Tensor, dict[str, float]]:
        target, logs = self.policy.signal(student, batch)
        outputs = student(**model_inputs(student, batch))
        loss, parts = self.loss(prediction_heads(outputs, self.spec), [t.detach() for t in target], batch)
        return loss, {**logs, **parts}


# --------------------------------------------------------------------------- policies


def uniform(n: int) -> tuple[float, ...]:
    return tuple(1.0 / n for _ in range(n))


def sample_teacher(probabilities: Tensor) -> int:
    """One draw from Cat(θ). Uses torch's global generator, which the trainer
    checkpoints, so a resumed run draws the same teachers as an uninterrupted one.
    With several processes every one draws (their generators stay in step) and all
    take the main process's draw, so a step distils from one teacher everywhere."""
    return distributed.from_main(int(torch.multinomial(probabilities.detach().float().cpu(), 1).item()))


@TEACHER_POLICIES.register("single")
class SinglePolicy:
    """Ordinary KD from one member, ``team.pick``."""

    def __init__(self, objective: TeamObjective) -> None:
        self.objective, self.pick = objective, objective.team.pick

    def trainable_modules(self) -> list[nn.Module]:
        return []

    def signal(self, student: nn.Module, batch: Batch) -> tuple[list[Tensor], dict[str, float]]:
        return self.objective.member_logits(self.pick, batch), {}

    def report(self) -> dict:
        return {"pick": self.objective.team.teachers[self.pick]}


@TEACHER_POLICIES.register("average")
class AveragePolicy:
    """AvgKD: the mean of all members' logits (one ensemble target per step)."""

    def __init__(self, objective: TeamObjective) -> None:
        self.objective = objective

    def trainable_modules(self) -> list[nn.Module]:
        return []

    def signal(self, student: nn.Module, batch: Batch) -> tuple[list[Tensor], dict[str, float]]:
        logits = [self.objective.member_logits(i, batch) for i in range(self.objective.size)]
        return [torch.stack(heads).mean(0) for heads in zip(*logits, strict=True)], {}

    def report(self) -> dict:
        return {}


@TEACHER_POLICIES.register("sample")
class SamplePolicy:
    """Stochastic KD with a fixed Cat(θ): one member per step, its logits as they are
    (AutoSKDBERT §2.1; how a learned candidate distribution is evaluated, §3.3)."""

    def __init__(self, objective: TeamObjective) -> None:
        self.objective = objective
        self.theta = torch.tensor(objective.team.theta or uniform(objective.size), dtype=torch.float32)

    def trainable_modules(self) -> list[nn.Module]:
        return []

    def signal(self, student: nn.Module, batch: Batch) -> tuple[list[Tensor], dict[str, float]]:
        member = sample_teacher(self.theta)
        return self.objective.member_logits(member, batch), {"teacher": float(member)}

    def report(self) -> dict:
        return {"theta": self.theta.tolist()}


import engine.teachers.learned  # noqa: E402, F401  (registers the "learned" policy)
