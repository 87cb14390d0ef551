"""Supervised fine-tuning: teachers (cached) and the no-KD student baseline.

A fine-tuned teacher is expensive on CPU and reused by every distillation run,
every sweep trial and the meta layer's "teacher score" feature, so it is cached
under ``<home>/finetuned/`` keyed by (teacher, data fingerprint, settings). An
interrupted fine-tune resumes from its checkpoint in the same folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from engine.config import TrainSettings
from engine.data.schema import TaskData
from engine.kd.objective import SupervisedObjective
from engine.models.zoo import check_label_space, load_config, load_task_model, load_tokenizer, model_identity
from engine.paths import subdir
from engine.tasks import encode_split, head_of, one_answer_note
from engine.tasks.encoding import EncodedSplit, limit_examples
from engine.training import distributed
from engine.training.callbacks import PlateauStop, TrainerCallback
from engine.training.progress import announce, duration
from engine.training.schedule import Schedule
from engine.training.trainer import Trainer, TrainResult, seed_everything

#: Teacher settings: the paper's batch size and learning rate, CPU-sized epochs/length, and
#: at least 300 optimizer steps: 3 epochs of a 500-example data set (~100 steps) left the
#: MiniLM teacher predicting the majority class of drug-review.
TEACHER_SETTINGS = TrainSettings(epochs=3, batch_size=16, lr=5e-5, max_length=128, min_steps=300)
#: The epochs that ``min_steps`` adds to a small data set stop once dev has not improved for this
#: many (:class:`~engine.training.callbacks.PlateauStop`): a 200-example file got 24 epochs, most of
#: a first run's 1,000 s, where its teacher's dev score had stopped rising long before.
PLATEAU_PATIENCE = 2


@dataclass
class FinetunedModel:
    """A fine-tuned model folder and how well it did on dev."""

    name: str
    dataset: str
    model_dir: Path
    metric: str
    dev_score: float
    dev_metrics: dict[str, float]
    train_seconds: float
    examples_per_second: float
    settings: dict
    #: Tokens a training example cost, padding included (:func:`padded_length`); None in folders saved
    #: before it was recorded.
    padded_length: float | None = None
    #: The answer it gave every dev example, where it gave one only (a teacher with nothing to teach).
    one_answer: str | None = None
    #: The warning that its vocabulary reads too little of the text (:func:`unread_warning`), said again
    #: whenever the cached fine-tune is used: a user who missed it then still learns why scores are low.
    unread: str | None = None

    def to_json(self) -> dict:
        return {**asdict(self), "model_dir": str(self.model_dir)}


def data_fingerprint(task: TaskData) -> str:
    """Content hash of the train and dev splits: a changed data set is a new cache key."""
    digest = hashlib.sha256()
    for frame in (task.train, task.dev):
        digest.update(pd.util.hash_pandas_object(_hashable(frame), index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _hashable(frame: pd.DataFrame) -> pd.DataFrame:
    """List cells (a tagging task's words and tags) as text; other frames pass unchanged, so their keys stay."""
    listed = [c for c in frame.columns if len(frame) and isinstance(frame[c].iloc[0], list | tuple | np.ndarray)]
    return frame.assign(**{c: frame[c].map(lambda cell: repr(list(cell))) for c in listed}) if listed else frame


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)[-40:]


def train_supervised(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: TaskData,
    settings: TrainSettings,
    workdir: Path,
    *,
    description: str,
    show_progress: bool = True,
    callbacks: Sequence[TrainerCallback] = (),
) -> TrainResult:
    """Fine-tune ``model`` on ``task`` with ground-truth labels only (no teacher)."""
    train_frame = limit_examples(task.train, settings.max_train_examples, settings.seed)
    dev_frame = limit_examples(task.dev, settings.max_eval_examples, settings.seed)
    train = encode_split(train_frame, task.spec, tokenizer, settings.max_length, train=True)
    dev = encode_split(dev_frame, task.spec, tokenizer, settings.max_length, train=False)
    trainer = Trainer(
        model,
        task.spec,
        train,
        dev,
        settings,
        SupervisedObjective(task.spec),
        workdir,
        tokenizer.pad_token_id,
        show_progress=show_progress,
        description=description,
        callbacks=callbacks,
    )
    return trainer.fit()


def extended(task: TaskData, settings: TrainSettings) -> bool:
    """Whether ``min_steps`` adds epochs to ``settings.epochs`` on ``task`` (its training split is small)."""
    examples = len(limit_examples(task.train, settings.max_train_examples, settings.seed))
    return Schedule.of(examples, settings, distributed.state().num_processes).epochs > settings.epochs


