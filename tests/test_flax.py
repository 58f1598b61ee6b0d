"""A dataset's NeFs as flax linen modules: the module reproduces ``split.field(i)``, the
variables go back to the flat rows bit for bit, and bad variables are named."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from _nefdata import make_field, nef_params, write_dataset

import arena
from arena.errors import ConfigError
from arena.interop import from_flax_params, to_flax, to_flax_params

flax = pytest.importorskip("flax")
jax = pytest.importorskip("jax")

CASES = [("siren", 2, 1), ("rffnet", 2, 3), ("mfn", 2, 1), ("siren", 3, 1)]


@pytest.fixture(params=CASES, ids=[f"{a}-{i}d-{o}ch" for a, i, o in CASES])
def split(request, tmp_path):
    arch, in_dim, out_dim = request.param
    rows = nef_params(make_field(arch, in_dim=in_dim, out_dim=out_dim), 5, seed=3)
    root = write_dataset(tmp_path / arch, {"train": [rows]}, arch=arch, in_dim=in_dim, out_dim=out_dim)
    return arena.load(root, split="train")


def _coords(split, n: int = 97) -> np.ndarray:
    in_dim = split.info.data["field"]["in_dim"]
    return np.random.default_rng(1).uniform(-1, 1, (n, in_dim)).astype(np.float32)


def test_module_applied_to_coords_reproduces_split_field_to_float32_rounding(split):
    module = to_flax(split.info)
    coords = _coords(split)
    for i in range(len(split)):
        want = split.field(i)(coords)
        got = np.asarray(module.apply(to_flax_params(split.params[i], split.info), coords))
        assert got.dtype == np.float32 and got.shape == want.shape
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * scale)


def test_batched_variables_vmap_to_every_nef_and_keep_leading_coordinate_axes(split):
    module = to_flax(split)  # a Split works as well as its manifest
    coords = _coords(split, 24).reshape(4, 6, -1)
    tree = to_flax_params(split.params[0:5], split.info)
    assert all(leaf.shape[0] == 5 for leaf in jax.tree.leaves(tree))
    got = np.asarray(jax.vmap(module.apply, in_axes=(0, None))(tree, coords))
    want = np.stack([split.field(i)(coords) for i in range(5)])
    assert got.shape == want.shape == (5, 4, 6, want.shape[-1])
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5 * max(1.0, float(np.abs(want).max())))


def test_from_flax_params_gives_the_rows_back_bit_for_bit(split):
    rows = np.asarray(split.params[0:5])
    back = from_flax_params(to_flax_params(rows, split.info), split.info)
    assert back.dtype == np.float32 and back.tobytes() == rows.tobytes()
    one = from_flax_params(to_flax_params(rows[2], split.info)["params"], split.info)  # "params" alone
    assert one.shape == rows[2].shape and one.tobytes() == rows[2].tobytes()
    as_jax = jax.tree.map(jax.numpy.asarray, to_flax_params(rows, split.info))
    assert from_flax_params(as_jax, split.info).tobytes() == rows.tobytes()


def test_variable_names_are_flax_dense_names_of_the_layout_tensors(split):
    tree = to_flax_params(split.params[0], split.info)["params"]
    names = sorted(f"{m}/{k}" for m, leaves in tree.items() for k in leaves)
    expected = sorted(n.rsplit(".", 1)[0].replace(".", "_") + "/" + ("kernel" if n.endswith("weight") else "bias")
                      for n in split.layout.names)
    assert names == expected
    for name, shape in split.layout:
        module, kind = name.rsplit(".", 1)
        leaf = tree[module.replace(".", "_")]["kernel" if kind == "weight" else "bias"]
        assert leaf.shape == tuple(shape)  # flax Dense kernels are (in, out), the Arena's in_out


def test_init_draws_variables_of_the_same_structure_and_a_fit_step_changes_them(split):
    module = to_flax(split.info)
    coords = _coords(split, 16)
    fresh = module.init(jax.random.key(0), coords)
    given = to_flax_params(split.params[0], split.info)
    assert jax.tree.map(np.shape, fresh) == jax.tree.map(np.shape, given)
    assert from_flax_params(fresh, split.info).shape == (split.num_params,)

    def loss(variables):
        return jax.numpy.mean(module.apply(variables, coords) ** 2)

    grads = jax.grad(loss)(given)["params"]
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
    if "embedding" in grads:  # held fixed unless the dataset's learnable_embedding is set
        assert not np.asarray(grads["embedding"]["kernel"]).any()
    assert np.asarray(grads["layers_0"]["kernel"]).any()


def test_siren_gradients_are_those_of_a_plain_jnp_sin_siren(tmp_path):
    rows = nef_params(make_field("siren"), 1, seed=5)
    split = arena.load(write_dataset(tmp_path / "s", {"train": [rows]}, arch="siren"), split="train")
    module, coords = to_flax(split.info), _coords(split, 8)
    omega0 = split.info.data["field"]["hparams"]["omega0"]

    def plain(variables):  # sin(omega0 (x W + b)) with jnp.sin, the textbook SIREN
        p, x = variables["params"], coords
        for i in range(2):
            x = jax.numpy.sin(omega0 * (x @ p[f"layers_{i}"]["kernel"] + p[f"layers_{i}"]["bias"][None]))
        return x @ p["layers_2"]["kernel"] + p["layers_2"]["bias"][None]

    variables = to_flax_params(split.params[0], split.info)
    ours = jax.grad(lambda v: jax.numpy.sum(module.apply(v, coords) ** 2))(variables)
    theirs = jax.grad(lambda v: jax.numpy.sum(plain(v) ** 2))(variables)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("change, says", [
    (lambda t: t["params"].pop("layers_1"), "missing ['layers_1/bias', 'layers_1/kernel']"),
    (lambda t: t["params"].update(extra={"kernel": np.zeros(2)}), "unexpected ['extra/kernel']"),
    (lambda t: t["params"]["layers_0"].update(kernel=np.zeros((3, 3), np.float32)), "layers_0/kernel has shape (3, 3)"),
])
def test_variables_that_do_not_fit_the_layout_are_refused_naming_the_leaf(tmp_path, change, says):
    rows = nef_params(make_field("siren"), 2)
    split = arena.load(write_dataset(tmp_path / "s", {"train": [rows]}), split="train")
    tree = to_flax_params(split.params[0], split.info)
    change(tree)
    with pytest.raises(ConfigError) as caught:
        from_flax_params(tree, split.info)
    assert says in str(caught.value)


def test_rows_of_another_length_and_a_bare_layout_are_user_errors(tmp_path):
    rows = nef_params(make_field("siren"), 2)
    split = arena.load(write_dataset(tmp_path / "s", {"train": [rows]}), split="train")
    with pytest.raises(ConfigError, match=r"shape \(P,\) or \(B, P\) with P = "):
        to_flax_params(np.zeros(7, np.float32), split.info)
    with pytest.raises(ConfigError, match="pass the dataset's manifest"):
        to_flax(split.layout)


def test_importing_arena_interop_does_not_import_flax():
    code = ("import sys, json, arena.interop; "
            "print(json.dumps([m for m in ('flax', 'jax') if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
