"""The Distiller search space (paper §3, Appendix H), written in the engine's config terms.

A :class:`Pipeline` is one point of the space: the fields of
:class:`engine.DistillConfig` that make a Distiller pipeline (Eq. 1's layer
mapping, intermediate loss with α, prediction loss, and the augmentation
policy with its two knobs), under the engine's own names and values. There is
no second vocabulary: ``Pipeline(inter_loss="mi", alpha=0.5, augment=("ra",
"mixup"))`` means what ``inter_loss: mi``, ``alpha: 0.5``, ``augment: ra+mixup``
mean in a run's config file. A :class:`SearchSpace` lists the allowed values,
draws random points (the paper's §4 random search) and enumerates every point
(what AutoDistiller scores to recommend one).

Why a small typed view rather than a :class:`~engine.DistillConfig` itself: a point
has no data set, teacher, student or budget (the sweep and ``recommend`` add
those per trial), it must be hashable and cheap (the paper's space has 8,736 points),
and the space has rules the engine does not (mixup last, each augmenter once,
α only for MI-α). :meth:`Pipeline.engine_fields` gives the DistillConfig values
it sets; :meth:`Pipeline.from_engine` reads one back.

Fields that act on nothing are not sent to the engine, so a run's config (and
its run id) holds the engine's defaults there: ``alpha`` is ``None`` for every
loss but ``mi``, and ``aug_p``/``repeated_aug`` without a text augmenter hold
the values the authors' runs record there (0.3, 1), which the predictor reads
as features.

Choices follow the paper and the authors' published runs:

* intermediate losses ``mse``, ``l2``, ``cos``, ``pkd``, ``ce``, ``mi`` (MI-α).
  Appendix H lists MSE, L2, Cos, PKD and MI-α; ``ce`` is absent there but used in
  the authors' runs and Table 5. ``pkd`` is BERT-PKD's loss on the [CLS] vector;
  ``pkd-tokens``, its per-token form that this project's first study runs used, is a
  valid point (those runs load) but no choice of the space, which has PKD only. α of
  MI-α: Appendix H samples 0.1, 0.5, 0.9; their runs also hold 0.0, 0.7 and 1.0, so
  any α in [0, 1] is a valid point. α is the interpolation weight: the authors' code
  passed their α through a sigmoid, so their runs are imported with the weight they ran
  with (0.525, 0.622, 0.711 for 0.1, 0.5, 0.9); this space samples the weights 0.1,
  0.5, 0.9 themselves, a wider range.
* layer mappings ``skip``, ``last``, ``emd`` (§3.3.1); prediction losses ``ce``,
  ``mse`` (§3.2).
* augmentation (§3.1, Algorithm 1): an ordered stack of distinct text
  operations from ``ca`` (contextual), ``ra`` (random, EDA-style) and ``bt``
  (back-translation), then ``mixup`` on the embeddings when enabled; mixup
  always comes last because it acts on embeddings, not text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from functools import cache
from typing import TYPE_CHECKING, Any

from engine import AutodistillError, choices_error

if TYPE_CHECKING:
    from engine import DistillConfig

#: The engine's intermediate losses that the paper's space leaves out: the per-token PKD of the first
#: study runs (a stored point may hold it; random search and advice never choose it).
NOT_IN_SPACE: tuple[str, ...] = ("pkd-tokens",)
MI_ALPHAS: tuple[float, ...] = (0.1, 0.5, 0.9)
#: The text operations the authors' runs record positions of, in their order; an operation registered
#: beside them (:func:`text_augmenters`) comes after, by name.
PAPER_TEXT_AUGMENTERS: tuple[str, ...] = ("ca", "ra", "bt")
#: The embedding operation: the store keeps whether a run used it in a column of its own (``mixup``).
MIXUP = "mixup"
AUG_PS: tuple[float, ...] = (0.1, 0.3, 0.5)
REPEATED_AUGS: tuple[int, ...] = (1, 4)

#: ``aug_p`` and ``repeated_aug`` of a point without text augmentation: what the
#: authors' runs record there (the engine then leaves its own defaults).
DEFAULT_AUG_P = 0.3
DEFAULT_REPEATED_AUG = 1

#: ``inter_loss`` and ``mapping`` of logit-only KD (no intermediate term). Not in the paper's
#: space, so random search never draws it; it is a fixed default practitioners use, which the
#: study and the held-out evaluation run beside the space's points.
LOGIT_ONLY = "none"

#: The separator of a text augmentation stack in its one-string form, e.g.
#: ``"ra>ca"`` = random augmentation first, then contextual.
STACK_SEP = ">"


@cache
def engine_names(field: str) -> tuple[str, ...]:
    """The names the engine's registry for config ``field`` knows, in its order: the one vocabulary of a
    point's components. Read on first use, because reading it loads the engine's components (and torch)."""
    from engine import component_names

    return tuple(component_names(every=True)[field])


def engine_inter_losses() -> tuple[str, ...]:
    """The intermediate losses the engine knows: the vocabulary of a point's ``inter_loss``."""
    return engine_names("inter_loss")


