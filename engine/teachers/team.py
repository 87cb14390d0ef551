"""Teacher teams: n teachers, each fine-tuned on the task by the ordinary teacher
fine-tuning (and cached the same way), named by teacher specs (:mod:`engine.models.teacher_spec`).

Members may use different tokenizers for classification and regression (each
cache is built on its own tokenisation of the same rows); per-token logits (spans,
tagging) must line up with the student's tokens, so such a team must tokenise
exactly like the student.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from torch import nn

from engine.config import DistillConfig, TeamConfig, TrainSettings
from engine.data.schema import TaskData
from engine.errors import AutodistillError
from engine.kd.teacher_cache import TeacherCache, split_fingerprint
from engine.models.teacher_spec import TeacherSpec, parse_teacher_spec
from engine.models.zoo import count_parameters, load_config, load_task_model, load_tokenizer
from engine.tasks import encode_split, task_head
from engine.tasks.encoding import EncodedSplit, limit_examples
from engine.tasks.spec import TaskSpec
from engine.teachers import learned, policies  # noqa: F401  (register the teacher policies)
from engine.teachers.finetune import FinetunedModel, finetune_teacher
from engine.teachers.objective import TeamObjective
from engine.teachers.subsets import member_source
from engine.training import distributed
from engine.training.callbacks import TrainerCallback
from engine.training.progress import announce


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


def prepare_team(team: TeamConfig, task: TaskData, settings: TrainSettings, *, show_progress: bool = True) -> Team:
    """Fine-tune (or reuse) every member of ``team`` on ``task`` with the teacher settings."""
    members = []
    for text in team.teachers:
        spec = parse_teacher_spec(text)
        info = finetune_teacher(
            member_source(spec), task, spec.settings(settings), show_progress=show_progress, label=text
        )
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
        if task_head(spec).token_axis is not None or len(mine) != len(student_split):
            raise AutodistillError(
                f"teacher {member.name!r} tokenises differently from the student; {spec.task_type} logits "
                "are per token, so such a team must share the student's tokenizer"
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
        """One teacher-output cache per member over the run's training rows (built once), each named as it
        starts: the cache's own lines name its folder, not the member."""
        frame = limit_examples(task.train, settings.max_train_examples, settings.seed)
        caches = []
        for number, member in enumerate(self.members, start=1):
            if show_progress and distributed.is_main():
                announce(f"team member {number} of {len(self.members)}: {member.name}")
            split, pad_id = self._member_split(member, frame, student_split, task.spec, settings.max_length)
            model = load_task_model(str(member.info.model_dir), task.spec).to(device)
            caches.append(
                TeacherCache.build_or_load(
                    model,
                    str(member.info.model_dir),
                    task.spec,
                    split,
                    pad_id,
                    layers=(),  # the team objective distils logits only
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

    def reference_split(self, task: TaskData, settings: TrainSettings, name: str) -> tuple[EncodedSplit | None, int]:
        """The run's examples of split ``name`` tokenised for the reference teacher (its score
        and latency); None when the split is empty."""
        tokenizer = load_tokenizer(str(self.reference.info.model_dir))
        frame = limit_examples(task.split(name), settings.max_eval_examples, settings.seed)
        if frame.empty:
            return None, tokenizer.pad_token_id
        return encode_split(frame, task.spec, tokenizer, settings.max_length, train=False), tokenizer.pad_token_id

    def callbacks(self, objective: TeamObjective, student: nn.Module) -> list[TrainerCallback]:
        """The trainer callbacks of the team's policy (a learned team's θ step) for ``student``."""
        return objective.policy.callbacks(student)

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
