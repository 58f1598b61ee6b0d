"""Neural graphs: what each node and edge means, exact round trips, and equivariance to the
hidden-neuron permutations of every architecture (one table drives the tests)."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from arena import fields, nef
from arena.errors import ConfigError
from arena.eval.spec import ModelSpec
from arena.graph import EDGE_TYPES, GraphSpec, graph_spec
from arena.layout import Layout

FIELDS = {
    "siren": fields.Siren(hidden=8, layers=3, omega0=9.0, sine="xla"),
    "siren2": fields.Siren(hidden=8, layers=2, omega0=9.0, in_dim=3, out_dim=2, sine="xla"),
    "rffnet": fields.RFFNet(hidden=8, layers=3, std=1.0, sine="xla"),
    "mfn": fields.MFN(hidden=8, filters=3, input_scale=4.0, sine="xla"),
}


def random_params(field, seed: int = 0, batch: int = 1) -> np.ndarray:
    """Flat parameters of ``batch`` NeFs: the field's own init with noise, so no bias is zero."""
    layout = field.layout()
    rows = []
    for key in jax.random.split(jax.random.key(seed), batch):
        k1, k2 = jax.random.split(key)
        tensors = {n: np.asarray(v) for n, v in field.init(k1).items()}
        noise = np.asarray(jax.random.normal(k2, (layout.num_params,)), np.float32)
        rows.append(layout.flatten(tensors) + 0.1 * noise)
    return np.stack(rows)


def spec_of(field, num_classes: int = 10) -> ModelSpec:
    return ModelSpec(field.arch, field.layout(), field.hparams(), field.in_dim, field.out_dim,
                     dataset="test", num_classes=num_classes)


def info(arch: str, layout) -> nef.FieldInfo:
    layout = layout if isinstance(layout, Layout) else Layout.from_json(layout)
    return nef.FieldInfo(arch, layout, {}, 2, 1)


def permute_hidden(field, flat: np.ndarray, rng: np.random.Generator):
    """Permute the hidden neurons of NeFs ``(B, P)`` in parameter space, written from each
    architecture's definition (independent of :mod:`arena.graph`).

    Returns the permuted parameters and ``{neuron layer: perm}``: neuron ``j`` of that layer in
    the result is neuron ``perm[j]`` of the original. Neuron layers are numbered as in the
    neural graph: 0 the inputs; RFFNet's layer 1 is its Fourier embedding (sines, then cosines,
    permuted in pairs since ``B[:, j]`` feeds both); MFN's layer ``l`` is ``z_l``.
    """
    layout = field.layout()
    t = {k: v.copy() for k, v in layout.unflatten(np.array(flat)).items()}
    perms = {}

    def hidden(layer, width, into=(), bias=(), out_of=()):
        p = rng.permutation(width)
        for name in into:  # tensors whose columns are this layer's neurons
            t[name] = t[name][..., p]
        for name in out_of:  # tensors whose rows are this layer's neurons
            t[name] = t[name][..., p, :]
        perms[layer] = p
        return p

    if field.arch == "siren":
        for l in range(1, field.layers):
            hidden(l, field.hidden, into=[f"layers.{l - 1}.weight", f"layers.{l - 1}.bias"],
                   out_of=[f"layers.{l}.weight"])
    elif field.arch == "rffnet":
        half = field.hidden // 2
        q = rng.permutation(half)
        t["embedding.weight"] = t["embedding.weight"][..., q]
        pair = np.concatenate([q, q + half])
        t["layers.0.weight"] = t["layers.0.weight"][..., pair, :]
        perms[1] = pair
        for l in range(2, field.layers + 1):
            hidden(l, field.hidden, into=[f"layers.{l - 2}.weight", f"layers.{l - 2}.bias"],
                   out_of=[f"layers.{l - 1}.weight"])
    else:
        for l in range(1, field.filters + 1):
            into = [f"filters.{l - 1}.weight", f"filters.{l - 1}.bias"]
            if l >= 2:
                into += [f"layers.{l - 2}.weight", f"layers.{l - 2}.bias"]
            hidden(l, field.hidden, into=into, out_of=[f"layers.{l - 1}.weight"])
    return layout.flatten(t), perms


def apply_field(field, flat: np.ndarray, coords: np.ndarray) -> np.ndarray:
    tensors = {k: jnp.asarray(v) for k, v in field.layout().unflatten(flat).items()}
    return np.asarray(field.apply(tensors, jnp.asarray(coords, jnp.float32)))


