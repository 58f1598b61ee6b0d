"""Transforms: weight-space symmetries keep every NeF's function, augmentations have the stated
statistics, normalisation uses the train split's statistics."""

from __future__ import annotations

import numpy as np
import pytest
from _nefdata import jax_apply, make_field, nef_params, per_layer_stats, write_dataset

import arena
from arena.data import (
    Compose,
    Dropout,
    GaussianNoise,
    Normalize,
    PermuteHidden,
    SignFlip,
    hidden_layers,
    permute_hidden,
    sign_flip,
)
from arena.errors import ConfigError

ARCHS = ["siren", "rffnet", "mfn"]
N = 6


@pytest.fixture(scope="module", params=ARCHS)
def nefs(request, tmp_path_factory):
    """``(arch, field, split, params)`` of a small dataset of each architecture."""
    arch = request.param
    field = make_field(arch)
    params = nef_params(field, N, seed=11)
    root = write_dataset(tmp_path_factory.mktemp(arch), {"train": [params]}, arch=arch)
    return arch, field, arena.load(root, split="train"), params


COORDS = np.random.default_rng(0).uniform(-1, 1, (300, 2)).astype(np.float32)


def _outputs(split, params: np.ndarray) -> np.ndarray:
    """Each row's outputs at COORDS through the numpy forward pass of ``split``'s architecture."""
    return np.stack([split.field_info.field(p)(COORDS) for p in params])


def _changed_fraction(a: np.ndarray, b: np.ndarray) -> float:
    return float((a != b).mean())


def test_hidden_layers_follow_the_architecture(nefs):
    arch, field, split, _ = nefs
    layers = hidden_layers(split.info)
    assert [l.width for l in layers] == ([8, 8] if arch in ("siren", "rffnet") else [8, 8, 8])
    if arch == "mfn":
        assert layers[1].members == (("layers.0.weight", 1), ("layers.0.bias", 0),
                                     ("filters.1.weight", 1), ("filters.1.bias", 0),
                                     ("layers.1.weight", 0))
    else:
        assert layers[0].members == (("layers.0.weight", 1), ("layers.0.bias", 0), ("layers.1.weight", 0))
    assert hidden_layers(split.layout) == layers  # the layout's names tell the same
    assert hidden_layers(split.field_info) == layers


def test_permute_hidden_keeps_each_nefs_function_and_changes_its_params(nefs):
    arch, field, split, params = nefs
    rng = np.random.default_rng(1)
    perms = [np.stack([rng.permutation(l.width) for _ in range(N)]) for l in hidden_layers(split.info)]
    permuted = permute_hidden(params, split.info, perms)
    assert permuted.shape == params.shape and permuted.dtype == np.float32
    assert _changed_fraction(params, permuted) > 0.5
    np.testing.assert_allclose(_outputs(split, permuted), _outputs(split, params), atol=2e-5)
    np.testing.assert_allclose(jax_apply(field, permuted, COORDS), jax_apply(field, params, COORDS), atol=2e-5)
    # the entries are moved, not changed; and undoing the permutation restores the params exactly
    np.testing.assert_array_equal(np.sort(permuted, axis=1), np.sort(params, axis=1))
    inverse = [np.argsort(p, axis=1) for p in perms]
    np.testing.assert_array_equal(permute_hidden(permuted, split.info, inverse), params)


def test_permute_hidden_moves_weights_with_their_neuron(nefs):
    arch, field, split, params = nefs
    widths = [l.width for l in hidden_layers(split.info)]
    perms = [np.arange(w) for w in widths]
    perms[0] = np.roll(perms[0], 1)  # new neuron j is old neuron j - 1
    out = split.layout.unflatten(permute_hidden(params[0], split.info, perms))
    old = split.layout.unflatten(params[0])
    first = "filters.0" if arch == "mfn" else "layers.0"
    np.testing.assert_array_equal(out[f"{first}.weight"][:, 1], old[f"{first}.weight"][:, 0])
    np.testing.assert_array_equal(out[f"{first}.bias"][1], old[f"{first}.bias"][0])
    np.testing.assert_array_equal(out["layers.1.weight" if arch != "mfn" else "layers.0.weight"][1],
                                  old["layers.1.weight" if arch != "mfn" else "layers.0.weight"][0])


