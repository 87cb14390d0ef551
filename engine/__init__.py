"""The Distiller engine's public API: what the meta layer, the study and the CLI may use.

Everything above the engine (``autodistill``, ``study``, ``cli``) imports from
``engine`` only, never from its submodules; ``tests/test_layout.py`` checks it.
The names are resolved lazily (PEP 562), so ``import engine`` stays cheap and
importing one engine module never drags in the whole engine.

Layout, by the terms of Distiller's Eq. 1:

* ``config``      the typed schema of one run; ``components`` checks names against the registries
* ``data``        catalog data sets, loaders, splits, data cards
* ``tasks``       one module per task type (its columns, label checks, encoding, head, metrics), and the shared encoding
* ``models``      presets and the zoo (teachers, students), batches, general (task-agnostic) distillation of a student
* ``kd``          the objective (Eq. 1), layer mappings, projections, losses, the teacher-output cache
* ``augment``     data augmentation a(x, y): operations, policies, workers
* ``training``    the one training loop, its callbacks, schedule, precision, devices and several processes
* ``teachers``    teacher fine-tuning, teams, teacher policies, AutoSKDBERT's learned distribution
* ``pipelines``   ``run(config) -> RunResult`` as plain steps, the student's export (HF folder, ONNX), prediction
* ``tracking``    experiment tracking backends (TensorBoard, MLflow) behind ``train.report_to``
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it (``module:attribute`` where the names differ);
#: the names in :data:`_MODULES` are modules themselves.
_EXPORTS: dict[str, str] = {
    # running pipelines
    "run": "engine.pipelines.run",
    "finetune": "engine.pipelines.run",
    "RunResult": "engine.pipelines.result",
    "EpochCallback": "engine.training.callbacks",
    "HASHED_INTER_LOSS": "engine.pipelines.result",
    "split_version_of": "engine.pipelines.result",
    "cpu_latency_ms": "engine.pipelines.latency",
    "retrain_candidates": "engine.pipelines.candidates",
    "predict_file": "engine.pipelines.predict",
    "Predictions": "engine.pipelines.predict",
    "PredictionScore": "engine.pipelines.predict",
    "run_predictions": "engine.pipelines.example_predictions",
    "written_predictions": "engine.pipelines.result",
    "dev_standard_error": "engine.pipelines.result",
    "run_folder": "engine.pipelines.result",
    "default_output_dir": "engine.pipelines.result",
    "ExamplePredictions": "engine.pipelines.result",
    "export_model": "engine.pipelines.deploy",
    "ExportReport": "engine.pipelines.deploy",
    "write_report": "engine.pipelines.report",
    "pregenerate": "engine.augment.pregenerated",
    "finetune_teacher": "engine.teachers.finetune",
    "FinetunedModel": "engine.teachers.finetune",
    "TrainerCallback": "engine.training.callbacks",
    "TrainerState": "engine.training.callbacks",
    "available_cpus": "engine.cores",
    "share_cores": "engine.cores",
    "core_share": "engine.cores",
    "pretrain": "engine.pipelines.pretrain",
    "length_cut": "engine.pipelines.lengths",
    "TEACHER_SETTINGS": "engine.teachers.finetune",
    "settings_apart": "engine.teachers.finetune",
    "settings_text": "engine.teachers.finetune",
    # configuration
    "DistillConfig": "engine.config",
    "column_options": "engine.config",
    "dataset_source": "engine.config",
    "dataset_names": "engine.config",
    "TrainSettings": "engine.config",
    "DataColumns": "engine.config",
    "TeamConfig": "engine.config",
    "PretrainConfig": "engine.models.pretraining",
    "parse_config": "engine.components",
    "load_config_file": "engine.config",
    "merge_overrides": "engine.config",
    "format_validation_error": "engine.config",
    "check_components": "engine.components",
    "component_names": "engine.components",
    "augmenter_kinds": "engine.components",
    # data
    "load_task": "engine.data",
    "list_datasets": "engine.data",
    "show_dataset": "engine.data.cards:show",
    "show_task": "engine.data.cards",
    "data_notes": "engine.data.cards",
    "prepare_dataset": "engine.data.catalog:prepare",
    "read_prepared": "engine.data.catalog",
    "dataset_family": "engine.data.catalog",
    "card_path": "engine.data.catalog",
    "split_resolution": "engine.data.catalog",
    "latest_split_version": "engine.data.catalog",
    "recorded_sizes": "engine.data.catalog",
    "SplitResolution": "engine.data.catalog",
    "metric_standard_error": "engine.data.resolution",
    "ratio_standard_error": "engine.data.resolution",
    "TaskData": "engine.data.schema",
    "TaskSpec": "engine.tasks.spec",
    "TaskType": "engine.tasks.spec",
    # models
    "DEFAULT_TEACHER": "engine.models.presets",
    "STUDENT_PRESETS": "engine.models.presets",
    "PRETRAINED_STUDENTS": "engine.models.presets",
    "from_scratch": "engine.models.presets",
    "unset_lr": "engine.config",
    "list_models": "engine.models.listing",
    "build_student": "engine.models.zoo",
    "check_student": "engine.models.zoo",
    "check_unread_scores": "engine.models.general",
    "load_task_model": "engine.models.zoo",
    "text_augmentable": "engine.tasks",
    "real_valued": "engine.tasks",
    "task_head": "engine.tasks",
    "head_of": "engine.tasks",
    "one_answer_note": "engine.tasks",
    "task_kinds": "engine.tasks",
    "TaskHead": "engine.tasks",
    "bag_f1": "engine.tasks.span",
    "load_tokenizer": "engine.models.zoo",
    "count_parameters": "engine.models.zoo",
    "encode_split": "engine.tasks",
    # infrastructure
    "AutodistillError": "engine.errors",
    "choices_error": "engine.errors",
    "clipped": "engine.errors",
    "human_bytes": "engine.paths",
    "Registry": "engine.registry",
    "paths": "engine.paths",
    "distributed": "engine.training.distributed",
    "training_device": "engine.training.device",
    "speed_probe_seconds": "engine.training.speed",
    "latest_position": "engine.training.progress",
    "exit_with_parent": "engine.lifetime",
}

_MODULES = {"paths", "distributed"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    value = module if name in _MODULES else getattr(module, attribute or name)
    globals()[name] = value
    return value
