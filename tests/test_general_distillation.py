"""General distillation (MiniLMv2 relations): the loss, a resumed run, and a folder a run takes as its student."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine.errors import AutodistillError
from engine.models import general
from engine.models.pretraining import PretrainConfig
from engine.models.zoo import build_student
from engine.tasks.spec import TaskSpec, TaskType
from engine.training.precision import Precision
from tests.installed import installed_source

DOCUMENTS = [
    ["The whale swam past the ship.", "Its crew watched it go;", "nobody spoke."],
    ["A noun is a word that names a thing.", "A verb names an action."],
] * 20


def test_relations_are_per_head_scaled_dot_products() -> None:
    states = torch.randn(2, 5, 8)
    rel = general.relations(states, heads=2)
    assert rel.shape == (2, 2, 5, 5)
    first = states[:, :, :4]
    assert torch.allclose(rel[:, 0], first @ first.transpose(-1, -2) / 2.0)


def test_relation_loss_is_zero_for_the_teacher_itself_and_ignores_padding() -> None:
    teacher = [torch.randn(2, 6, 12) for _ in range(3)]
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    assert general.relation_loss(teacher, teacher, mask, heads=4).abs() < 1e-5
    student = [torch.randn(2, 6, 8) for _ in range(3)]
    loss = general.relation_loss(teacher, student, mask, heads=4)
    changed = [s.clone() for s in student]
    for s in changed:
        s[1, 3:] = 100.0  # padding positions of the second sequence
    assert loss > 0 and torch.allclose(loss, general.relation_loss(teacher, changed, mask, heads=4))


def test_a_stopped_run_resumes_and_its_folder_is_a_student(tmp_path: Path) -> None:
    config = PretrainConfig(student="tiny", max_length=32, batch_size=4, max_steps=3, checkpoint_every=1)
    out = tmp_path / "tiny-gd"

    def stop_after_two(done: int, _total: int, _loss: float) -> None:
        if done == 2:
            raise KeyboardInterrupt

    cpu = torch.device("cpu")
    fp32 = {"device": cpu, "precision": Precision.of("fp32", cpu)}
    with pytest.raises(KeyboardInterrupt):
        general.general_distill(config, DOCUMENTS, out, stop_after_two, **fp32)
    assert not out.exists() and (out.with_name("tiny-gd.partial") / general.CHECKPOINT).exists()
    seen: list[int] = []
    record = general.general_distill(config, DOCUMENTS, out, lambda done, _t, _l: seen.append(done), **fp32)
    assert seen == [2, 3], "the resumed run starts after its last checkpoint"
    assert record["steps"] == 3 and json.loads((out / general.RECORD).read_text())["steps"] == 3
    assert record["first_loss"] != record["final_loss"], "a short run's first and final losses share no step"
    spec = TaskSpec("toy", TaskType.CLASSIFICATION, "", ("neg", "pos"))
    student = build_student(str(out), "minilm-l6", spec)
    assert student.config.hidden_size == 128 and student.config.num_labels == 2


def test_relation_heads_must_divide_both_widths() -> None:
    with pytest.raises(AutodistillError, match="relation_heads=3 must divide"):
        general.check_config(PretrainConfig(student="tiny", relation_heads=3))
    with pytest.raises(AutodistillError, match=r"relation_heads=5 must divide the student's width \(384\)"):
        general.check_config(PretrainConfig(student="layers=0,2,4", relation_heads=5))  # the teacher's width


def test_a_student_with_weights_goes_on_from_them(tmp_path: Path) -> None:
    """The shipped tiny-gd on a user's text: its weights are the start, and its record says so."""
    config = PretrainConfig(student="tiny-gd", max_length=32, batch_size=4, max_steps=1)
    cpu = torch.device("cpu")
    start = build_student("tiny-gd", "minilm-l6", general._SPEC).base_model
    fresh = build_student("tiny", "minilm-l6", general._SPEC).base_model
    out = tmp_path / "tiny-gd-domain"
    record = general.general_distill(config, DOCUMENTS, out, device=cpu, precision=Precision.of("fp32", cpu))
    assert record["starts_from"].startswith("tiny-gd:") and "taught further" in (out / "README.md").read_text()
    went_on = build_student(str(out), "minilm-l6", TaskSpec("toy", TaskType.REGRESSION, "")).base_model

    def gap(a: torch.nn.Module, b: torch.nn.Module) -> float:
        first, second = (m.encoder.layer[0].output.dense.weight.detach() for m in (a, b))
        return float((first - second).abs().max())

    assert gap(went_on, start) < gap(went_on, fresh) / 10, "one step moves the weights a little, from tiny-gd's"
    from engine.config import DistillConfig
    from engine.models.presets import TINY_GD_LR

    further = PretrainConfig(student=str(out), max_length=32, batch_size=4, max_steps=1)
    deeper = tmp_path / "deeper"
    general.general_distill(further, DOCUMENTS, deeper, device=cpu, precision=Precision.of("fp32", cpu))
    for folder in (out, deeper):  # trained at tiny-gd's rate unless set, not at a hub model's 5e-5
        assert DistillConfig(dataset="toy", student=str(folder)).train.lr == TINY_GD_LR
    assert DistillConfig(dataset="toy", student=str(out), train={"lr": 1e-3}).train.lr == 1e-3


