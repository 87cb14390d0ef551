"""``pretrain(config) -> folder``: general distillation of a fresh student shape on a corpus.

The corpus is the offline default (:mod:`engine.data.corpus`, built once into the home, the
catalog's dev and test text left out) or a user's own text file, checked for being text. Sentences
of a catalog data set's dev or test text in a user's corpus are counted and kept in the student's
record, so that runs on those data sets refuse it. The loop itself is
:func:`engine.models.general.general_distill`; this step adds where things live, progress and the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from engine import paths
from engine.data.corpus import catalog_text_in, read_documents, write_corpus
from engine.models.general import check_config, general_distill
from engine.models.presets import GENERAL_FOLDER
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


def _catalog_text(documents: list[list[str]], corpus: str, show_progress: bool) -> dict[str, int]:
    """:func:`~engine.data.corpus.catalog_text_in`, with a line that says why it reads the catalog and a
    bar over its data sets (a home that has not built them builds them first, for minutes), and a
    warning naming the data sets whose dev or test sentences the corpus holds."""
    if show_progress:
        announce(
            f"checking {corpus} for the catalog's dev and test text first; data sets this home lacks are built once"
        )
    with ExitStack() as stack:
        bar: list[Callable[[int], None]] = []

        def on_read(done: int, total: int) -> None:
            if not bar:
                shown = progress(
                    "reading the catalog's dev and test text", total, enabled=show_progress, unit="data set"
                )
                bar.append(stack.enter_context(shown))
            bar[0](done)

        read = catalog_text_in(documents, on_read)
    if read and show_progress:
        found = ", ".join(f"{name} ({n:,})" for name, n in sorted(read.items(), key=lambda item: -item[1]))
        announce(
            f"warning: {corpus} holds sentences of these catalog data sets' dev or test text: {found}; the student "
            "will be refused on them, as it has read what it would be scored on"
        )
    return read


def default_output(config: PretrainConfig) -> Path:
    """``<home>/models/general/<student>-<corpus>``: where a pretrain without ``--out`` writes."""
    corpus = DEFAULT_CORPUS if config.corpus == DEFAULT_CORPUS else Path(config.corpus).stem
    return paths.subdir(*GENERAL_FOLDER) / f"{Path(config.student).name}-{corpus}"


def pretrain(config: PretrainConfig, out: Path | None = None, *, show_progress: bool = True) -> tuple[Path, dict]:
    """General-distil ``config.student`` into ``out`` (default :func:`default_output`); rerunning the
    same call after an interruption resumes it. Returns the folder and its record."""
    check_config(config)  # a bad student or head count stops before the corpus is read or built
    out = Path(out) if out is not None else default_output(config)
    read: dict[str, int] = {}
    if config.corpus == DEFAULT_CORPUS:
        documents = read_documents(default_corpus())
    else:
        documents = read_documents(Path(config.corpus).expanduser())
        read = _catalog_text(documents, config.corpus, show_progress)
    with paths.exclusive(out, f"pretraining {out.name}"), ExitStack() as stack:
        bar: list[Callable[[int], None]] = []

        def on_step(done: int, total: int, _loss: float) -> None:
            if not bar:  # the total is known once the corpus is packed
                title = f"general distillation of {config.student}"
                bar.append(stack.enter_context(progress(title, total, done - 1, enabled=show_progress)))
            bar[0](done)

        device = distributed.state().device
        precision = Precision.of(config.precision, device)
        record = general_distill(config, documents, out, on_step, device=device, precision=precision, catalog_text=read)
    return out, record