def _cache_folder(teacher: str, task: TaskData, settings: TrainSettings) -> Path:
    """Where ``teacher`` fine-tuned on ``task`` with ``settings`` is cached."""
    key_source = {
        "teacher": teacher,
        "model": model_identity(teacher),
        "data": data_fingerprint(task),
        "settings": settings.model_dump(),
    }
    if extended(task, settings):  # only a small data set's teacher changes with the plateau rule
        # The rule's version: it once counted epochs of a one-answer model, and stopped teachers at it.
        key_source["plateau"] = {"patience": PLATEAU_PATIENCE, "counts_one_answer_epochs": False}
    if task.spec.metric != head_of(task.spec.task_type).default_metric:  # it picks the teacher's best epoch
        key_source["metric"] = task.spec.metric
    key = hashlib.sha256(json.dumps(key_source, sort_keys=True).encode()).hexdigest()[:12]
    return subdir("finetuned") / f"{_slug(teacher)}__{task.spec.name}__{key}"


def cached_teacher(teacher: str, task: TaskData, settings: TrainSettings = TEACHER_SETTINGS) -> FinetunedModel | None:
    """The cached fine-tune of ``teacher`` on ``task``, or None where none was made (nothing is trained)."""
    result_file = _cache_folder(teacher, task, settings) / "result.json"
    if not result_file.exists():
        return None
    data = json.loads(result_file.read_text())
    # The model sits beside result.json: a home copied or moved elsewhere reads its own copy (older
    # files stored an absolute path, which would have pointed back into the original home).
    return FinetunedModel(**{**data, "model_dir": result_file.parent / Path(data["model_dir"]).name})


def fine_tune_plan(
    teacher: str, task: TaskData, settings: TrainSettings, folder: Path, padded: float, label: str | None = None
) -> str:
    """What a teacher fine-tune is about to do, said before it starts: it trains on the whole
    training split with its own settings (a run's student budget does not apply), and can take
    long; the time is judged from earlier fine-tunes of the same teacher in this home
    (:func:`seconds_per_example`), if any, for texts ``padded`` tokens long (:func:`padded_length`); the seed
    draws other weights at the same cost, so a fine-tune with another seed counts. ``label``: the
    teacher as the user named it (a team member's spec), where ``teacher`` is the folder it loads from."""
    examples = len(limit_examples(task.train, settings.max_train_examples, settings.seed))
    schedule = Schedule.of(examples, settings, distributed.state().num_processes)
    earlier = [json.loads(done.read_text()) for done in folder.parent.glob(f"{_slug(teacher)}__*/result.json")]
    judged = seconds_per_example([done for done in earlier if _costs_alike(done.get("settings"), settings)], padded)
    if judged is None:
        time = "its time is shown once it runs (no earlier fine-tune of this teacher here to judge by)"
    else:
        time = f"about {duration(examples * schedule.epochs * judged[0])}{judged[1]}"
    plan = (
        f"fine-tuning teacher {label or teacher} on {task.spec.name} first: {schedule.total_steps} steps "
        f"({schedule.epochs} epochs of {examples} training examples, the teacher's own settings, whatever "
        "the student's budget)"
    )
    if schedule.epochs > settings.epochs:
        plan += (f", fewer if dev stops improving (epochs past {settings.epochs} end after {PLATEAU_PATIENCE} "
                 "without a better dev score)")  # fmt: skip
    apart = settings_apart(settings) if label is None else {}  # a team member's spec names its own settings
    if apart:
        return (f"{plan}, {time}; cached in {folder}, but runs fine-tune with the teacher's own settings, not "
                f"{settings_text(apart)}")  # fmt: skip
    return f"{plan}, {time}; cached in {folder}, so later runs on this data skip it"


def settings_apart(settings: TrainSettings) -> dict[str, object]:
    """The settings in which ``settings`` differ from the teacher's own (:data:`TEACHER_SETTINGS`), the seed
    aside (none: empty): ``run`` and ``recommend`` fine-tune with the teacher's own settings, so a fine-tune
    with others is one they do not use (a team member's spec may name a seed and epochs,
    ``minilm-l6:seed=7:epochs=5``, and finds it)."""
    own, given = TEACHER_SETTINGS.model_dump(), settings.model_dump()
    return {name: value for name, value in given.items() if name != "seed" and value != own[name]}


def settings_text(settings: dict[str, object]) -> str:
    """``epochs=5, max_length=256``: settings as a line names them."""
    return ", ".join(f"{name}={value}" for name, value in settings.items())


