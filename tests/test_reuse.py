"""A process keeps what runs share (data, teacher, tokenizer, encoded splits) and sees changes."""

from __future__ import annotations

import time

import pandas as pd

from engine.models.zoo import load_tokenizer
from engine.pipelines import reuse
from tests.conftest import toy_frame


def test_equal_rows_are_encoded_once_and_changed_rows_again(toy_task):
    tok = load_tokenizer("minilm-l6")
    frame = toy_task.train.iloc[:8]
    first = reuse.encoded(frame, toy_task.spec, tok, 16, train=True)
    assert reuse.encoded(frame.copy(), toy_task.spec, tok, 16, train=True) is first
    assert reuse.encoded(frame, toy_task.spec, tok, 12, train=True) is not first
    changed = frame.assign(text=frame["text"] + " again")
    again = reuse.encoded(changed, toy_task.spec, tok, 16, train=True)
    assert again is not first and again.input_ids != first.input_ids


def test_a_data_file_is_read_again_once_it_changes(tmp_path):
    path = tmp_path / "reviews.csv"
    toy_frame(60, 0).to_csv(path, index=False)
    first = reuse.task(str(path), {})
    assert reuse.task(str(path), {}) is first
    time.sleep(0.01)
    pd.concat([toy_frame(60, 0), toy_frame(30, 5)]).to_csv(path, index=False)
    second = reuse.task(str(path), {})
    assert second is not first and len(second.train) > len(first.train)
