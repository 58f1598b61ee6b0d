"""The graph baselines' dense message passing computes the same function as their edge-list one.

Both implementations get the same parameters (one state dict) and the same NeFs; logits and the
gradients with respect to the model's parameters and to the NeF parameters must agree:

- in float64 to 1e-10 of each tensor's largest entry, which only holds if the two are the same
  algebra (a wrong sign, direction or reduction shows up at order 1);
- in float32, the precision they train in, to 2e-5 of each tensor's largest entry (about 170
  units of float32 rounding: sums of hundreds of terms in a different order over 4 layers).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_graph import FIELDS, random_params, spec_of

from arena.baselines import gnn, transformer
from arena.errors import ConfigError
from arena.graph import graph_spec

MODELS = {"gnn": gnn.NeuralGraphGNN, "transformer": transformer.RelationalTransformer}
TOLERANCE = {torch.float64: 1e-10, torch.float32: 2e-5}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pair(model: str, field: str, dtype=torch.float32):
    """The edge-list and the dense implementation of ``model`` with the same parameters, in eval mode."""
    graph = spec_of(FIELDS[field]).graph
    torch.manual_seed(0)
    edge_list = MODELS[model](graph, 10, message_passing="edge_list")
    dense = MODELS[model](graph, 10, message_passing="dense")
    dense.load_state_dict(edge_list.state_dict())
    return graph, edge_list.to(dtype).eval(), dense.to(dtype).eval()


def outputs_and_gradients(net, graph, flat: torch.Tensor):
    """Logits, the gradient w.r.t. the NeF parameters and w.r.t. every model parameter."""
    flat = flat.clone().requires_grad_()
    logits = net(graph.batch(flat))
    weights = torch.linspace(-1, 1, logits.numel(), dtype=logits.dtype).view_as(logits)
    (weights * logits).sum().backward()  # a loss that weighs every logit differently
    grads = {name: p.grad for name, p in net.named_parameters()}
    return logits.detach(), flat.grad, grads


def assert_agree(actual, expected, tolerance: float, what: str) -> None:
    scale = expected.abs().max().item()
    assert scale > 0, f"{what} is identically zero: nothing is compared"
    error = (actual - expected).abs().max().item()
    assert error <= tolerance * scale, f"{what}: max difference {error:.3g} > {tolerance:g} x {scale:.3g}"


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("field", list(FIELDS))
@pytest.mark.parametrize("model", list(MODELS))
def test_dense_and_edge_list_give_the_same_logits_and_gradients(model, field, dtype):
    graph, edge_list, dense = pair(model, field, dtype)
    assert not edge_list.dense and dense.dense
    flat = torch.as_tensor(random_params(FIELDS[field], batch=5), dtype=dtype)
    ref_logits, ref_input, ref_params = outputs_and_gradients(edge_list, graph, flat)
    logits, input_grad, params = outputs_and_gradients(dense, graph, flat)
    tolerance = TOLERANCE[dtype]
    assert_agree(logits, ref_logits, tolerance, "logits")
    assert_agree(input_grad, ref_input, tolerance, "gradient w.r.t. the NeF parameters")
    assert params.keys() == ref_params.keys()
    for name, grad in params.items():
        assert_agree(grad, ref_params[name], tolerance, f"gradient w.r.t. {name}")


def duplicate_first_hidden_neuron(flat: np.ndarray) -> np.ndarray:
    """SIREN NeFs whose hidden neuron 1 of layer 1 is a copy of neuron 0 (same in, bias and out weights)."""
    layout = FIELDS["siren"].layout()
    t = layout.unflatten(flat.copy())
    t["layers.0.weight"][..., 1] = t["layers.0.weight"][..., 0]
    t["layers.0.bias"][..., 1] = t["layers.0.bias"][..., 0]
    t["layers.1.weight"][..., 1, :] = t["layers.1.weight"][..., 0, :]
    return layout.flatten(t)


def test_gnn_splits_the_gradient_of_a_tied_max_like_the_edge_list():
    # two identical neurons send identical messages: the max and min over senders are tied
    graph, edge_list, dense = pair("gnn", "siren", torch.float64)
    flat = torch.as_tensor(duplicate_first_hidden_neuron(random_params(FIELDS["siren"], batch=3)), dtype=torch.float64)
    _, ref_input, ref_params = outputs_and_gradients(edge_list, graph, flat)
    _, input_grad, params = outputs_and_gradients(dense, graph, flat)
    assert_agree(input_grad, ref_input, TOLERANCE[torch.float64], "gradient w.r.t. the NeF parameters")
    for name, grad in params.items():
        assert_agree(grad, ref_params[name], TOLERANCE[torch.float64], f"gradient w.r.t. {name}")


@pytest.mark.parametrize("field", list(FIELDS))
def test_every_architecture_graph_is_complete_blocks_between_layers(field):
    graph = graph_spec(spec_of(FIELDS[field]))
    blocks = graph.edge_blocks()
    assert blocks is not None
    starts = np.cumsum((0, *graph.layer_sizes))
    seen = np.concatenate([b.edges.ravel() for b in blocks])
    assert np.array_equal(np.sort(seen), np.arange(graph.num_edges))  # every edge in one block, once
    for b in blocks:
        m, n = graph.layer_sizes[b.src], graph.layer_sizes[b.dst]
        assert b.edges.shape == (m, n)
        senders, receivers = graph.edge_index[:, b.edges]
        assert np.array_equal(senders, np.broadcast_to(starts[b.src] + np.arange(m)[:, None], (m, n)))
        assert np.array_equal(receivers, np.broadcast_to(starts[b.dst] + np.arange(n)[None, :], (m, n)))


def test_rffnet_fourier_layer_is_one_block_and_mfn_filters_are_blocks_from_the_inputs():
    rff = graph_spec(spec_of(FIELDS["rffnet"])).edge_blocks()
    assert [(b.src, b.dst) for b in rff] == [(0, 1), (1, 2), (2, 3), (3, 4)]
    mfn = FIELDS["mfn"]
    pairs = [(b.src, b.dst) for b in graph_spec(spec_of(mfn)).edge_blocks()]
    assert sorted(pairs) == sorted([(0, l) for l in range(1, mfn.filters + 1)]
                                   + [(l, l + 1) for l in range(1, mfn.filters + 1)])


def without_edge(graph, edge: int):
    keep = np.arange(graph.num_edges) != edge
    return dataclasses.replace(graph, edge_index=graph.edge_index[:, keep], edge_type=graph.edge_type[keep],
                               edge_param_index=graph.edge_param_index[keep], _torch_index={})


def test_a_graph_with_a_partial_or_repeated_block_has_no_edge_blocks():
    graph = graph_spec(spec_of(FIELDS["siren"]))
    assert without_edge(graph, 20).edge_blocks() is None
    rolled = np.roll(graph.edge_index, 1, axis=1)
    assert dataclasses.replace(graph, edge_index=rolled).edge_blocks() is not None  # the order is free
    doubled = graph.edge_index.copy()
    doubled[:, 1] = doubled[:, 0]  # edge 0 twice, edge 1 missing
    assert dataclasses.replace(graph, edge_index=doubled).edge_blocks() is None


@pytest.mark.parametrize("model", list(MODELS))
def test_auto_is_dense_on_layered_graphs_and_edge_list_otherwise(model):
    graph = graph_spec(spec_of(FIELDS["siren"]))
    assert MODELS[model](graph, 10).dense
    partial = without_edge(graph, 20)
    net = MODELS[model](partial, 10)
    assert not net.dense
    nodes, edges = partial.batch(torch.as_tensor(random_params(FIELDS["siren"], batch=2), dtype=torch.float32))
    assert net(((nodes, edges))).shape == (2, 10)
    with pytest.raises(ConfigError, match="not complete blocks.*message_passing='edge_list'"):
        MODELS[model](partial, 10, message_passing="dense")
    with pytest.raises(ConfigError, match="unknown message_passing 'sparse'; choose one of"):
        MODELS[model](graph, 10, message_passing="sparse")
