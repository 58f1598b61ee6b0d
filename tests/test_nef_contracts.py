"""One table, the architecture registry (arena.nef), drives the same contract tests over every
architecture: the built-in SIREN, RFFNet and MFN, and a fourth one that this test defines in
``tests/_arch_relu_pe.py`` alone and registers, to show that one module plus ``register`` is all
an architecture needs."""

from __future__ import annotations

import contextlib
import dataclasses

import _arch_relu_pe as relu_pe
import jax
import numpy as np
import pytest
from _nefdata import jax_apply, nef_params, write_dataset

import arena
from arena import fields, nef
from arena.data import PermuteHidden, permute_hidden, sign_flip
from arena.errors import ConfigError
from arena.eval.spec import ModelSpec
from arena.graph import HIDDEN, INPUT, OUTPUT, graph_spec
from arena.interop import fitanef_mapping, to_dws, to_nfn


@contextlib.contextmanager
def registered(arch: nef.Architecture):
    nef.register(arch)
    try:
        yield
    finally:
        nef.unregister(arch.name)


with registered(relu_pe.ARCH):
    ARCHS = nef.names()  # the registry, with this test's own fourth architecture in it


@pytest.fixture(autouse=True, scope="module")
def fourth_architecture():
    with registered(relu_pe.ARCH):
        yield


IN_DIM, OUT_DIM, N = 3, 2, 4
COORDS = np.random.default_rng(0).uniform(-1, 1, (64, IN_DIM)).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class Case:
    arch: nef.Architecture
    field: object  # the JAX field
    info: nef.FieldInfo
    params: np.ndarray  # (N, P) float32


@pytest.fixture(scope="module", params=ARCHS)
def case(request, fourth_architecture) -> Case:
    """A small NeF of each registered architecture, with 3 inputs and 2 outputs (so a swapped
    axis shows), and N random parameter rows without zeros."""
    field = fields.make(request.param, hidden=8, in_dim=IN_DIM, out_dim=OUT_DIM)
    info = nef.FieldInfo(request.param, field.layout(), field.hparams(), IN_DIM, OUT_DIM)
    return Case(nef.get(request.param), field, info, nef_params(field, N, seed=3))


def outputs(info: nef.FieldInfo, params: np.ndarray) -> np.ndarray:
    return np.stack([info.field(p)(COORDS) for p in params])


def test_registry_is_the_table_of_architectures():
    assert ARCHS[:3] == ("siren", "rffnet", "mfn") and "relu_pe" in ARCHS
    assert set(fields.ARCHITECTURES) == set(nef.names())
    with pytest.raises(ConfigError, match="registered already"):
        nef.register(nef.get("siren"))
    with pytest.raises(ConfigError, match="Unknown architecture 'kan'"):
        nef.get("kan")
    with pytest.raises(ConfigError, match="arena.nef.Architecture"):
        nef.register("kan")
    broken = dataclasses.replace(relu_pe.ARCH, name="broken", field="nowhere:Nothing")
    with registered(broken), pytest.raises(ConfigError, match="'nowhere:Nothing', which cannot be imported"):
        fields.make("broken")
    assert "broken" not in nef.names()


# Layout


def test_layout_is_the_jax_fields_and_init_follows_it(case):
    assert case.arch.layout(case.field.hparams(), IN_DIM, OUT_DIM) == case.field.layout()
    assert type(case.field) is fields.field_class(case.arch.name) is fields.ARCHITECTURES[case.arch.name]
    init = case.field.init(jax.random.key(0))
    assert [(k, tuple(v.shape)) for k, v in init.items()] == list(case.info.layout.entries)


def test_dims_are_read_back_from_the_layout(case):
    shapes = dict(case.info.layout.entries)
    assert case.arch.dims(shapes, case.info.hparams) == (IN_DIM, OUT_DIM)
    manifest = {"field": {"arch": case.arch.name, "hparams": dict(case.info.hparams),
                          "layout": case.info.layout.to_json()}}  # no in_dim / out_dim
    assert nef.FieldInfo.from_manifest(manifest) == case.info


# Forward pass