def test_pretrain_refuses_a_bad_corpus_or_student_in_one_line(tmp_path, capsys):
    from test_cli_meta import error_of

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    assert "holds no text" in error_of(capsys, "pretrain", "--student", "tiny", "--corpus", str(empty))
    binary = tmp_path / "weights.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    assert "is binary, not text" in error_of(capsys, "pretrain", "--student", "tiny", "--corpus", str(binary))
    assert "unknown student 'tiny-xx'" in error_of(capsys, "pretrain", "--student", "tiny-xx")


@pytest.mark.parametrize(
    ("name", "shape", "width", "layers"), [("tiny-gd", "tiny", 128, 2), ("mini-gd", "mini", 256, 4)]
)
def test_the_shipped_general_distilled_students_build_for_a_task_and_are_named_by_their_weights(
    name: str, shape: str, width: int, layers: int
) -> None:
    from engine.models.zoo import model_identity

    spec = TaskSpec("toy", TaskType.REGRESSION, "")
    student = build_student(name, "minilm-l6", spec)
    assert (student.config.hidden_size, student.config.num_hidden_layers, student.config.num_labels) == (
        width,
        layers,
        1,
    )
    record = json.loads((general.Path(general.__file__).parent / "pretrained" / name / general.RECORD).read_text())
    assert record["config"]["student"] == shape and record["corpus_words"] > 2_000_000
    assert record["final_loss"] < record["first_loss"] / 3, "the relations were learned"
    assert model_identity(name).startswith(f"{name}:") and "/" not in model_identity(name)


def test_a_pretrain_in_bf16_autocasts_its_forward_passes_and_keeps_float32_weights(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from engine.data import catalog
    from engine.data.corpus import SENTENCE_WORDS, clauses
    from engine.pipelines.pretrain import pretrain

    installed_source("bbc-news")
    dev = (c for text in catalog.load("bbc-news").dev["text"] for c in clauses(text))
    read = next(c for c in dev if len(c.split()) > SENTENCE_WORDS)  # one sentence of a catalog data set's dev text
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n\n".join("\n".join(document) for document in [*DOCUMENTS, [read]]) + "\n")
    config = PretrainConfig(
        student="tiny", corpus=str(corpus), max_length=32, batch_size=4, max_steps=2, precision="bf16"
    )
    folder, record = pretrain(config, tmp_path / "tiny-bf16", show_progress=False)
    assert record["catalog_text_read"] == {"bbc-news": 1}, "kept, so that runs on bbc-news refuse the student"
    assert record["autocast"] == "bfloat16" and "forward passes in bfloat16" in record["machine"]
    assert {t.dtype for t in load_file(folder / "model.safetensors").values()} == {torch.float32}
    assert record["final_loss"] > 0 and "forward passes in bfloat16" in (folder / "README.md").read_text()


def test_a_student_that_read_a_data_sets_dev_or_test_text_is_refused_there_and_only_there(tmp_path, capsys):

    from test_cli_meta import error_of

    cpu = torch.device("cpu")
    fp32 = {"device": cpu, "precision": Precision.of("fp32", cpu)}
    config = PretrainConfig(student="tiny", max_length=32, batch_size=4, max_steps=1)
    read = tmp_path / "read"
    general.general_distill(config, DOCUMENTS, read, catalog_text={"vader-valence": 3}, **fp32)
    further = PretrainConfig(student=str(read), max_length=32, batch_size=4, max_steps=1)
    more = {"vader-valence": 1, "sotu-party": 2}
    record = general.general_distill(further, DOCUMENTS, tmp_path / "further", catalog_text=more, **fp32)
    assert record["catalog_text_read"] == {"sotu-party": 2, "vader-valence": 4}, "what its start read counts too"
    general.check_unread_scores(str(read), "bbc-news")  # none of its text was read
    general.check_unread_scores("tiny-gd", "vader-valence")  # the shipped students' corpus left it out
    installed_source("vader-valence")
    said = error_of(capsys, "run", "--student", str(read), "--dataset", "vader-valence")
    assert said == (
        f"error: student '{read}' was pretrained on a corpus holding 3 sentences of vader-valence's dev or test "
        "text, so its scores there would be on text it has read; pretrain on a corpus without them"
    )


def test_models_list_shows_the_students_pretrain_made_in_the_home_with_the_path_to_name(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import cli
    from engine import paths
    from engine.models.presets import GENERAL_FOLDER

    cpu = torch.device("cpu")
    config = PretrainConfig(student="tiny", corpus="notes.txt", max_length=32, batch_size=4, max_steps=1)
    made = paths.subdir(*GENERAL_FOLDER) / "tiny-notes"
    general.general_distill(config, DOCUMENTS, made, device=cpu, precision=Precision.of("fp32", cpu))
    general.general_distill(config, DOCUMENTS, tmp_path / "elsewhere", device=cpu, precision=Precision.of("fp32", cpu))
    result = CliRunner().invoke(cli.typer_app, ["models", "list"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 2}
    assert "general-distilled" in rows["tiny-notes"] and "3e-04" in rows["tiny-notes"], "tiny-gd's rate"
    assert "on notes.txt" in result.output  # the cell may wrap, however wide the terminal
    assert f"tiny-notes: --student {made}" in result.output
    assert "elsewhere" not in result.output, "only the home's default folder is looked in"
