"""Evaluation protocol v1: the fixed rules and the bounds a model file may move its settings in.

The rules (docs/design.md §6):

- train on ``train`` only; evaluate ``val`` after every epoch; keep the checkpoint with the best
  val accuracy (the earliest on ties); report ``test`` accuracy once, at that checkpoint;
- seeds ``0 .. S-1``; seed ``s`` alone sets the model's initialisation (``torch.manual_seed``),
  the order of training examples and the augmentation draws, so a run is reproducible;
- AdamW, cross-entropy loss, batches of ``batch_size`` in a fresh shuffled order each epoch (the
  last, smaller batch is kept); the learning rate is constant unless the model file declares a
  recipe: a linear warmup (``warmup_steps`` or ``warmup_epochs``), a ``"cosine"`` decay to zero
  over the remaining steps, gradient-norm clipping (``clip_grad_norm``) and AMSGrad (``amsgrad``),
  each bounded below and recorded in the result document;
- inputs are normalised per layer with the dataset's *train* statistics (``stats.params`` of the
  manifest) unless the model file turns it off; augmentation is opt-in per model file;
- report the mean and the sample standard deviation (``ddof = 1``) of test accuracy over seeds.

Test labels never influence training or selection: the harness reads the test split from disk
only after a seed's training and selection are over, to score the selected checkpoint, and lets
it go right after. A model file is trusted code all the same: it can read any file itself.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from arena.errors import ConfigError

VERSION = 1
AUGMENTATIONS = ("permute", "signflip", "noise", "dropout")
SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class Settings:
    """The settings of one evaluation run: harness defaults, then model ``HPARAMS``, then CLI.

    Attributes:
        epochs: passes over ``train`` (1 to 1000).
        batch_size: training batch size (1 to 8192).
        lr: AdamW learning rate (0 < lr <= 1).
        weight_decay: AdamW decoupled weight decay (0 to 1).
        normalize: normalise inputs per layer with the train statistics.
        augment: augmentations applied to training batches, from :data:`AUGMENTATIONS`.
        noise_std: standard deviation of ``"noise"`` (0 to 1).
        dropout: probability of ``"dropout"`` (0 to 0.9).
        warmup_steps: linear warmup of the learning rate from ``lr / warmup_steps`` to ``lr`` over
            this many optimizer steps (0 to 1,000,000; 0: none).
        warmup_epochs: the same, counted in epochs (0 to 1000); at most one of the two is set.
        schedule: ``"constant"`` after the warmup, or ``"cosine"``: half a cosine from ``lr`` to 0
            over the steps left after the warmup.
        clip_grad_norm: clip the global gradient norm to this value before each step (0 to 1e6;
            0: no clipping).
        amsgrad: use AdamW's AMSGrad variant.
        micro_batch_size: run the forward and backward passes of each batch in chunks of at most
            this many examples and sum their gradients before the one optimizer step: the same
            update (to float rounding; dropout draws differ) in a fraction of the activation
            memory, except for BatchNorm layers, which normalise each chunk by its own
            statistics (0 to 8192; 0: the whole batch at once, and not recorded, so documents
            from before this setting read the same).
        compile: run the model through ``torch.compile`` (Inductor) for training and evaluation:
            the same function in fused kernels (float rounding differs; the first steps of each
            batch shape pay the compilation). False is not recorded.
    """

    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 5e-4
    normalize: bool = True
    augment: tuple[str, ...] = ()
    noise_std: float = 0.01
    dropout: float = 0.05
    warmup_steps: int = 0
    warmup_epochs: int = 0
    schedule: str = "constant"
    clip_grad_norm: float = 0.0
    amsgrad: bool = False
    micro_batch_size: int = 0
    compile: bool = False

    def __post_init__(self) -> None:
        _check_int("epochs", self.epochs, 1, 1000)
        _check_int("batch_size", self.batch_size, 1, 8192)
        _check_float("lr", self.lr, 0.0, 1.0, low_open=True)
        _check_float("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_float("noise_std", self.noise_std, 0.0, 1.0)
        _check_float("dropout", self.dropout, 0.0, 0.9)
        _check_int("warmup_steps", self.warmup_steps, 0, 1_000_000)
        _check_int("warmup_epochs", self.warmup_epochs, 0, 1000)
        if self.warmup_steps and self.warmup_epochs:
            raise ConfigError("Set warmup_steps or warmup_epochs, not both "
                              f"(got {self.warmup_steps} and {self.warmup_epochs}).")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {list(SCHEDULES)}, not {self.schedule!r}.")
        _check_float("clip_grad_norm", self.clip_grad_norm, 0.0, 1e6)
        _check_int("micro_batch_size", self.micro_batch_size, 0, 8192)
        for name in ("normalize", "amsgrad", "compile"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"HPARAMS[{name!r}] must be True or False, not {getattr(self, name)!r}.")
        augment = (self.augment,) if isinstance(self.augment, str) else tuple(self.augment)
        unknown = [a for a in augment if a not in AUGMENTATIONS]
        if unknown:
            raise ConfigError(
                f"Unknown augmentation {unknown[0]!r} in HPARAMS['augment']; "
                f"choose from {list(AUGMENTATIONS)}."
            )
        object.__setattr__(self, "augment", augment)

    @classmethod
    def resolve(cls, hparams: Mapping[str, Any] | None = None, **overrides) -> Settings:
        """Defaults, updated by a model file's ``HPARAMS``, then by non-None ``overrides``."""
        values: dict[str, Any] = {}
        known = {f.name for f in dataclasses.fields(cls)}
        for key, value in dict(hparams or {}).items():
            if key not in known:
                raise ConfigError(
                    f"Unknown key {key!r} in HPARAMS; the protocol allows {sorted(known)}."
                )
            values[key] = value
        cls(**values)  # the model file's own settings must be within bounds, overridden or not
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["augment"] = list(self.augment)
        if not self.micro_batch_size:
            del out["micro_batch_size"]
        if not self.compile:
            del out["compile"]
        return out

    @classmethod
    def from_json(cls, recorded: Mapping[str, Any]) -> Settings:
        """The settings a result document recorded; keys it predates take their defaults."""
        return cls(**dict(recorded))

    def warmup_length(self, steps_per_epoch: int) -> int:
        """The warmup in optimizer steps."""
        return self.warmup_steps or self.warmup_epochs * steps_per_epoch

    def lr_factor(self, step: int, total_steps: int, steps_per_epoch: int) -> float:
        """The multiplier of ``lr`` for optimizer step ``step`` (0-based) of ``total_steps``."""
        warmup = self.warmup_length(steps_per_epoch)
        if step < warmup:
            return (step + 1) / warmup
        if self.schedule == "cosine":
            span = max(total_steps - warmup, 1)
            return 0.5 * (1.0 + math.cos(math.pi * min(step - warmup, span) / span))
        return 1.0


def parse_augment(text: str) -> tuple[str, ...]:
    """``"permute,noise"`` -> ``("permute", "noise")``; ``"none"`` or ``""`` -> no augmentation.

    Raises:
        ConfigError: a name that is not in :data:`AUGMENTATIONS`.
    """
    names = tuple(part.strip() for part in text.split(","))
    if names in (("",), ("none",)):
        return ()
    if "" in names:
        raise ConfigError(f"--augment {text!r} has an empty name between commas; give names such as "
                          "permute,noise (or none).")
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(f"Unknown augmentation {unknown[0]!r} in --augment {text!r}; choose from "
                          f"{', '.join(AUGMENTATIONS)} (comma-separated), or none.")
    return names


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer from {low} to {high}, not {value!r}.")


def _check_float(name: str, value: Any, low: float, high: float, *, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (low < value if low_open else low <= value) and value <= high
    if not ok:
        bound = f"in ({low}, {high}]" if low_open else f"from {low} to {high}"
        raise ConfigError(f"{name} must be a number {bound}, not {value!r}.")