def _costs_alike(recorded: dict | None, settings: TrainSettings) -> bool:
    """Whether a recorded fine-tune's settings cost what ``settings`` do per example: all alike but the seed."""
    if recorded is None:
        return False
    return {**recorded, "seed": settings.seed} == settings.model_dump(mode="json")


#: Training examples tokenised to judge how long they are before a fine-tune starts.
LENGTH_SAMPLE = 512


def sample_encoding(task: TaskData, tokenizer: PreTrainedTokenizerBase, settings: TrainSettings) -> EncodedSplit:
    """:data:`LENGTH_SAMPLE` training examples, encoded as the fine-tune encodes them: what is judged of the
    text before a fine-tune starts (:func:`padded_length`, :func:`unread_warning`)."""
    sample = limit_examples(task.train, LENGTH_SAMPLE, settings.seed)
    return encode_split(sample, task.spec, tokenizer, settings.max_length, train=True)


def padded_length(sample: EncodedSplit, settings: TrainSettings) -> float:
    """The tokens a training example costs, padding included: a batch is padded to its longest
    example, so this is the mean over random batches of their longest, read off a sample of the
    training split (:func:`sample_encoding`). It sets a fine-tune's time far more than the number of
    examples does."""
    lengths = sample.lengths()
    order = np.random.default_rng(settings.seed).permutation(len(lengths))
    size = settings.batch_size
    return float(np.mean([lengths[order[i : i + size]].max() for i in range(0, len(order), size)]))


#: The share of unknown word pieces from which a fine-tune warns that its teacher cannot read the text:
#: the study's English data sets have none (at most 0.2 %, in e-mails), a Chinese or Thai text most.
UNREAD_SAID = 0.1


def unread_warning(
    teacher: str, task: TaskData, tokenizer: PreTrainedTokenizerBase, sample: EncodedSplit
) -> str | None:
    """A warning where :data:`UNREAD_SAID` or more of the word pieces of a sample of the training text
    (:func:`sample_encoding`) are the tokenizer's unknown token: a text in a script its vocabulary lacks,
    which neither the teacher nor the student (who shares its tokenizer) can learn from; None otherwise."""
    if tokenizer.unk_token_id is None:  # a byte-level vocabulary reads every text
        return None
    special = set(tokenizer.all_special_ids) - {tokenizer.unk_token_id}
    ids = [i for row in sample.input_ids for i in row if i not in special]
    share = sum(i == tokenizer.unk_token_id for i in ids) / max(len(ids), 1)
    if share < UNREAD_SAID:
        return None
    return (
        f"warning: {share:.0%} of {teacher}'s word pieces on {task.spec.name}'s text are unknown "
        f"({tokenizer.unk_token}): its vocabulary lacks the text's script, and the student shares it; "
        "--teacher names one that reads it (any Hugging Face model)"
    )


#: Recorded lengths spanning less than this factor leave the power law's exponent to their noise (two
#: fine-tunes of one data set differ by a token or so): the time is then scaled in proportion instead.
_LENGTH_SPAN = 1.5


def seconds_per_example(earlier: list[dict], padded: float) -> tuple[float, str] | None:
    """A training example's seconds at ``padded`` tokens, judged from ``earlier`` fine-tunes'
    records (None without any), and what it was judged by, to say after the time. Recorded lengths
    that span :data:`_LENGTH_SPAN` or more: a power law in the length fitted to them (the exponent kept
    between 0 and 1: a longer text costs more, at most in proportion), since short texts leave a step's
    fixed work dominant. Lengths closer than that: their time scaled in proportion to the length, the
    bound (a teacher's steps on texts 3.6x as long took 3.6x as long). No length recorded: the earlier
    fine-tunes' median, said to be on texts of unknown length."""
    if not earlier:
        return None
    seconds = [1 / done["examples_per_second"] for done in earlier]
    lengths = [done.get("padded_length") for done in earlier]
    measured = [(length, s) for length, s in zip(lengths, seconds, strict=True) if length]
    if not measured:
        return float(np.median(seconds)), " (judged by earlier fine-tunes on texts of unrecorded length)"
    logs = np.log(np.array(measured))
    centre = logs.mean(axis=0)  # the least-squares line at any slope passes through it
    spread = logs[:, 0].max() - logs[:, 0].min()
    if spread < np.log(_LENGTH_SPAN):
        slope, how = 1.0, f", scaled in proportion from about {np.exp(centre[0]):.0f}"
    else:
        slope, how = float(np.clip(np.polyfit(logs[:, 0], logs[:, 1], 1)[0], 0.0, 1.0)), ""
    judged = float(np.exp(centre[1] + slope * (np.log(padded) - centre[0])))
    count = f"{len(measured)} earlier fine-tune{'s' if len(measured) > 1 else ''}"
    return judged, f" (judged by {count}, for {padded:.0f} padded tokens an example{how})"


