"""``pretrain(config) -> folder``: general distillation of a fresh student shape on a corpus.

The corpus is the offline default (:mod:`engine.data.corpus`, built once into the home) or a
user's own text file, checked for being text and for holding no catalog dev or test text. The
loop itself is :func:`engine.models.general.general_distill`; this step adds where things live,
progress and the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from engine import paths
from engine.data.corpus import check_no_overlap, read_documents, write_corpus
from engine.models.general import check_config, general_distill
from engine.models.pretraining import PretrainConfig
from engine.training import distributed
from engine.training.precision import Precision
from engine.training.progress import announce, progress

DEFAULT_CORPUS = "default"


def default_corpus() -> Path:
    """The offline corpus's file under the home, written on first use (a minute or two)."""
    path = paths.subdir("corpus") / "default.txt"
    with paths.exclusive(path.parent, "building the default corpus"):
        if not path.exists():
            announce("building the default corpus from the installed sources (once; about two minutes)")
            stats = write_corpus(path)
            announce(
                f"corpus: {stats.words:,} words in {stats.documents:,} documents; "
                f"{stats.dropped:,} dev/test clauses of the catalog left out"
            )
    return path


def default_output(config: PretrainConfig) -> Path:
    """``<home>/models/general/<student>-<corpus>``: where a pretrain without ``--out`` writes."""
    corpus = DEFAULT_CORPUS if config.corpus == DEFAULT_CORPUS else Path(config.corpus).stem
    return paths.subdir("models", "general") / f"{Path(config.student).name}-{corpus}"


def pretrain(config: PretrainConfig, out: Path | None = None, *, show_progress: bool = True) -> tuple[Path, dict]:
    """General-distil ``config.student`` into ``out`` (default :func:`default_output`); rerunning the
    same call after an interruption resumes it. Returns the folder and its record."""
    check_config(config)  # a bad student or head count stops before the corpus is read or built
    out = Path(out) if out is not None else default_output(config)
    if config.corpus == DEFAULT_CORPUS:
        documents = read_documents(default_corpus())
    else:
        documents = read_documents(Path(config.corpus).expanduser())
        check_no_overlap(documents, config.corpus)
    with paths.exclusive(out, f"pretraining {out.name}"), ExitStack() as stack:
        bar: list[Callable[[int], None]] = []

        def on_step(done: int, total: int, _loss: float) -> None:
            if not bar:  # the total is known once the corpus is packed
                title = f"general distillation of {config.student}"
                bar.append(stack.enter_context(progress(title, total, done - 1, enabled=show_progress)))
            bar[0](done)

        device = distributed.state().device
        precision = Precision.of(config.precision, device)
        record = general_distill(config, documents, out, on_step, device=device, precision=precision)
    return out, record
