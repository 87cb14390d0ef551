import json

import pytest

from engine.errors import AutodistillError
from engine.models.zoo import (
    build_student,
    check_student,
    count_parameters,
    load_config,
    load_task_model,
    parse_layers,
)
from engine.tasks.spec import TaskSpec, TaskType

SPEC = TaskSpec("t", TaskType.CLASSIFICATION, "d", ("a", "b", "c"))


def test_layer_subset_keeps_the_named_teacher_layers():
    student = build_student("layers=0,2,4", "minilm-l6", SPEC)
    assert student.config.num_hidden_layers == 3
    assert len(student.base_model.encoder.layer) == 3
    assert student.config.num_labels == 3


def test_fresh_preset_shares_vocab_and_has_table6_shape():
    student = build_student("tiny", "minilm-l6", SPEC)
    assert (student.config.num_hidden_layers, student.config.hidden_size) == (2, 128)
    assert student.config.vocab_size == load_config("minilm-l6").vocab_size
    assert 4.0e6 < count_parameters(student) < 4.8e6


def test_pca_initialised_embeddings_keep_teacher_word_similarity():
    import torch

    from engine.models.zoo import load_task_model

    teacher = load_task_model("minilm-l6", SPEC).base_model.embeddings.word_embeddings.weight
    student = build_student("mini", "minilm-l6", SPEC).base_model.embeddings.word_embeddings.weight
    ids = torch.arange(2000, 2200)

    def sims(w):
        x = torch.nn.functional.normalize(w[ids] - w.mean(0), dim=-1)
        return (x @ x.T).flatten()

    corr = torch.corrcoef(torch.stack([sims(teacher.detach()), sims(student.detach())]))[0, 1]
    assert corr > 0.8


@pytest.mark.parametrize(
    ("student", "message"),
    [
        ("layers=0,9", "bad layer subset"),
        ("layers=2,1", "bad layer subset"),
        ("layers 0 1", "layers=0,2,4"),
        ("no-such-student", "unknown student"),
        ("small", "exceeds teacher width"),
    ],
)
def test_bad_students_get_one_line_errors(student, message):
    with pytest.raises(AutodistillError, match=message) as info:
        build_student(student, "minilm-l6", SPEC)
    assert "\n" not in str(info.value)


def test_a_hub_student_offline_is_said_to_need_the_hub(monkeypatch):
    """``prajjwal1/bert-tiny`` offline had read "unknown student", with "<hub id or folder>" among the choices."""
    monkeypatch.setattr("engine.models.zoo.hub_usable", lambda: False)
    with pytest.raises(AutodistillError) as info:
        build_student("prajjwal1/bert-tiny", "minilm-l6", SPEC)
    assert str(info.value).startswith("student 'prajjwal1/bert-tiny' reads as a Hugging Face id, and the hub is")
    assert "tiny-gd" in str(info.value) and "<hub id" not in str(info.value)


def test_a_student_with_another_vocabulary_is_refused(tmp_path):
    from transformers import BertConfig, BertModel, BertTokenizerFast

    small_vocab = tmp_path / "small-vocab"
    BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)).save_pretrained(
        small_vocab
    )
    with pytest.raises(AutodistillError, match=r"vocabulary \(50 tokens\) does not match") as info:
        build_student(str(small_vocab), "minilm-l6", SPEC)
    assert "\n" not in str(info.value)

    # Same size as the teacher's vocabulary, other tokens: caught through the tokenizer it ships.
    other_tokens = tmp_path / "other-tokens"
    size = load_config("minilm-l6").vocab_size
    BertModel(BertConfig(vocab_size=size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)).save_pretrained(
        other_tokens
    )
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(size - 5)]
    (other_tokens / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizerFast(vocab_file=str(other_tokens / "vocab.txt")).save_pretrained(other_tokens)
    with pytest.raises(AutodistillError, match="must share the teacher's tokenizer"):
        build_student(str(other_tokens), "minilm-l6", SPEC)


def test_a_hub_model_offline_is_refused_in_one_line_without_asking_the_hub(monkeypatch):
    import engine.models.zoo as zoo
    from engine import hub

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hub, "hub_reachable", lambda: False)

    def hub_client(*args, **kwargs):  # offline, it retries for about 25 s per file, then raises a traceback
        raise AssertionError("the hub client was asked")

    monkeypatch.setattr(zoo.AutoConfig, "from_pretrained", hub_client)
    monkeypatch.setattr(zoo.AutoTokenizer, "from_pretrained", hub_client)
    for load in (zoo.load_config, zoo.load_tokenizer):
        with pytest.raises(AutodistillError, match="Hugging Face hub is unreachable") as info:
            load("someone/some-model")
        assert "\n" not in str(info.value) and "minilm-l6" in str(info.value)


def test_model_folder_without_config_is_refused(tmp_path):
    with pytest.raises(AutodistillError, match="is not a model"):
        load_config(str(tmp_path))
    with pytest.raises(AutodistillError, match=r"is not a model: it has no config\.json"):
        build_student(str(tmp_path), "minilm-l6", SPEC)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "Should have a `model_type` key"),
        ({"model_type": "no-such-architecture"}, "does not recognize this architecture"),
    ],
)
def test_a_config_transformers_cannot_build_is_refused_in_one_line(tmp_path, config, message):
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(AutodistillError, match="is not an encoder transformers can build") as info:
        check_student(str(tmp_path), "minilm-l6")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_folder_without_weights_is_refused_in_one_line(tmp_path):
    load_config("minilm-l6").save_pretrained(tmp_path)
    with pytest.raises(AutodistillError, match=r"has a config\.json but no weights"):
        check_student(str(tmp_path), "minilm-l6")
    with pytest.raises(AutodistillError, match=r"has a config\.json but no weights"):  # a teacher's load
        load_task_model(str(tmp_path), SPEC)


def test_a_half_precision_checkpoint_loads_in_float32(tmp_path):
    """Transformers 5 would load it as saved; training half-precision weights loses small updates."""
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path / "half"
    BertModel(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)).to(
        torch.bfloat16
    ).save_pretrained(folder)
    model = load_task_model(str(folder), SPEC)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_a_saved_two_label_classifier_takes_a_regression_head(tmp_path):
    """transformers 5 saves such a config with its problem type and without its (default) labels."""
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path / "binary"
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=2)
    config.problem_type = "single_label_classification"
    BertForSequenceClassification(config).save_pretrained(folder)
    model = load_task_model(str(folder), TaskSpec("r", TaskType.REGRESSION, "d"))
    assert (model.config.num_labels, model.config.problem_type) == (1, "regression")


def test_parse_layers():
    assert parse_layers("layers=0, 2,4") == [0, 2, 4]
    assert parse_layers("tiny") is None


def test_models_list_says_what_each_student_starts_from_and_its_default_rate():
    from typer.testing import CliRunner

    import cli

    result = CliRunner().invoke(cli.typer_app, ["models", "list"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 2}
    assert "random" in rows["tiny"] and "5e-04" in rows["tiny"]
    assert "general-distilled" in rows["tiny-gd"] and "3e-04" in rows["tiny-gd"]
    assert "minilm-l6 layers" in rows["layers=0,2,4"] and "5e-05" in rows["layers=0,2,4"]
    assert "small: student width 512 exceeds teacher width 384" in result.output
