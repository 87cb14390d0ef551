"""Every command's ``--help`` speaks to the user: what the command does and what each flag changes, not how
the code is laid out (modules, registries, layers) and no reST markup from docstrings."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

import cli
from cli.app import CATALOG_PANEL, STUDY_PANEL

#: Words that describe the code rather than what the user gets.
CODE_TALK = (":mod:", ":func:", ":class:", "``", "registry", "meta layer", "sits above", "pregenerate()", "issue ")


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command of the app, as the words a user types (``("study", "report")``), groups included.
    A group is what holds ``commands`` (Typer's own group class, not click's)."""
    paths = [prefix] if prefix else []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


PATHS = command_paths(typer.main.get_command(cli.typer_app))


def test_the_walk_finds_the_commands_and_their_groups() -> None:
    assert {("run",), ("recommend",), ("study",), ("study", "report"), ("data", "show")} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=" ".join)
def test_help_describes_the_command_not_the_code(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli.typer_app, [*path, "--help"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    found = [word for word in CODE_TALK if word in result.output.lower()]
    assert not found, f"autodistill {' '.join(path)} --help talks about the code: {found}"


def test_the_commands_a_user_distils_with_come_before_the_studys_tools() -> None:
    output = CliRunner().invoke(cli.typer_app, ["--help"], env={"COLUMNS": "120"}).output
    first, _, rest = output.partition(STUDY_PANEL)
    study, _, catalog = rest.partition(CATALOG_PANEL)
    # "│ run " is the command's row in its panel, not the word in some description
    assert all(f"│ {name} " in first for name in ("recommend", "run", "finetune", "predict"))
    assert all(f"│ {name} " in study for name in ("heldout", "evaluate", "importance", "sweep", "study"))
    assert all(f"│ {name} " in catalog for name in ("data", "models", "runs"))


def test_a_flag_whose_help_says_what_unset_means_shows_no_other_default() -> None:
    """``--lr`` left unset trains at the student's own rate (3e-4 for ``tiny-gd``), not at the schema's 5e-5."""
    output = " ".join(CliRunner().invoke(cli.typer_app, ["run", "--help"], env={"COLUMNS": "300"}).output.split())
    lr = output[output.index("--lr") :].split("│")[0]
    assert "(unset: the model's default" in lr and "(default:" not in lr
    assert "passes over the training split (default: 3)" in output, "other flags keep their defaults"


def out_flags(path: tuple[str, ...]) -> set[str]:
    """The spellings a command takes for the path it writes, read off its click parameters."""
    command = typer.main.get_command(cli.typer_app)
    for word in path:
        command = command.commands[word]
    return {spelling for param in command.params if param.name in ("out", "output") for spelling in param.opts}


def test_every_command_that_writes_a_path_takes_out_output_and_o_alike() -> None:
    """One spelling learned on ``run -o`` or ``recommend --out`` works on every other command that writes."""
    writers = [path for path in PATHS if out_flags(path)]
    assert {("run",), ("predict",), ("recommend",), ("export",), ("augment",)} <= set(writers)
    for path in writers:
        assert out_flags(path) == {"--out", "--output", "-o"}, f"autodistill {' '.join(path)}: {out_flags(path)}"
