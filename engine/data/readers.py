"""Reading a data source's rows as they are: local files and folders, and hub data sets.

Splits come back keyed by their normalised names (``train``, ``dev``, ``test``; ``all``
for a file without a ``split`` column); what the columns mean is
:mod:`engine.data.loaders`' business. Every failure is one line.
"""

from __future__ import annotations

import codecs
import csv
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from engine import hub
from engine.data.builders import DATASETS
from engine.errors import AutodistillError

logger = logging.getLogger(__name__)

EXTENSIONS = (".csv", ".tsv", ".jsonl", ".json", ".parquet", ".conll", ".conllu")
#: The column separator of each delimited-text extension.
SEPARATORS = {".csv": ",", ".tsv": "\t"}
#: The separators a delimited file is read with in place of its own when its header line holds one of
#: these and not its own: a spreadsheet saved with semicolons, as many locales write a CSV.
OTHER_SEPARATORS = (";", "\t", "|")
#: What a refusal of a ``.txt`` data file adds: CoNLL-2003 and many taggers' data ship as ``.txt``.
_CONLL_HINT = "; a file of one word and its tags per line (CoNLL) reads as .conll"
#: Spreadsheet files, read once saved as CSV (the sheet's first row as the header).
_SHEETS = (".xlsx", ".xls", ".ods", ".numbers")
_SHEET_HINT = "; save the sheet as CSV (its first row naming the columns)"
#: How text files are decoded unless the user names another encoding.
DEFAULT_ENCODING = "utf-8"
#: File stems and hub split names accepted for each split.
SPLIT_NAMES = {
    "train": "train",
    "dev": "dev",
    "validation": "dev",
    "valid": "dev",
    "val": "dev",
    "test": "test",
}


def _read_delimited(path: Path, sep: str, encoding: str) -> pd.DataFrame:
    """A CSV or TSV file, read with another of :data:`OTHER_SEPARATORS` where its header line holds that
    one and not its own."""
    with path.open(encoding=encoding, newline="") as handle:
        header = handle.readline()
    if sep not in header:
        sep = next((other for other in OTHER_SEPARATORS if other in header), sep)
    try:
        frame = pd.read_csv(path, sep=sep, encoding=encoding)
    except pd.errors.ParserError:
        if sep != "\t" or (plain := _quotes_as_text(path, sep, encoding, None)) is None:
            raise
        return plain
    # Only tab-separated text is written without quoting by convention (GLUE's files); a comma file's
    # quotes are its own, and a cell that holds a line break there is one, however its lines count.
    if sep != "\t" or not _holds_line_breaks(frame):  # quoting ran no cell past its line: one row per line
        return frame
    plain = _quotes_as_text(path, sep, encoding, frame)
    return frame if plain is None else plain


def _holds_line_breaks(frame: pd.DataFrame) -> bool:
    texts = frame.select_dtypes(include=["object", "string"])
    return any(texts[column].astype(str).str.contains("\n", regex=False).any() for column in texts)


