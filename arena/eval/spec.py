"""What a model file is told about the dataset it will be trained on.

``build_model(spec)`` receives a :class:`ModelSpec`. It describes one neural dataset's NeFs
(architecture, parameter layout) and the task (number of classes); it is built from the
manifest alone, with numpy only.

The batch a model's ``forward`` receives depends on the model file's ``INPUT``:

``"flat"``
    one float32 tensor ``(B, P)``: the parameter vectors in layout order.
``"layers"``
    a pair ``(weights, biases)``: tuples with one tensor per layer of the NeF's dense stack
    (``spec.dense_stack``, which its architecture module in :mod:`arena.nef` defines: the
    ``layers.*`` tensors), ``weights[l]`` of shape ``(B, in_l, out_l)`` (kernel ``in_out``:
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

from arena import format as fmt
from arena.errors import ConfigError
from arena.nef import FieldInfo, dense_stack

INPUTS = ("flat", "layers", "graph")


@dataclasses.dataclass(frozen=True)
class ModelSpec(FieldInfo):
    """The dataset, as a downstream model sees it: its NeFs (a :class:`arena.nef.FieldInfo`)
    and the classification task.

    Attributes:
        arch: the NeF architecture, ``"siren"``, ``"rffnet"`` or ``"mfn"``.
        layout: the parameter layout (``spec.layout.entries``, ``spec.layout.num_params``).
        hparams: the NeF's hyperparameters as stored in the manifest.
        in_dim: coordinate dimension of the NeFs (2 for images, 3 for shapes).
        out_dim: signal channels (1 for grey images and occupancy, 3 for colour).
        dataset: the neural dataset's name, e.g. ``"neural_mnist"``.
        num_classes: classes of the classification task.

    Everything :class:`arena.nef.FieldInfo` offers applies (``num_params``, ``layer_shapes``:
    ``(in, out)`` of each layer of the ``"layers"`` view, ``dense_stack``, ``hidden_layers``),
    and :attr:`graph`.
    """

    dataset: str
    num_classes: int

    @classmethod
    def from_manifest(cls, manifest: fmt.Manifest | Mapping[str, Any]) -> ModelSpec:
        """Build the spec from an :class:`arena.format.Manifest` (or its JSON object)."""
        field = FieldInfo.from_manifest(manifest)
        return cls(field.arch, field.layout, field.hparams, field.in_dim, field.out_dim,
                   dataset=manifest["name"], num_classes=_num_classes(manifest))

    @functools.cached_property
    def graph(self):
        """The neural graph's topology (:class:`arena.graph.GraphSpec`), computed once."""
        from arena import graph

        return graph.graph_spec(self)

    __hash__ = FieldInfo.__hash__


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


__all__ = ["INPUTS", "ModelSpec", "dense_stack"]