def plateau_note(label: str, task: TaskData, settings: TrainSettings, result: TrainResult) -> str | None:
    """Why a fine-tune ended before the steps its plan announced (:func:`fine_tune_plan`), said where the
    plateau rule stopped it (None otherwise): its progress bar stops short, which reads as a fault unless
    a line says dev had stopped improving, at which epoch it was best and what the fine-tune took."""
    if result.stopped_after_epoch is None:
        return None
    examples = len(limit_examples(task.train, settings.max_train_examples, settings.seed))
    planned = Schedule.of(examples, settings, distributed.state().num_processes).epochs
    return (
        f"teacher {label} on {task.spec.name}: dev {task.spec.metric} {result.dev_score:.4f} at epoch "
        f"{result.best_epoch}; stopped after epoch {result.stopped_after_epoch} of {planned}, as dev had not "
        f"improved for {PLATEAU_PATIENCE} epochs ({duration(result.train_seconds)})"
    )


def finetune_teacher(
    teacher: str,
    task: TaskData,
    settings: TrainSettings = TEACHER_SETTINGS,
    *,
    show_progress: bool = True,
    label: str | None = None,
) -> FinetunedModel:
    """Fine-tune ``teacher`` on ``task`` once; later calls return the cached result. ``label`` names it in
    what is printed where the user named it otherwise (a team member's spec: a layer subset loads from a
    folder, and a member with another seed loads the same model)."""
    cached = cached_teacher(teacher, task, settings)
    if cached is not None:
        if cached.unread is not None and show_progress and distributed.is_main():
            announce(cached.unread)
        return cached
    folder = _cache_folder(teacher, task, settings)
    # A second run on the same home waits here, then finds the first one's teacher.
    with distributed.exclusive_run(folder, f"fine-tuning {label or teacher} on {task.spec.name}"):
        cached = cached_teacher(teacher, task, settings)
        return cached if cached is not None else _finetune(teacher, task, settings, folder, show_progress, label)


def _finetune(
    teacher: str, task: TaskData, settings: TrainSettings, folder: Path, show_progress: bool, label: str | None
) -> FinetunedModel:
    """Fine-tune ``teacher`` into ``folder`` (its lock held) and write ``result.json`` last."""
    result_file = folder / "result.json"
    check_label_space(teacher, load_config(teacher), task.spec)
    tokenizer = load_tokenizer(teacher)
    # The new task head is drawn at random: seeded here, the fine-tuned teacher depends on the settings
    # alone, not on what the process (a CLI call, a sweep worker, a test session) drew before.
    seed_everything(settings.seed)
    model = load_task_model(teacher, task.spec)
    sample = sample_encoding(task, tokenizer, settings)
    padded = padded_length(sample, settings)
    unread = unread_warning(label or teacher, task, tokenizer, sample)
    if show_progress and distributed.is_main():
        if unread is not None:
            announce(unread)
        announce(fine_tune_plan(teacher, task, settings, folder, padded, label))
    plateau = [PlateauStop(task.spec.metric, settings.epochs, PLATEAU_PATIENCE)] if extended(task, settings) else []
    result = train_supervised(
        model,
        tokenizer,
        task,
        settings,
        folder / "work",
        description=f"fine-tuning {label or teacher} on {task.spec.name}",
        show_progress=show_progress,
        callbacks=plateau,
    )
    stopped = plateau_note(label or teacher, task, settings, result)
    if stopped is not None and show_progress and distributed.is_main():
        announce(stopped)
    model_dir = folder / "model"
    finetuned = FinetunedModel(
        name=teacher,
        dataset=task.spec.name,
        model_dir=model_dir,
        metric=task.spec.metric,
        dev_score=result.dev_score,
        dev_metrics=result.dev_metrics,
        train_seconds=result.train_seconds,
        examples_per_second=result.examples_per_second,
        settings=settings.model_dump(),
        padded_length=padded,
        one_answer=result.one_answer,
        unread=unread,
    )
    if result.one_answer is not None and show_progress and distributed.is_main():
        note = one_answer_note(f"teacher {label or teacher} fine-tuned on {task.spec.name}", result.one_answer)
        announce(f"warning: {note}; more training examples or another teacher")
    if distributed.is_main():
        model.save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        record = {**finetuned.to_json(), "model_dir": model_dir.name}  # relative: the home may move
        result_file.write_text(json.dumps(record, indent=2))  # written last: marks the cache complete
        shutil.rmtree(folder / "work", ignore_errors=True)
    distributed.barrier()
    return finetuned
