"""Neural field architectures in JAX: SIREN, RFFNet and MFN, each written for one signal.

Every field is a frozen dataclass of typed hyperparameters with ``layout()``,
``init(key)``, ``apply(params, coords)`` and ``hparams()``; it is hashable, so it can be passed
to ``jax.jit`` as a static argument. A field is the JAX part of an architecture: its layout and
everything else the Arena knows about it live in its module of :mod:`arena.nef`, whose registry
names the field class (``Architecture.field``). :data:`ARCHITECTURES` is that registry seen from
here, ``{name: field class}``.

Example:
    >>> import jax
    >>> from arena import fields
    >>> field = fields.Siren(hidden=32, layers=3, omega0=9.0)
    >>> params = field.init(jax.random.key(0))
    >>> field.apply(params, jax.numpy.zeros((5, 2))).shape
    (5, 1)
"""

import importlib
from collections.abc import Iterator, Mapping

from arena.errors import ConfigError, require

require("jax", "build", "arena.fields")

from arena import nef  # noqa: E402
from arena.fields._base import Field, Params  # noqa: E402
from arena.fields._sine import cos, sin  # noqa: E402
from arena.fields.mfn import MFN  # noqa: E402
from arena.fields.rffnet import RFFNet  # noqa: E402
from arena.fields.siren import Siren  # noqa: E402
from arena.layout import Layout  # noqa: E402


class _Architectures(Mapping):
    """``{architecture name: field class}`` over the :mod:`arena.nef` registry, as it is now."""

    def __getitem__(self, arch: str) -> type:
        if arch not in nef.names():
            raise KeyError(arch)
        return field_class(arch)

    def __iter__(self) -> Iterator[str]:
        return iter(nef.names())

    def __len__(self) -> int:
        return len(nef.names())

    def __repr__(self) -> str:
        return repr(dict(self))


ARCHITECTURES: Mapping[str, type] = _Architectures()


def field_class(arch: str) -> type:
    """The JAX field class of architecture ``arch``, imported from where its
    :class:`arena.nef.Architecture` says it is (``"module:Class"``)."""
    where = nef.get(arch).field
    module, _, name = where.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"Architecture '{arch}' names its JAX field {where!r}, which cannot be imported ({exc})."
        ) from None


def make(arch: str, **hparams) -> Field:
    """Build a field from its architecture name and hyperparameters (as stored in a manifest)."""
    cls = field_class(arch)
    try:
        return cls(**hparams)
    except TypeError as exc:
        raise ConfigError(f"Bad hyperparameters for '{arch}': {exc}.") from None


__all__ = ["ARCHITECTURES", "Field", "Layout", "MFN", "Params", "RFFNet", "Siren", "cos", "field_class",
           "make", "sin"]