def _quotes_as_text(path: Path, sep: str, encoding: str, frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """A tab-separated ``path`` read with its quote marks as plain text, where quoting made fewer rows than
    the file has lines (a cell that opens with a quote mark runs on to the next one, as in GLUE's TSV
    files) and every line holds the header's number of fields; None where quoting read one row per
    line, or where a line's fields do not add up (then a quoted cell does hold a line break, and
    quoting was right)."""
    with path.open(encoding=encoding, newline="") as handle:
        counts = [line.count(sep) for line in handle if line.strip()]
    if not counts or (frame is not None and len(frame) == len(counts) - 1) or len(set(counts)) != 1:
        return None
    fields = counts[0]
    logger.warning(
        "read %s with its quote marks as plain text (CSV quoting ran a cell on into the next lines; "
        "without it every line has %d fields)",
        path.name,
        fields + 1,
    )
    return pd.read_csv(path, sep=sep, encoding=encoding, quoting=csv.QUOTE_NONE)


def looks_like_path(source: str) -> bool:
    """A missing file should say so, not fall through to a hub lookup."""
    return bool(Path(source).suffix) or source.startswith(("/", ".", "~"))


def read_file(path: Path, encoding: str | None = None) -> pd.DataFrame:
    """One CSV, TSV, JSON(L), Parquet, CoNLL or CoNLL-U file as it is; every reader of user files goes
    through here, so a file that ``run`` refuses is refused by ``predict`` in the same words."""
    if path.suffix not in EXTENSIONS:
        hint = _CONLL_HINT if path.suffix == ".txt" else _SHEET_HINT if path.suffix in _SHEETS else ""
        raise AutodistillError(
            f"unsupported file type {path.suffix or '(none)'!r} for {path}; use one of: {', '.join(EXTENSIONS)}{hint}"
        )
    try:
        with decoding(path, encoding):
            codec = _codec(encoding)
            if path.suffix in SEPARATORS:
                return _read_delimited(path, SEPARATORS[path.suffix], codec)
            if path.suffix == ".parquet":
                return pd.read_parquet(path)
            if path.suffix == ".json":
                return _read_json(path, codec)
            if path.suffix == ".conll":
                return _read_conll(path, codec)
            if path.suffix == ".conllu":
                return _read_conllu(path, codec)
            return _read_jsonl(path, codec)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise AutodistillError(f"could not read {path}: {first_line}") from None


def read_text_lines(path: Path, encoding: str | None = None) -> list[str]:
    """A plain text file's non-blank lines (one example each), decoded as :func:`read_file` decodes."""
    with decoding(path, encoding):
        return [line for line in path.read_text(encoding=_codec(encoding)).splitlines() if line.strip()]


def _codec(encoding: str | None) -> str:
    """The codec a text file is read with: ``encoding`` (default :data:`DEFAULT_ENCODING`), UTF-8 read
    past a leading byte-order mark, which Windows tools write and the JSON and CoNLL readers would
    otherwise take for text (an unknown name is left for :func:`decoding` to refuse)."""
    name = encoding or DEFAULT_ENCODING
    try:
        return "utf-8-sig" if codecs.lookup(name).name == "utf-8" else name
    except LookupError:
        return name


@contextmanager
def decoding(path: Path, encoding: str | None) -> Iterator[None]:
    """Turn a decoding failure into one line naming the encoding tried and how to give another."""
    try:
        yield
    except UnicodeDecodeError as error:
        hint = "another encoding" if encoding else "the file's encoding, e.g. latin-1 or cp1252,"
        byte = error.object[error.start : error.start + 1].hex()
        raise AutodistillError(
            f"could not read {path} as {encoding or DEFAULT_ENCODING} text (it holds byte 0x{byte}); "
            f"give {hint} with --encoding (config file: columns: encoding)"
        ) from None
    except LookupError:
        raise AutodistillError(f"unknown encoding {encoding!r} for {path}; e.g. utf-8, latin-1, cp1252") from None


def _read_jsonl(path: Path, encoding: str) -> pd.DataFrame:
    records = []
    for number, line in enumerate(path.read_text(encoding=encoding).splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise AutodistillError(f"{path} line {number} is not JSON: {error.msg}") from None
    return pd.DataFrame.from_records(records)


def _read_json(path: Path, encoding: str) -> pd.DataFrame:
    """A ``.json`` file: one array of row objects, SQuAD's own document (:func:`_squad_rows`), or (as
    many exports name them) JSON lines."""
    text = path.read_text(encoding=encoding)
    if text.lstrip().startswith("{") and (squad := _squad_rows(text)) is not None:
        return squad
    if not text.lstrip().startswith("["):
        return _read_jsonl(path, encoding)
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as error:
        raise AutodistillError(f"{path} is not JSON: {error.msg} (line {error.lineno})") from None
    if not all(isinstance(row, dict) for row in rows):
        raise AutodistillError(f"{path} holds an array whose items are not all objects (one per row, named fields)")
    return pd.DataFrame.from_records(rows)


def _squad_rows(text: str) -> pd.DataFrame | None:
    """SQuAD's own file (``data`` -> articles -> ``paragraphs`` -> ``qas``, v1.1 or v2.0) as one row per
    question: ``question``, ``context`` and ``answers`` as the hub's SQuAD has them (a v2.0 question
    without an answer has none, and the span loader drops and counts it), with ``id`` and ``title``;
    None where ``text`` is not one JSON document of that shape (JSON lines, say)."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        return None
    articles = document.get("data") if isinstance(document, dict) else None
    if not isinstance(articles, list) or not all(isinstance(a, dict) and "paragraphs" in a for a in articles):
        return None
    rows = [
        {"id": qa.get("id"), "title": article.get("title"), "question": qa["question"], "context": paragraph["context"],
         "answers": {"text": [a["text"] for a in qa.get("answers", [])],
                     "answer_start": [a["answer_start"] for a in qa.get("answers", [])]}}
        for article in articles
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]  # fmt: skip
    return pd.DataFrame.from_records(rows)


def _read_conll(path: Path, encoding: str) -> pd.DataFrame:
    """A CoNLL file: a word and its tags per line (tab- or space-separated), a blank line between
    sentences, ``-DOCSTART-`` lines skipped. One row per sentence: ``tokens`` (the first column),
    ``tags`` (the last, the NER tags of CoNLL-2003) and ``column_2``... for those between; a file of
    words alone, one per line, gives ``tokens`` only (sentences to predict).

    Not ``datasets``' CoNLL builder: it pads a short line with empty tags and cuts a long one, where
    a line with a column too few or too many means the file is not read as its writer meant.
    """
    sentences: list[list[list[str]]] = []
    sentence: list[list[str]] = []
    width = 0
    for number, line in enumerate(path.read_text(encoding=encoding).splitlines(), start=1):
        fields = line.split("\t") if "\t" in line else line.split()
        if not line.strip() or fields[0] == "-DOCSTART-":
            if sentence:
                sentences.append(sentence)
            sentence = []
            continue
        width = width or len(fields)
        if len(fields) != width:
            raise AutodistillError(
                f"{path} line {number} holds {len(fields)} column(s) where its first word line holds {width}: "
                "every word line needs as many (a word, then its tags)"
            )
        sentence.append([field.strip() for field in fields])
    if sentence:
        sentences.append(sentence)
    names = ["tokens", *(f"column_{i}" for i in range(2, width)), "tags"] if width > 1 else ["tokens"]
    return pd.DataFrame([[[word[i] for word in rows] for i in range(width)] for rows in sentences], columns=names)


#: A CoNLL-U word's fields kept as per-word lists beside its form (``upos`` is a tag list's usual name).
CONLLU_FIELDS = ("upos", "xpos", "lemma", "deprel")


def _read_conllu(path: Path, encoding: str) -> pd.DataFrame:
    """A Universal Dependencies treebank file (CoNLL-U, parsed by the ``conllu`` package): one row per
    sentence, its syntactic words as ``tokens`` and each of :data:`CONLLU_FIELDS` as a list beside
    them. A contraction's own line (``1-2 don't``) and empty nodes (``3.1``) are left out: the words
    they stand over carry the tags."""
    import conllu
    from conllu.exceptions import ParseException

    rows = []
    with path.open(encoding=encoding) as handle:
        try:
            for number, sentence in enumerate(conllu.parse_incr(handle), start=1):
                words = [word for word in sentence if isinstance(word["id"], int)]
                if short := next((word for word in words if not set(CONLLU_FIELDS) <= set(word)), None):
                    raise AutodistillError(
                        f"could not read {path} as CoNLL-U: sentence {number}'s word {short['form']!r} lacks fields"
                        " (a word's line holds 10, tab-separated)"
                    )
                if words:
                    fields = {field: [str(word[field]) for word in words] for field in CONLLU_FIELDS}
                    rows.append({"tokens": [word["form"] for word in words], **fields})
        except ParseException as error:
            raise AutodistillError(f"could not read {path} as CoNLL-U: {str(error).splitlines()[0]}") from None
    return pd.DataFrame(rows, columns=["tokens", *CONLLU_FIELDS])


def read_local(path: Path, encoding: str | None = None) -> tuple[dict[str, pd.DataFrame], str]:
    """Frames keyed by split (``"all"`` for a file without a split) and a name for messages."""
    if path.is_file():
        frame = read_file(path, encoding)
        if "split" not in frame:
            return {"all": frame}, str(path)
        unknown = sorted(set(frame["split"].astype(str)) - set(SPLIT_NAMES))
        if unknown:
            raise AutodistillError(
                f"column 'split' of {path} has unknown value {unknown[0]!r}; use one of: {', '.join(SPLIT_NAMES)}"
            )
        split = frame.pop("split").astype(str).map(SPLIT_NAMES)
        return {name: part for name, part in frame.groupby(split, sort=True)}, str(path)
    found: dict[str, Path] = {}
    for file in sorted(path.iterdir()):
        split = SPLIT_NAMES.get(file.stem.lower())
        if split and file.suffix in EXTENSIONS:
            if split in found:
                raise AutodistillError(f"folder {path} has two {split} files: {found[split].name} and {file.name}")
            found[split] = file
    if "train" not in found:
        listed = ", ".join(sorted(p.name for p in path.iterdir())) or "nothing"
        conll = _CONLL_HINT if (path / "train.txt").exists() else ""
        raise AutodistillError(
            f"folder {path} has no train file ({', '.join('train' + e for e in EXTENSIONS)}); it holds: {listed}{conll}"
        )
    return {split: read_file(file, encoding) for split, file in found.items()}, str(path)


def read_hub(source: str) -> tuple[dict[str, pd.DataFrame], dict[str, list[str]]]:
    """Splits of a hub data set, and the class names of its ClassLabel columns (and of its lists of
    ClassLabel, a tagging set's ``ner_tags``)."""
    if not hub.hub_usable():
        raise AutodistillError(
            f"{source!r} is not a catalog data set or a local file, and the Hugging Face hub is unreachable "
            f"(offline?); catalog data sets: {', '.join(sorted(DATASETS.names()))}"
        )
    import datasets  # deferred: slow to import and only needed for hub data

    hub_name, _, config = source.partition(":")
    try:
        loaded = datasets.load_dataset(hub_name, config or None)
    except Exception as error:  # the hub raises many types; all mean "could not load"
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise AutodistillError(f"could not load {source!r} from the Hugging Face hub: {first_line}") from None
    frames = {SPLIT_NAMES[s]: loaded[s].to_pandas() for s in loaded if s in SPLIT_NAMES}
    if not frames:
        raise AutodistillError(
            f"hub data set {source!r} has no train/validation/test split; it has: {', '.join(loaded)}"
        )
    features = next(iter(loaded.values())).features
    classes = {col: getattr(f, "feature", f) for col, f in features.items()}  # a tag list's items: its element
    names = {col: list(f.names) for col, f in classes.items() if isinstance(f, datasets.ClassLabel)}
    return frames, names