def mappings() -> tuple[str, ...]:
    """The layer mappings the engine knows (§3.3.1: ``skip``, ``last``, ``emd``, and any registered since)."""
    return engine_names("mapping")


def pred_losses() -> tuple[str, ...]:
    """The prediction losses the engine knows (§3.2: ``ce``, ``mse``, and any registered since)."""
    return engine_names("pred_loss")


@cache
def text_augmenters() -> tuple[str, ...]:
    """The engine's text operations: the paper's in the authors' order, then any other by name. The order
    of the predictor's position features and of the space's stacks (so a seed draws what it drew)."""
    from engine import augmenter_kinds

    text = {name for name, kind in augmenter_kinds().items() if kind == "text"}
    return (*(op for op in PAPER_TEXT_AUGMENTERS if op in text), *sorted(text - set(PAPER_TEXT_AUGMENTERS)))


def space_inter_losses() -> tuple[str, ...]:
    """The intermediate losses of the paper's space (Appendix H and ``ce``): the engine's, less :data:`NOT_IN_SPACE`."""
    return tuple(loss for loss in engine_inter_losses() if loss not in NOT_IN_SPACE)


def pipeline_label(inter_level: str, mapping: str, pred_loss: str, policy: str) -> str:
    """A pipeline as the study, the sweep and the CLI write it: ``mi-0.9 / skip / ce / ra>ca+mixup``."""
    return f"{inter_level} / {mapping} / {pred_loss} / {policy}"


def configuration_key(
    inter_loss: str, alpha: float | None, mapping: str, pred_loss: str, stack: str, mixup: bool, aug_p: float,
    repeated_aug: int,
) -> str:  # fmt: skip
    """One configuration as one line, the same wherever it is written (a point, a stored run, a report):
    its :func:`pipeline_label`, and where text augmentation acts, its knobs (``p`` = ``aug_p``, ``xN`` =
    ``repeated_aug`` copies when more than one): ``mse / skip / ce / ra p0.1 x4``."""
    label = pipeline_label(inter_level(inter_loss, alpha), mapping, pred_loss, policy_name(stack, mixup))
    if not stack:
        return label
    return f"{label} p{aug_p:g}" + (f" x{repeated_aug}" if repeated_aug != 1 else "")


def inter_level(loss: str, alpha: float | None) -> str:
    """The intermediate loss with α folded in (``"mi-0.9"``), the paper's Table 9 reading."""
    return f"mi-{alpha:g}" if loss == "mi" else loss


def policy_name(stack: str, mixup: bool) -> str:
    """An augmentation policy as one level: ``"ra>ca+mixup"``, ``"mixup"``, ``"none"``."""
    parts = ([stack] if stack else []) + ([MIXUP] if mixup else [])
    return "+".join(parts) or "none"


def _check_augment(augment: tuple[str, ...]) -> None:
    """The space's rules for a policy: known text operations, each once, mixup only last."""
    text = augment[:-1] if augment and augment[-1] == MIXUP else augment
    for name in text:
        if name not in text_augmenters():
            if name == MIXUP:
                raise AutodistillError(f"augmentation {'+'.join(augment)}: the Distiller space applies mixup last")
            raise choices_error("augmentation operation", name, (*text_augmenters(), MIXUP))
    if len(set(text)) != len(text):
        raise AutodistillError(f"augmentation operations repeat in {'+'.join(augment)}; use each once")


