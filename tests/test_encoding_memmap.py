"""Token ids on disk: a memory-mapped split serves the very batches an in-memory one does, keeps
the teacher cache's key, is tokenised once per (tokenizer, max length, texts), and a damaged
store is rebuilt rather than trusted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from engine import paths
from engine.kd.teacher_cache import split_fingerprint
from engine.models.zoo import load_tokenizer
from engine.tasks import encode_split, token_ids
from engine.tasks.encoding import collate
from engine.tasks.spec import TaskSpec, TaskType
from engine.tasks.token_ids import RaggedIds, stored_ids

SPEC = TaskSpec("toy", TaskType.CLASSIFICATION, "Toy.", ("a", "b", "c"))
PAIR_SPEC = TaskSpec("toy-pair", TaskType.CLASSIFICATION, "Toy pairs.", ("no", "yes"), paired=True)
REGRESSION_SPEC = TaskSpec("toy-score", TaskType.REGRESSION, "Toy scores.")


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm-l6")


def frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Texts of very different lengths (1 to 60 words), some cut by max_length."""
    rng = np.random.default_rng(seed)
    words = ["the", "a", "cat", "sat", "on", "mat", "of", "gold", "quickly", "running", "beneath", "silvery", "moons"]
    texts = [" ".join(rng.choice(words, int(rng.integers(1, 60)))) for _ in range(n)]
    pairs = [" ".join(rng.choice(words, int(rng.integers(1, 20)))) for _ in range(n)]
    return pd.DataFrame({"text": texts, "text_pair": pairs, "label": rng.integers(0, 2, n)})


def both(data: pd.DataFrame, spec: TaskSpec, tokenizer, max_length: int = 32):
    lists = encode_split(data, spec, tokenizer, max_length, train=True, on_disk=False)
    mapped = encode_split(data, spec, tokenizer, max_length, train=True, on_disk=True)
    return lists, mapped


def assert_same_batches(lists, mapped, pad_id: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    choices = [[0], [len(lists) - 1], list(range(len(lists)))]
    choices += [rng.choice(len(lists), size=int(rng.integers(1, 17)), replace=False) for _ in range(20)]
    for indices in choices:
        expected, got = collate(lists, indices, pad_id), collate(mapped, indices, pad_id)
        assert expected.keys() == got.keys()
        for key in expected:
            assert got[key].dtype == expected[key].dtype, key
            assert torch.equal(got[key], expected[key]), key


@pytest.mark.parametrize("spec", [SPEC, PAIR_SPEC, REGRESSION_SPEC], ids=["single", "pair", "regression"])
def test_a_memory_mapped_split_gives_the_same_batches_as_lists(tokenizer, spec, monkeypatch):
    monkeypatch.setattr(token_ids, "CHUNK_ROWS", 7)  # rows cross chunk boundaries
    data = frame(97)
    if spec.task_type == TaskType.REGRESSION:
        data = data.assign(label=data["label"] * 0.5)
    lists, mapped = both(data, spec, tokenizer)
    assert isinstance(mapped.input_ids, RaggedIds) and isinstance(lists.input_ids, list)
    assert len(mapped) == len(lists) == 97
    assert [list(row) for row in mapped.input_ids] == lists.input_ids
    assert [list(row) for row in mapped.token_type_ids] == lists.token_type_ids
    assert np.array_equal(mapped.labels, lists.labels) and np.array_equal(mapped.rows, lists.rows)
    assert_same_batches(lists, mapped, tokenizer.pad_token_id)


def test_the_teacher_cache_key_does_not_depend_on_where_ids_live(tokenizer):
    lists, mapped = both(frame(40), SPEC, tokenizer)
    assert split_fingerprint(mapped) == split_fingerprint(lists)


def test_ragged_rows_index_like_a_list():
    ids = RaggedIds(np.arange(6, dtype=np.int32), np.array([0, 2, 2, 6]))
    assert len(ids) == 3 and bool(ids)
    assert ids[0].tolist() == [0, 1] and ids[1].tolist() == [] and ids[-1].tolist() == [2, 3, 4, 5]
    assert [row.tolist() for row in ids] == [[0, 1], [], [2, 3, 4, 5]]
    assert ids.padded(np.array([2, 0]), fill=-1).tolist() == [[2, 3, 4, 5], [0, 1, -1, -1]]
    with pytest.raises(IndexError):
        ids[3]


def test_a_second_encoding_reuses_the_stored_ids(tokenizer, monkeypatch):
    data = frame(50)
    first = encode_split(data, SPEC, tokenizer, 32, train=True, on_disk=True)
    folders = list((paths.home() / "token_ids").iterdir())
    assert len(folders) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("stored token ids were tokenised again")

    with monkeypatch.context() as patch:
        patch.setattr(token_ids, "_write_chunks", refuse)
        again = encode_split(data, SPEC, tokenizer, 32, train=True, on_disk=True)
    assert np.array_equal(again.input_ids.values, first.input_ids.values)
    encode_split(data, SPEC, tokenizer, 16, train=True, on_disk=True)  # another max length: another key
    encode_split(data.iloc[:-1], SPEC, tokenizer, 32, train=True, on_disk=True)  # other texts: another key
    assert len(list((paths.home() / "token_ids").iterdir())) == 3


def test_a_damaged_store_is_rebuilt_and_says_so(tokenizer, capsys):
    data = frame(30)
    texts = data["text"].tolist()
    good, _ = stored_ids(tokenizer, texts, None, 32)
    expected = [row.tolist() for row in good]
    (folder,) = (paths.home() / "token_ids").iterdir()
    with (folder / "ids.bin").open("r+b") as handle:
        handle.truncate(8)  # a half-written file
    rebuilt, _ = stored_ids(tokenizer, texts, None, 32)
    assert [row.tolist() for row in rebuilt] == expected
    assert "damaged" in capsys.readouterr().out


def test_the_store_is_chosen_by_size_and_only_where_it_applies(tokenizer, monkeypatch):
    monkeypatch.setattr("engine.tasks.encoding.DISK_MIN_EXAMPLES", 20)
    assert isinstance(encode_split(frame(19), SPEC, tokenizer, 32, train=True).input_ids, list)
    assert isinstance(encode_split(frame(20), SPEC, tokenizer, 32, train=True).input_ids, RaggedIds)
