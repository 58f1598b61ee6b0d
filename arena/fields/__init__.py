"""Neural field architectures: SIREN, RFFNet and MFN, each written for one signal.

Every architecture is a frozen dataclass of typed hyperparameters with ``layout()``,
``init(key)``, ``apply(params, coords)`` and ``hparams()``; it is hashable, so it can be passed
to ``jax.jit`` as a static argument. :data:`ARCHITECTURES` is the one table that the builders,
the loaders and the contract tests read.

Example:
    >>> import jax
    >>> from arena import fields
    >>> field = fields.Siren(hidden=32, layers=3, omega0=9.0)
    >>> params = field.init(jax.random.key(0))
    >>> field.apply(params, jax.numpy.zeros((5, 2))).shape
    (5, 1)
"""

from arena.errors import require

require("jax", "build", "arena.fields")

from arena.fields._base import Field, Params  # noqa: E402
from arena.fields._sine import cos, sin  # noqa: E402
from arena.fields.mfn import MFN  # noqa: E402
from arena.fields.rffnet import RFFNet  # noqa: E402
from arena.fields.siren import Siren  # noqa: E402
from arena.layout import Layout  # noqa: E402

ARCHITECTURES: dict[str, type] = {"siren": Siren, "rffnet": RFFNet, "mfn": MFN}


def make(arch: str, **hparams) -> Field:
    """Build a field from its architecture name and hyperparameters (as stored in a manifest)."""
    from arena.errors import ConfigError

    try:
        cls = ARCHITECTURES[arch]
    except KeyError:
        raise ConfigError(
            f"Unknown architecture '{arch}'; choose one of {sorted(ARCHITECTURES)}."
        ) from None
    try:
        return cls(**hparams)
    except TypeError as exc:
        raise ConfigError(f"Bad hyperparameters for '{arch}': {exc}.") from None


__all__ = ["ARCHITECTURES", "Field", "Layout", "MFN", "Params", "RFFNet", "Siren", "cos", "make", "sin"]