def test_numpy_forward_pass_equals_the_jax_field(case):
    expected = jax_apply(case.field, case.params, COORDS)
    got = outputs(case.info, case.params)
    assert got.shape == (N, len(COORDS), OUT_DIM) and got.dtype == np.float32
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, atol=1e-5 * scale, rtol=1e-5)


# Dense stack


def test_dense_stack_is_a_chain_of_kernels_that_round_trips(case):
    info, params = case.info, case.params
    weights, biases = nef.dense_layers(params, info)
    shapes = info.layer_shapes
    assert [w.shape for w in weights] == [(N, *s) for s in shapes]
    assert [b.shape for b in biases] == [(N, s[1]) for s in shapes]
    assert all(a[1] == b[0] for a, b in zip(shapes, shapes[1:])) and shapes[-1][1] == OUT_DIM
    tensors = info.layout.unflatten(params)
    stack = [name for pair in info.dense_stack for name in pair]
    emptied = {k: (np.zeros_like(v) if k in stack else v) for k, v in tensors.items()}
    back = info.layout.flatten({**emptied, **dict(zip(stack, [a for wb in zip(weights, biases) for a in wb]))})
    np.testing.assert_array_equal(back, params)
    dws_w, dws_b = to_dws(params, info)
    nfn_w, _ = to_nfn(params, info)
    for l, (w, b) in enumerate(zip(weights, biases)):
        np.testing.assert_array_equal(dws_w[l][..., 0], w)
        np.testing.assert_array_equal(dws_b[l][..., 0], b)
        np.testing.assert_array_equal(nfn_w[l][:, 0], np.swapaxes(w, 1, 2))


# Hidden-neuron symmetries


def random_perms(info: nef.FieldInfo, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.stack([rng.permutation(l.width) for _ in range(N)]) for l in info.hidden_layers]


def test_permuting_hidden_neurons_leaves_the_function_unchanged(case):
    info, params = case.info, case.params
    assert info.hidden_layers, "every architecture has hidden layers"
    permuted = permute_hidden(params, info, random_perms(info, 1))
    assert (permuted != params).mean() > 0.3
    np.testing.assert_allclose(outputs(info, permuted), outputs(info, params), atol=2e-5)
    np.testing.assert_allclose(jax_apply(case.field, permuted, COORDS), jax_apply(case.field, params, COORDS),
                               atol=2e-5)
    if case.arch.sign_symmetric:
        signs = [np.where(np.random.default_rng(2).random(p.shape) < 0.5, -1.0, 1.0) for p in random_perms(info, 2)]
        flipped = sign_flip(params, info, signs)
        assert (flipped != params).any()
        np.testing.assert_allclose(outputs(info, flipped), outputs(info, params), atol=2e-5)


# Neural graph


def test_graph_holds_every_parameter_once_and_in_layout_order(case):
    g = graph_spec(case.info)
    assert g.arch == case.arch.name and g.layout == case.info.layout
    nodes, edges = g.to_graph(case.params)
    np.testing.assert_array_equal(g.from_graph(nodes, edges), case.params)
    assert (g.node_kind == OUTPUT).sum() == OUT_DIM == g.layer_sizes[-1]
    assert (g.node_kind == INPUT).sum() == g.layer_sizes[0]
    assert (g.node_kind[g.node_layer == 0] == INPUT).all()
    senders, receivers = g.edge_index
    assert (g.node_layer[senders] < g.node_layer[receivers]).all()
    used = np.concatenate([g.node_index[g.node_index >= 0], g.edge_param_index[g.edge_param_index >= 0]])
    assert set(used.tolist()) == set(range(g.num_params))