def run_graph(g: GraphSpec, field, nodes: np.ndarray, edges: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Evaluate one NeF from its neural graph alone, node by node, as the graph's docs describe it:
    a node sums its dense in-edges times their senders plus its bias, then applies its layer's
    activation; RFFNet's embedding nodes apply sin or cos to ``2 pi`` times their in-sum; MFN's
    nodes multiply by their filter ``sin(in-sum over filter edges + phase)``."""
    h = np.zeros((len(coords), g.num_nodes))
    h[:, g.node_kind == 0] = coords
    adjacency = np.zeros((g.num_nodes, g.num_nodes, g.edge_dim))
    adjacency[g.edge_index[0], g.edge_index[1]] = edges
    for layer in range(1, len(g.layer_sizes)):
        idx = np.flatnonzero(g.node_layer == layer)
        hidden = g.node_kind[idx[0]] == 1
        names = [g.position_names[p] for p in g.node_pos[idx]]
        dense = h @ adjacency[:, idx, 0] + nodes[idx, 0]
        if field.arch == "siren":
            h[:, idx] = np.sin(field.omega0 * dense) if hidden else dense
        elif field.arch == "rffnet":
            if layer == 1:
                sin = np.array([n == "embedding.sin" for n in names])
                h[:, idx] = np.where(sin, np.sin(2 * np.pi * dense), np.cos(2 * np.pi * dense))
            else:
                h[:, idx] = np.maximum(dense, 0) if hidden else dense
        else:
            filt = np.sin(h @ adjacency[:, idx, 1] + nodes[idx, 1])
            has_dense = (g.edge_type[np.isin(g.edge_index[1], idx)] == EDGE_TYPES.index("dense")).any()
            h[:, idx] = (dense * filt if has_dense else filt) if hidden else dense
    return h[:, g.node_kind == 2]


@pytest.mark.parametrize("name", FIELDS)
def test_graph_computes_the_same_function_as_the_field(name):
    field = FIELDS[name]
    g = graph_spec(spec_of(field))
    params = random_params(field)[0]
    nodes, edges = g.to_graph(params.astype(np.float64))
    coords = np.random.default_rng(0).uniform(-1, 1, (64, field.in_dim))
    np.testing.assert_allclose(run_graph(g, field, nodes, edges, coords), apply_field(field, params, coords),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", FIELDS)
def test_round_trip_is_bit_exact(name):
    field = FIELDS[name]
    g = graph_spec(spec_of(field))
    params = random_params(field, batch=5)
    for p in (params, params[0], params.reshape(5, 1, -1), params.astype(np.float64)):
        nodes, edges = g.to_graph(p)
        assert nodes.shape == (*p.shape[:-1], g.num_nodes, g.node_dim)
        assert edges.shape == (*p.shape[:-1], g.num_edges, g.edge_dim)
        back = g.from_graph(nodes, edges)
        assert back.dtype == p.dtype and np.array_equal(back, p)


@pytest.mark.parametrize("name", FIELDS)
def test_the_test_permutation_keeps_the_function(name):
    field = FIELDS[name]
    params = random_params(field)
    permuted, _ = permute_hidden(field, params, np.random.default_rng(1))
    coords = np.random.default_rng(0).uniform(-1, 1, (32, field.in_dim))
    assert not np.array_equal(permuted, params)
    np.testing.assert_allclose(apply_field(field, permuted[0], coords), apply_field(field, params[0], coords),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", FIELDS)
def test_permuting_hidden_neurons_permutes_nodes_and_edges_and_nothing_else(name):
    field = FIELDS[name]
    g = graph_spec(spec_of(field))
    params = random_params(field, batch=3)
    permuted, perms = permute_hidden(field, params, np.random.default_rng(2))
    nodes, edges = g.to_graph(params)
    new_nodes, new_edges = g.to_graph(permuted)

    source = np.arange(g.num_nodes)  # node n of the new graph is node source[n] of the old one
    for layer, perm in perms.items():
        idx = np.flatnonzero(g.node_layer == layer)
        assert (g.node_kind[idx] == 1).all()
        source[idx] = idx[perm]
    assert np.array_equal(new_nodes, nodes[:, source])
    # inputs and outputs stay where they are; positions and kinds are invariant
    assert (source[g.node_kind != 1] == np.flatnonzero(g.node_kind != 1)).all()
    assert np.array_equal(g.node_pos[source], g.node_pos)
    assert np.array_equal(g.node_kind[source], g.node_kind)

    lookup = np.full((g.num_nodes, g.num_nodes), -1)
    lookup[g.edge_index[0], g.edge_index[1]] = np.arange(g.num_edges)
    old = lookup[source[g.edge_index[0]], source[g.edge_index[1]]]
    assert (old >= 0).all() and len(np.unique(old)) == g.num_edges  # the edge set maps onto itself
    assert np.array_equal(new_edges, edges[:, old])
    assert np.array_equal(g.edge_type[old], g.edge_type)
    assert not np.array_equal(new_edges, edges)


@pytest.mark.parametrize("name", FIELDS)
def test_positions_tell_inputs_and_outputs_apart_but_not_hidden_neurons_of_a_layer(name):
    field = FIELDS[name]
    g = graph_spec(spec_of(field))
    ends = g.node_pos[g.node_kind != 1]
    assert len(np.unique(ends)) == len(ends) == field.in_dim + field.out_dim
    for layer in np.unique(g.node_layer[g.node_kind == 1]):
        ids = np.unique(g.node_pos[g.node_layer == layer])
        expected = 2 if (field.arch == "rffnet" and layer == 1) else 1
        assert len(ids) == expected and not set(ids) & set(ends)
    hidden_ids = [np.unique(g.node_pos[g.node_layer == layer]) for layer in np.unique(g.node_layer[g.node_kind == 1])]
    assert len(np.unique(np.concatenate(hidden_ids))) == sum(len(i) for i in hidden_ids)  # layers differ
    assert len(g.position_names) == g.num_positions == g.node_pos.max() + 1


def test_mfn_filters_are_edges_from_the_inputs_with_their_own_channel():
    field = FIELDS["mfn"]
    g = graph_spec(spec_of(field))
    filters = g.edge_type == EDGE_TYPES.index("filter")
    assert filters.sum() == field.filters * field.in_dim * field.hidden
    assert (g.node_kind[g.edge_index[0, filters]] == 0).all()
    assert (g.edge_param_index[filters, 0] == -1).all() and (g.edge_param_index[~filters, 1] == -1).all()
    assert g.node_channels == ("bias", "filter.bias") and g.edge_channels == ("weight", "filter.weight")


def test_graph_spec_accepts_a_field_info_or_a_layout_and_is_computed_once():
    field = FIELDS["siren"]
    manifest = {"field": {"arch": "siren", "hparams": field.hparams(), "layout": field.layout().to_json()}}
    from_spec = graph_spec(spec_of(field))
    assert graph_spec(nef.FieldInfo.from_manifest(manifest)) is from_spec
    assert graph_spec(field.layout()) is from_spec  # a bare layout: the architecture its names imply
    assert spec_of(field).graph is from_spec
    assert graph_spec(FIELDS["rffnet"].layout()).arch == "rffnet"
    with pytest.raises(ConfigError, match="Expected a FieldInfo"):
        graph_spec(("siren", field.hparams(), field.layout()))


def test_unknown_architecture_and_foreign_layouts_are_refused():
    siren = FIELDS["siren"]
    with pytest.raises(ConfigError, match="Unknown architecture 'kan'"):
        graph_spec(info("kan", siren.layout()))
    with pytest.raises(ConfigError, match="embedding.weight"):
        graph_spec(info("rffnet", siren.layout()))
    extra = siren.layout().to_json() + [["scale", [1]]]
    with pytest.raises(ConfigError, match="unexpected tensors \\['scale'\\]"):
        graph_spec(info("siren", extra))
    with pytest.raises(ConfigError, match="not one that a registered architecture"):
        graph_spec(Layout.from_json(extra))
    bad = siren.layout().to_json()
    bad[2] = ["layers.1.weight", [7, 8]]
    with pytest.raises(ConfigError, match="'layers.1.weight' has shape \\(7, 8\\), expected \\(8, 8\\)"):
        graph_spec(info("siren", bad))
    g = graph_spec(spec_of(siren))
    with pytest.raises(ConfigError, match=f"last dimension {g.num_params}"):
        g.to_graph(np.zeros((2, g.num_params + 1)))
    with pytest.raises(ConfigError, match="Expected nodes"):
        g.from_graph(np.zeros((2, g.num_nodes, 1)), np.zeros((3, g.num_edges, 1)))


def test_import_arena_graph_needs_numpy_only():
    code = "import sys, arena.graph; print(' '.join(m for m in ('torch', 'jax') if m in sys.modules) or 'none')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "none"


@pytest.mark.parametrize("name", ["siren", "rffnet", "mfn"])
def test_torch_batch_equals_the_numpy_graph_and_passes_gradients(name):
    torch = pytest.importorskip("torch")
    field = FIELDS[name]
    g = graph_spec(spec_of(field))
    params = random_params(field, batch=4)
    flat = torch.tensor(params, requires_grad=True)
    nodes, edges = g.batch(flat)
    expected = g.to_graph(params)
    assert np.array_equal(nodes.detach().numpy(), expected[0])
    assert np.array_equal(edges.detach().numpy(), expected[1])
    (nodes.sum() + edges.sum()).backward()
    counts = np.bincount(np.concatenate([g.node_index[g.node_index >= 0], g.edge_param_index[g.edge_param_index >= 0]]),
                         minlength=g.num_params)
    assert (flat.grad.numpy() == counts).all()  # one unit of gradient per use of a parameter
    with pytest.raises(ConfigError, match="Expected a batch of flat parameters"):
        g.batch(flat[0])


def test_to_pyg_gives_one_pyg_graph_per_nef():
    torch = pytest.importorskip("torch")
    pytest.importorskip("torch_geometric")
    field = FIELDS["mfn"]
    g = graph_spec(spec_of(field))
    nodes, edges = g.to_graph(random_params(field, batch=3))
    batch = g.to_pyg(nodes, edges)
    assert batch.num_graphs == 3 and batch.num_nodes == 3 * g.num_nodes
    for i, data in enumerate(batch.to_data_list()):
        assert torch.equal(data.x, torch.as_tensor(nodes[i]))
        assert torch.equal(data.edge_attr, torch.as_tensor(edges[i]))
        assert np.array_equal(data.edge_index.numpy(), g.edge_index)
        assert np.array_equal(data.node_pos.numpy(), g.node_pos)
    assert torch.equal(batch.batch, torch.arange(3).repeat_interleave(g.num_nodes))
