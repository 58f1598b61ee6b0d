"""What a model file is told about the dataset it will be trained on.

``build_model(spec)`` receives a :class:`ModelSpec`. It describes one neural dataset's NeFs
(architecture, parameter layout) and the task (number of classes); it is built from the
manifest alone, with numpy only.

The batch a model's ``forward`` receives depends on the model file's ``INPUT``:

``"flat"``
    one float32 tensor ``(B, P)``: the parameter vectors in layout order.
``"layers"``
    a pair ``(weights, biases)``: tuples with one tensor per dense layer of the field's
    ``layers.*`` stack, ``weights[l]`` of shape ``(B, in_l, out_l)`` (kernel ``in_out``:
    ``y = x @ W + b``) and ``biases[l]`` of shape ``(B, out_l)``. Other tensors (RFFNet's
    Fourier embedding, MFN's filters) are not part of this view; use ``"graph"`` for them.
``"graph"``
    a pair ``(nodes, edges)``: ``(B, num_nodes, node_dim)`` and ``(B, num_edges, edge_dim)``
    float32 tensors over the topology ``spec.graph`` (an :class:`arena.graph.GraphSpec`,
    shared by every NeF of the dataset: ``spec.graph.edge_index`` is ``(2, E)``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

from arena.errors import ConfigError
from arena.layout import Layout

INPUTS = ("flat", "layers", "graph")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The dataset, as a downstream model sees it.

    Attributes:
        dataset: the neural dataset's name, e.g. ``"neural_mnist"``.
        arch: the NeF architecture, ``"siren"``, ``"rffnet"`` or ``"mfn"``.
        hparams: the NeF's hyperparameters as stored in the manifest.
        layout: the parameter layout (``spec.layout.entries``, ``spec.layout.num_params``).
        in_dim: coordinate dimension of the NeFs (2 for images, 3 for shapes).
        out_dim: signal channels (1 for grey images and occupancy, 3 for colour).
        num_classes: classes of the classification task.
    """

    dataset: str
    arch: str
    hparams: Mapping[str, Any]
    layout: Layout
    in_dim: int
    out_dim: int
    num_classes: int

    @classmethod
    def from_manifest(cls, manifest) -> ModelSpec:
        """Build the spec from an :class:`arena.format.Manifest` (or its JSON object)."""
        from arena.data import field_info

        data = manifest.data if hasattr(manifest, "data") else manifest
        field = field_info(data)
        return cls(
            dataset=data["name"],
            arch=field.arch,
            hparams=dict(field.hparams),
            layout=field.layout,
            in_dim=field.in_dim,
            out_dim=field.out_dim,
            num_classes=_num_classes(data),
        )

    @property
    def num_params(self) -> int:
        """P, the length of a parameter vector."""
        return self.layout.num_params

    @functools.cached_property
    def layer_shapes(self) -> tuple[tuple[int, int], ...]:
        """``(in, out)`` of each dense layer in the ``"layers"`` view, in order."""
        return tuple(self.layout.shape(w) for w, _ in dense_stack(self.layout))

    @functools.cached_property
    def graph(self):
        """The neural graph's topology (:class:`arena.graph.GraphSpec`), computed once."""
        from arena import graph

        return graph.graph_spec(self)

    def __hash__(self) -> int:
        return hash((self.dataset, self.arch, tuple(sorted(self.hparams.items())), self.layout.entries))


def _num_classes(data: Mapping[str, Any]) -> int:
    """``source.num_classes``, else the length of ``source.class_names`` (as :class:`Split` reads it)."""
    source = data.get("source") or {}
    if source.get("num_classes") is not None:
        return int(source["num_classes"])
    if source.get("class_names") is not None:
        return len(source["class_names"])
    raise ConfigError(
        f"Dataset '{data.get('name')}' gives neither source.num_classes nor source.class_names in "
        "its manifest, so the classification task is undefined; add one of them."
    )


def dense_stack(layout: Layout) -> list[tuple[str, str]]:
    """Names ``(weight, bias)`` of the ``layers.<l>`` dense stack, input side first."""
    pairs = [(f"layers.{l}.weight", f"layers.{l}.bias") for l in range(layout.depth("layers"))]
    if not pairs:
        raise ConfigError("Layout has no 'layers.0.weight': the 'layers' input needs a dense stack.")
    missing = [b for _, b in pairs if b not in layout.names]
    if missing:
        raise ConfigError(f"Layout has no '{missing[0]}' for its weight; the dense stack is incomplete.")
    return pairs