def test_permuting_hidden_neurons_permutes_graph_nodes_within_their_layer(case):
    info, params = case.info, case.params[:1]
    g = graph_spec(info)
    neuron = {}  # flat index of a hidden layer's bias entry -> (hidden layer, neuron)
    for k, layer in enumerate(info.hidden_layers):
        for name, axis in layer.members:
            if len(info.layout.shape(name)) == 1:
                for j, p in enumerate(range(info.layout.slice(name).start, info.layout.slice(name).stop)):
                    neuron[p] = (k, j)
    node_of = {}
    for n in np.flatnonzero(g.node_kind == HIDDEN):
        owners = {neuron[p] for p in g.node_index[n] if p in neuron}
        assert len(owners) <= 1
        if owners:
            node_of[owners.pop()] = n
    assert len(node_of) == sum(l.width for l in info.hidden_layers)  # each neuron is one node

    perms = [p[0] for p in random_perms(info, 4)]
    nodes, edges = g.to_graph(params)
    new_nodes, new_edges = g.to_graph(permute_hidden(params, info, perms))
    source = np.arange(g.num_nodes)  # node n of the new graph is node source[n] of the old one
    for (k, j), n in node_of.items():
        source[n] = node_of[(k, perms[k][j])]
    assert (g.node_layer[source] == g.node_layer).all() and (source != np.arange(g.num_nodes)).any()
    np.testing.assert_array_equal(new_nodes, nodes[:, source])
    lookup = np.full((g.num_nodes, g.num_nodes), -1)
    lookup[g.edge_index[0], g.edge_index[1]] = np.arange(g.num_edges)
    old = lookup[source[g.edge_index[0]], source[g.edge_index[1]]]
    assert (old >= 0).all()
    np.testing.assert_array_equal(new_edges, edges[:, old])


# A bare layout


def test_a_bare_layout_gives_the_same_structure(case):
    alone = nef.FieldInfo.from_layout(case.info.layout)
    assert alone.arch is None
    assert alone.hidden_layers == case.info.hidden_layers
    assert alone.dense_stack == case.info.dense_stack
    g, h = graph_spec(case.info), graph_spec(case.info.layout)
    for name in ("layer_sizes", "edge_index", "node_index", "edge_param_index", "node_pos"):
        np.testing.assert_array_equal(getattr(h, name), getattr(g, name))
    with pytest.raises(ConfigError, match="only a Layout was given"):
        alone.field(case.params[0])


# fit-a-nef names


def test_foreign_names_round_trip_through_the_fitanef_import(case):
    info, params, foreign = case.info, case.params, case.arch.foreign
    names = foreign.names(info.layout)
    assert set(names) == set(info.layout.names) and len(set(names.values())) == len(names)
    theirs_names = list(names.values())
    assert foreign.claims(theirs_names)
    others = [a for a in map(nef.get, nef.names()) if a is not case.arch and a.foreign is not None]
    assert not any(a.foreign.claims(theirs_names) for a in others)
    # rows as fit-a-nef stores them: its names, its order (shuffled here), its scale
    order = [info.layout.names[i] for i in np.random.default_rng(5).permutation(len(info.layout))]
    config = [[names[a], list(info.layout.shape(a))] for a in order]
    rows = np.concatenate([params[:, info.layout.slice(a)] / np.float32(foreign.scale(a, info.hparams))
                           for a in order], axis=1)
    layout, columns, scale = fitanef_mapping(case.arch.name, config, info.hparams)
    assert layout == info.layout
    np.testing.assert_allclose(rows[:, columns] * scale, params, rtol=1e-6)
    unscaled = scale == 1
    np.testing.assert_array_equal(rows[:, columns][:, unscaled], params[:, unscaled])
    with pytest.raises(ConfigError, match="no place"):
        fitanef_mapping(case.arch.name, config + [["extra.kernel", [1]]], info.hparams)


# Everything else reads the registry


def test_a_dataset_of_the_architecture_loads_transforms_and_evaluates(case, tmp_path):
    info, params = case.info, case.params
    root = write_dataset(tmp_path / "d", {"train": [params]}, arch=case.arch.name,
                         hparams=dict(info.hparams), in_dim=IN_DIM, out_dim=OUT_DIM, layout=info.layout)
    split = arena.load(root, split="train")
    assert split.field_info == info
    np.testing.assert_array_equal(split.field(1)(COORDS), info.field(params[1])(COORDS))
    assert [tuple(w.shape) for w, _ in split.layers(0)] == list(info.layer_shapes)
    permuted = PermuteHidden(split.info)(params, np.random.default_rng(0))
    np.testing.assert_allclose(outputs(info, permuted), outputs(info, params), atol=2e-5)
    spec = ModelSpec.from_manifest(split.info)
    assert spec.arch == case.arch.name and spec.num_classes == 3 and spec.graph is graph_spec(info)