@dataclass(frozen=True, kw_only=True)
class Pipeline:
    """One Distiller pipeline: the DistillConfig fields of Eq. 1's configurable components."""

    mapping: str = "skip"
    inter_loss: str = "mi"
    alpha: float | None = 0.9
    pred_loss: str = "ce"
    augment: tuple[str, ...] = ()
    aug_p: float = DEFAULT_AUG_P
    repeated_aug: int = DEFAULT_REPEATED_AUG

    def __post_init__(self) -> None:
        if (self.inter_loss == LOGIT_ONLY) != (self.mapping == LOGIT_ONLY):
            raise AutodistillError("logit-only KD sets both inter_loss and mapping to 'none', or neither")
        if self.inter_loss != LOGIT_ONLY and self.inter_loss not in engine_inter_losses():
            raise choices_error("intermediate loss", self.inter_loss, (*engine_inter_losses(), LOGIT_ONLY))
        if self.inter_loss == "mi":
            if self.alpha is None or not 0.0 <= self.alpha <= 1.0:
                raise AutodistillError(f"MI-α needs an alpha in [0, 1], got {self.alpha!r}")
        elif self.alpha is not None:
            raise AutodistillError(
                f"alpha only applies to the 'mi' intermediate loss, not {self.inter_loss!r}; leave it None"
            )
        if self.mapping not in (*mappings(), LOGIT_ONLY):
            raise choices_error("layer mapping", self.mapping, (*mappings(), LOGIT_ONLY))
        if self.pred_loss not in pred_losses():
            raise choices_error("prediction loss", self.pred_loss, pred_losses())
        object.__setattr__(self, "augment", tuple(self.augment))
        _check_augment(self.augment)
        if not 0.0 < self.aug_p <= 1.0:
            raise AutodistillError(f"aug_p is a probability in (0, 1], got {self.aug_p!r}")
        if self.repeated_aug < 1:
            raise AutodistillError(f"repeated_aug counts augmented copies (>= 1), got {self.repeated_aug!r}")

    @property
    def mixup(self) -> bool:
        return bool(self.augment) and self.augment[-1] == MIXUP

    @property
    def text_augment(self) -> tuple[str, ...]:
        """The text operations of the policy, in order (mixup left out)."""
        return self.augment[:-1] if self.mixup else self.augment

    @property
    def stack(self) -> str:
        """The text augmentation stack as one string (``""`` when there is none)."""
        return STACK_SEP.join(self.text_augment)

    @property
    def logit_only(self) -> bool:
        return self.inter_loss == LOGIT_ONLY

    @property
    def inter_level(self) -> str:
        return inter_level(self.inter_loss, self.alpha)

    @property
    def policy(self) -> str:
        return policy_name(self.stack, self.mixup)

    @property
    def label(self) -> str:
        """The point as one line (:func:`pipeline_label`): ``mi-0.9 / skip / ce / ca+mixup``."""
        return pipeline_label(self.inter_level, self.mapping, self.pred_loss, self.policy)

    @property
    def name(self) -> str:
        """The point as advice names it to a user: ``logit KD`` (``logit KD + ra``) where it has no
        intermediate loss, its :attr:`label` otherwise."""
        if not self.logit_only:
            return self.label
        return "logit KD" + ("" if self.policy == "none" else f" + {self.policy}")

    @property
    def key(self) -> str:
        """The point as :func:`configuration_key` writes it: its label, plus the knobs of text augmentation."""
        return configuration_key(
            self.inter_loss, self.alpha, self.mapping, self.pred_loss, self.stack, self.mixup, self.aug_p,
            self.repeated_aug,
        )  # fmt: skip

    def positions(self) -> dict[str, int]:
        """Position of each text operation in the stack (0 = unused, 1 = first), as the authors record it."""
        text = self.text_augment
        return {name: text.index(name) + 1 if name in text else 0 for name in text_augmenters()}

    def engine_fields(self) -> dict[str, Any]:
        """The DistillConfig values this point sets: ``alpha`` for MI-α only, ``aug_p`` and
        ``repeated_aug`` only with text augmentation (elsewhere they act on nothing, and a run's
        config keeps the engine's defaults, so its run id does not depend on them)."""
        values: dict[str, Any] = {
            "mapping": None if self.logit_only else self.mapping,
            "inter_loss": None if self.logit_only else self.inter_loss,
            "pred_loss": self.pred_loss,
            "augment": list(self.augment),
        }
        if self.alpha is not None:
            values["alpha"] = self.alpha
        if self.text_augment:
            values["aug_p"] = self.aug_p
            values["repeated_aug"] = self.repeated_aug
        return values

    @classmethod
    def from_engine(cls, config: DistillConfig) -> Pipeline:
        """The point an engine config runs (logit-only KD included); a team run is refused in one line."""
        if config.team is not None:
            raise AutodistillError("a teacher-team run is not a point of the Distiller search space")
        text = [op for op in config.augment if op != MIXUP]
        return cls(
            mapping=config.mapping or LOGIT_ONLY,
            inter_loss=config.inter_loss or LOGIT_ONLY,
            alpha=config.alpha if config.inter_loss == "mi" else None,
            pred_loss=config.pred_loss,
            augment=tuple(config.augment),
            aug_p=config.aug_p if text else DEFAULT_AUG_P,
            repeated_aug=config.repeated_aug if text else DEFAULT_REPEATED_AUG,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :meth:`from_dict` reads back."""
        data = asdict(self)
        data["augment"] = list(self.augment)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pipeline:
        names = [f.name for f in fields(cls)]
        unknown = set(data) - set(names)
        if unknown:
            raise choices_error("pipeline field", sorted(unknown)[0], names)
        return cls(**{**data, "augment": tuple(data.get("augment", ()))})


def stack_from_positions(positions: Mapping[str, int]) -> tuple[str, ...]:
    """Order operations by their 1-based stack positions (0 = unused); positions must be 1..k."""
    used = sorted((pos, name) for name, pos in positions.items() if pos)
    if [pos for pos, _ in used] != list(range(1, len(used) + 1)):
        raise AutodistillError(f"augmentation positions {dict(positions)} are not a stack 1..k")
    return tuple(name for _, name in used)


def augment_of(stack: Sequence[str], mixup: bool) -> tuple[str, ...]:
    """A policy from its text stack and whether mixup follows it."""
    return (*stack, MIXUP) if mixup else tuple(stack)


def logit_kd(pred_loss: str) -> Pipeline:
    """Logit-only KD: the prediction loss alone, no intermediate term and no augmentation."""
    return Pipeline(mapping=LOGIT_ONLY, inter_loss=LOGIT_ONLY, alpha=None, pred_loss=pred_loss)