def test_permute_hidden_transform_draws_a_new_permutation_per_nef(nefs):
    arch, field, split, params = nefs
    t = PermuteHidden(split.info)
    batch = np.repeat(params[:1], 8, axis=0)
    out = t(batch, np.random.default_rng(3))
    assert len({row.tobytes() for row in out}) == 8  # eight identical NeFs, eight permutations
    np.testing.assert_allclose(_outputs(split, out), _outputs(split, batch), atol=2e-5)
    np.testing.assert_array_equal(out, t(batch, np.random.default_rng(3)))  # deterministic
    np.testing.assert_array_equal(batch, np.repeat(params[:1], 8, axis=0))  # input untouched


def test_sign_flip_keeps_siren_functions_and_is_refused_elsewhere(nefs):
    arch, field, split, params = nefs
    if arch != "siren":
        with pytest.raises(ConfigError, match="SIRENs only"):
            SignFlip(split.info)
        with pytest.raises(ConfigError, match="SIRENs only"):
            sign_flip(params, split.info, [np.ones(8), np.ones(8)])
        return
    out = SignFlip(split.info)(params, np.random.default_rng(4))
    assert 0.2 < _changed_fraction(params, out) < 0.9
    np.testing.assert_array_equal(np.abs(out), np.abs(params))
    np.testing.assert_allclose(_outputs(split, out), _outputs(split, params), atol=2e-5)
    np.testing.assert_allclose(jax_apply(field, out, COORDS), jax_apply(field, params, COORDS), atol=2e-5)
    signs = [np.where(np.arange(8) == 2, -1.0, 1.0), np.ones(8)]
    flipped = split.layout.unflatten(sign_flip(params[0], split.info, signs))
    old = split.layout.unflatten(params[0])
    np.testing.assert_array_equal(flipped["layers.0.weight"][:, 2], -old["layers.0.weight"][:, 2])
    np.testing.assert_array_equal(flipped["layers.1.weight"][2], -old["layers.1.weight"][2])
    np.testing.assert_array_equal(flipped["layers.1.weight"][3], old["layers.1.weight"][3])


def test_sign_flip_needs_the_architecture_not_just_a_layout(nefs):
    arch, field, split, params = nefs
    with pytest.raises(ConfigError, match="SIRENs only"):
        SignFlip(split.layout)


def test_symmetry_transforms_name_what_they_take_when_given_something_else(nefs):
    arch, field, split, params = nefs
    for target in (split, split.info.data, (arch, {}, split.layout)):
        with pytest.raises(ConfigError, match=r"FieldInfo \(split.field_info\), a Layout"):
            PermuteHidden(target)
    with pytest.raises(ConfigError, match=r"manifest \(split.info\)"):
        Normalize.from_manifest(split)


def test_bad_permutations_and_signs_are_refused(nefs):
    arch, field, split, params = nefs
    widths = [l.width for l in hidden_layers(split.info)]
    bad = [np.zeros(w, np.int64) for w in widths]
    with pytest.raises(ConfigError, match="permutations of 0..7"):
        permute_hidden(params, split.info, bad)
    with pytest.raises(ConfigError, match="one permutation array per hidden layer"):
        permute_hidden(params, split.info, [np.arange(8)] * (len(widths) + 1))
    with pytest.raises(ConfigError, match=r"shape \(8,\) or \(6, 8\)"):
        permute_hidden(params, split.info, [np.arange(7)] + [np.arange(8)] * (len(widths) - 1))
    with pytest.raises(ConfigError, match="P = "):
        permute_hidden(params[:, :-1], split.info, [np.arange(8)] * len(widths))


