"""One table of reference baselines drives the same model-file contract tests over all of them."""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_graph import FIELDS, permute_hidden, random_params, spec_of

from arena.errors import ArenaError
from arena.eval.harness import _input_fn
from arena.eval.protocol import Settings

ALL = tuple(FIELDS)  # siren (3 layers), siren2 (2 layers, 3 inputs, 2 outputs), rffnet, mfn
SIREN = ("siren", "siren2")


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A row of the table.

    Attributes:
        name: the module in :mod:`arena.baselines`.
        fields: the entries of ``FIELDS`` its ``build_model`` supports; for the others it must
            raise an :class:`ArenaError`.
        invariant: its output does not change when the hidden neurons of the input NeF are
            permuted.
    """

    name: str
    fields: tuple[str, ...]
    invariant: bool = True


BASELINES = [
    Baseline("gnn", ALL),
    Baseline("dws", SIREN),
    Baseline("transformer", ALL),
    Baseline("mlp", ALL, invariant=False),
]
SUPPORTED = [pytest.param(b, f, id=f"{b.name}-{f}") for b in BASELINES for f in b.fields]
UNSUPPORTED = [pytest.param(b, f, id=f"{b.name}-{f}") for b in BASELINES for f in ALL if f not in b.fields]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one thread avoids the cost of thread hand-offs on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def build(baseline: Baseline, field_name: str, seed: int = 0):
    module = importlib.import_module(f"arena.baselines.{baseline.name}")
    spec = spec_of(FIELDS[field_name])
    torch.manual_seed(seed)
    return module, spec, module.build_model(spec)


def logits(module, spec, model, flat: np.ndarray):
    """The model's output on flat parameters, batched the way the harness batches them."""
    return model(_input_fn(module.INPUT, spec)(torch.as_tensor(flat, dtype=torch.float32)))


@pytest.mark.parametrize("baseline", BASELINES, ids=lambda b: b.name)
def test_model_file_contract_is_declared(baseline):
    module = importlib.import_module(f"arena.baselines.{baseline.name}")
    assert module.INPUT in ("flat", "layers", "graph")
    Settings.resolve(module.HPARAMS)  # known keys, within the protocol's bounds


@pytest.mark.parametrize(("baseline", "field"), SUPPORTED)
def test_output_is_finite_logits_of_shape_batch_by_classes(baseline, field):
    module, spec, model = build(baseline, field)
    flat = random_params(FIELDS[field], batch=5)
    for mode in (model.train, model.eval):
        mode()
        out = logits(module, spec, model, flat)
        assert out.shape == (5, spec.num_classes)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize(("baseline", "field"), SUPPORTED)
def test_gradient_reaches_every_parameter(baseline, field):
    module, spec, model = build(baseline, field)
    model.train()
    flat = random_params(FIELDS[field], batch=6)
    loss = torch.nn.functional.cross_entropy(logits(module, spec, model, flat), torch.arange(6) % spec.num_classes)
    loss.backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
            or not (p.grad != 0).any()]
    assert dead == []


@pytest.mark.parametrize(("baseline", "field"), SUPPORTED)
def test_output_is_invariant_to_hidden_neuron_permutations(baseline, field):
    module, spec, model = build(baseline, field)
    model.eval()
    flat = random_params(FIELDS[field], batch=4)
    permuted, _ = permute_hidden(FIELDS[field], flat, np.random.default_rng(3))
    other = random_params(FIELDS[field], seed=1, batch=4)
    with torch.no_grad():
        out, out_permuted, out_other = (logits(module, spec, model, x) for x in (flat, permuted, other))
    change = (out_permuted - out).abs().max().item()
    spread = (out_other - out).abs().max().item()  # how much another NeF moves the output
    print(f"{baseline.name}-{field}: permuted {change:.2e}, other NeF {spread:.2e}")
    assert spread > 1e-3  # the model does look at its input (not drowned by its biases)
    if baseline.invariant:
        torch.testing.assert_close(out_permuted, out, atol=1e-4, rtol=1e-4)
        assert change < 1e-3 * spread
    else:
        assert change > 1e-3 * spread


@pytest.mark.parametrize(("baseline", "field"), UNSUPPORTED)
def test_unsupported_architecture_is_refused_with_an_arena_error(baseline, field):
    with pytest.raises(ArenaError, match=f"baseline:{baseline.name}.*'{FIELDS[field].arch}'"):
        build(baseline, field)
