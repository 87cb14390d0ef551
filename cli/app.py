"""The Typer application and its command groups; the command modules register on these."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperCommand

from cli.options import COMPONENT_FIELDS

typer_app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Distil big NLP models into small ones, and learn which distillation pipeline to use.",
)
#: ``--help`` panels: the commands a user distils with stay in typer's first panel; these follow it.
STUDY_PANEL = "Build and check the advice (the study's tools)"
CATALOG_PANEL = "Data, models and stores"

data_app = typer.Typer(no_args_is_help=True, help="The offline data set catalog.")
models_app = typer.Typer(no_args_is_help=True, help="Teachers and students.")
teacher_app = typer.Typer(no_args_is_help=True, help="Teacher fine-tuning (cached).")
runs_app = typer.Typer(no_args_is_help=True, help="The runs store: import the authors' runs, export to CSV/Parquet.")
cache_app = typer.Typer(no_args_is_help=True, help="The home folder's disk use, and clearing its caches.")
study_app = typer.Typer(no_args_is_help=True, help="This project's Distiller study: ship its runs, write its report.")
for group, name in (
    (data_app, "data"),
    (models_app, "models"),
    (teacher_app, "teacher"),
    (runs_app, "runs"),
    (cache_app, "cache"),
):
    typer_app.add_typer(group, name=name, rich_help_panel=CATALOG_PANEL)
typer_app.add_typer(study_app, name="study", rich_help_panel=STUDY_PANEL)


def journal(record: str, result: Any, **more: Any) -> None:
    """Log a user's finished work in the home's runs store with the meta layer's ``record`` (one of
    :mod:`autodistill.journal`, given ``more`` as keywords), where ``runs list`` shows it; a store that
    cannot be written is said in one line and the command still succeeds (the run's folder holds its result)."""
    import autodistill
    from cli import render
    from engine import AutodistillError

    try:
        with autodistill.open_store() as store:
            getattr(autodistill, record)(result, store, **more)
    except AutodistillError as error:
        render.say(f"not logged in the runs store: {error}")


#: Component fields that ``none`` switches off (logit-only KD); an unset prediction loss is the task's own.
OFF_SWITCHES = ("mapping", "inter_loss")


class SchemaCommand(TyperCommand):
    """A command with schema flags whose ``--help`` lists each component flag's valid names.

    The names come from the engine's registries (:func:`engine.component_names`), so a newly
    registered loss shows up with no edit here; importing every registry takes seconds, so
    it happens only when help is shown.
    """

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        from engine import component_names

        names = component_names()
        for param in self.params:
            if param.name in COMPONENT_FIELDS and param.name in names and "choose from" not in (param.help or ""):
                off = " | none" if param.name in OFF_SWITCHES else ""
                param.help = f"{param.help or ''}; choose from {' | '.join(names[param.name])}{off}"
        super().format_help(ctx, formatter)