def test_gaussian_noise_has_the_stated_std_and_is_deterministic():
    params = np.zeros((400, 500), np.float32)
    out = GaussianNoise(0.05)(params, np.random.default_rng(0))
    assert out.dtype == np.float32
    assert abs(out.mean()) < 1e-3 and abs(out.std() - 0.05) < 1e-3
    np.testing.assert_array_equal(out, GaussianNoise(0.05)(params, np.random.default_rng(0)))
    assert not np.array_equal(out, GaussianNoise(0.05)(params, np.random.default_rng(1)))
    with pytest.raises(ConfigError):
        GaussianNoise(-1.0)


def test_dropout_zeroes_the_stated_fraction_and_rescales_on_request():
    params = np.full((400, 500), 2.0, np.float32)
    out = Dropout(0.3)(params, np.random.default_rng(0))
    assert abs((out == 0).mean() - 0.3) < 0.005
    assert set(np.unique(out)) == {0.0, 2.0}
    scaled = Dropout(0.3, rescale=True)(params, np.random.default_rng(0))
    np.testing.assert_array_equal(scaled == 0, out == 0)
    np.testing.assert_allclose(scaled[scaled != 0], 2.0 / 0.7)
    assert abs(scaled.mean() - 2.0) < 0.02
    with pytest.raises(ConfigError):
        Dropout(1.0)


def test_normalize_from_manifest_uses_the_train_statistics(tmp_path):
    field = make_field("siren")
    layout = field.layout()
    rng = np.random.default_rng(0)
    train = (3.0 + 2.0 * rng.standard_normal((50, layout.num_params))).astype(np.float32)
    test = (-5.0 + 0.1 * rng.standard_normal((20, layout.num_params))).astype(np.float32)
    root = write_dataset(tmp_path / "d", {"train": [train], "test": [test]})
    split = arena.load(root, split="test")
    norm = Normalize.from_manifest(split.info)
    stats = per_layer_stats(train, layout)
    out = norm(train)
    for k, (name, _) in enumerate(layout):
        sl = layout.slice(name)
        np.testing.assert_allclose(out[:, sl], (train[:, sl] - stats["per_layer_mean"][k])
                                   / stats["per_layer_std"][k], rtol=1e-5, atol=1e-5)
        assert abs(out[:, sl].mean()) < 1e-3 and abs(out[:, sl].std() - 1) < 1e-3
    assert norm(test).mean() < -3  # test rows are normalised with train's statistics, not their own
    np.testing.assert_allclose(norm.inverse(out), train, atol=1e-5)


def test_normalize_from_manifest_without_stats_says_so(tmp_path):
    field = make_field("siren")
    root = write_dataset(tmp_path / "d", {"test": [nef_params(field, 2)]})  # no train: no stats
    with pytest.raises(ConfigError, match="no stats.params"):
        Normalize.from_manifest(arena.load(root, split="test").info)


def test_normalize_leaves_constant_tensors_centred():
    norm = Normalize(np.array([1.0, 2.0]), np.array([0.0, 2.0]))
    np.testing.assert_allclose(norm(np.array([[3.0, 6.0]], np.float32)), [[2.0, 2.0]])


def test_compose_applies_in_order_with_one_generator():
    seen = []

    def first(p, rng):
        seen.append(("first", rng))
        return p * 2

    def second(p, rng):
        seen.append(("second", rng))
        return p + 1

    rng = np.random.default_rng(0)
    out = Compose([first, second])(np.ones((2, 3), np.float32), rng)
    np.testing.assert_array_equal(out, np.full((2, 3), 3.0))
    assert [name for name, _ in seen] == ["first", "second"] and all(r is rng for _, r in seen)
    with pytest.raises(ConfigError):
        Compose([1])
