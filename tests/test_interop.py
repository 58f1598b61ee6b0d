"""fit-a-nef HDF5 import and DWSNets / NFN export.

The HDF5 files are written here the way fit-a-nef's ``SignalTrainer.save`` writes them:
``flatten_params`` (flax parameter names joined with '.', sorted by the architecture's key
function: per layer the bias before the kernel), a dataset ``params`` (n, P), a one-element
variable-length string dataset ``param_config`` holding ``json.dumps([[name, shape], ...])``,
one dataset per attribute (``labels``), files named ``nefs_<start>-<end>.hdf5``, and ``nef.json``
/ ``cfg.json`` next to them (ml_collections ``to_json`` of the configs).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from _nefdata import make_field, nef_params, write_dataset
from typer.testing import CliRunner

import arena
from arena import format as fmt
from arena.cli.main import app
from arena.errors import ConfigError, MissingFileError
from arena.interop import import_hdf5, to_dws, to_nfn

h5py = pytest.importorskip("h5py")

NEF_CFG = {
    "siren": {"name": "SIREN", "params": {"hidden_dim": 8, "num_layers": 3, "omega_0": 9.0, "output_dim": 1}},
    "rffnet": {"name": "RFFNet", "params": {"hidden_dim": 8, "num_layers": 3, "std": 3.0,
                                            "learnable_coefficients": False, "output_dim": 1}},
    "mfn": {"name": "FourierNet", "params": {"hidden_dim": 8, "num_filters": 3, "input_scale": 16.0,
                                             "weight_scale": 6.0, "output_dim": 1}},
}


# fit-a-nef's side: parameter names, their order, its forward passes (from its flax modules)


def fitanef_tensors(arch: str, tensors: dict) -> dict[str, np.ndarray]:
    """The flax parameters (flattened names) of fit-a-nef's model equal to an Arena NeF."""
    n = sum(1 for k in tensors if k.startswith("layers.") and k.endswith(".weight"))
    out = {}
    if arch == "siren":
        for i in range(n - 1):
            out[f"kernel_net_{i}.linear.kernel"] = tensors[f"layers.{i}.weight"]
            out[f"kernel_net_{i}.linear.bias"] = tensors[f"layers.{i}.bias"]
        out["output_linear.kernel"], out["output_linear.bias"] = tensors[f"layers.{n - 1}.weight"], tensors[f"layers.{n - 1}.bias"]
    elif arch == "rffnet":
        out["encoding.coefficients.kernel"] = tensors["embedding.weight"] / np.float32(NEF_CFG["rffnet"]["params"]["std"])
        for i in range(n - 1):
            out[f"layers_{i}.linear.kernel"] = tensors[f"layers.{i}.weight"]
            out[f"layers_{i}.linear.bias"] = tensors[f"layers.{i}.bias"]
        out["linear_final.kernel"], out["linear_final.bias"] = tensors[f"layers.{n - 1}.weight"], tensors[f"layers.{n - 1}.bias"]
    else:
        k = sum(1 for t in tensors if t.startswith("filters.") and t.endswith(".weight"))
        for i in range(k):
            out[f"filters_{i}.linear.kernel"] = tensors[f"filters.{i}.weight"]
            out[f"filters_{i}.linear.bias"] = tensors[f"filters.{i}.bias"]
        for i in range(k - 1):
            out[f"linears_{i}.kernel"], out[f"linears_{i}.bias"] = tensors[f"layers.{i}.weight"], tensors[f"layers.{i}.bias"]
        out["output_linear.kernel"], out["output_linear.bias"] = tensors[f"layers.{k - 1}.weight"], tensors[f"layers.{k - 1}.bias"]
    return out


def fitanef_key(arch: str, name: str) -> int:
    """fit-a-nef's SIREN_key / FourierNet_key (bias before kernel, by layer). Its RFFNet_key
    cannot sort 'encoding.*' (it parses a layer number from it), so the embedding goes first."""
    cfg = NEF_CFG[arch]["params"]
    if arch == "siren":
        index = 2 * cfg["num_layers"] - 2 if name.startswith("output_linear.") else 2 * int(name.split(".")[0].split("_")[-1])
    elif arch == "rffnet":
        if name.startswith("encoding."):
            return -1
        index = 2 * (cfg["num_layers"] - 1) if name.startswith("linear_final.") else 2 * int(name.split(".")[0].split("_")[-1])
    else:
        index = 4 * cfg["num_filters"] - 2 if name.startswith("output_linear.") else 2 * int(name.split(".")[0].split("_")[-1])
        if name.startswith("linears_"):
            index += 2 * cfg["num_filters"]
    return index if name.endswith(".bias") else index + 1


def fitanef_forward(arch: str, t: dict, x: np.ndarray) -> np.ndarray:
    """fit-a-nef's models, in float64: SIREN, RFFNet (RFF encoding), FourierNet (MFNBase)."""
    x = x.astype(np.float64)
    cfg = NEF_CFG[arch]["params"]
    if arch == "siren":
        for i in range(cfg["num_layers"] - 1):
            x = np.sin(cfg["omega_0"] * (x @ t[f"kernel_net_{i}.linear.kernel"] + t[f"kernel_net_{i}.linear.bias"]))
        return x @ t["output_linear.kernel"] + t["output_linear.bias"]
    if arch == "rffnet":
        proj = cfg["std"] * ((2 * np.pi * x) @ t["encoding.coefficients.kernel"])
        x = np.concatenate([np.sin(proj), np.cos(proj)], axis=-1)
        for i in range(cfg["num_layers"] - 1):
            x = np.maximum(x @ t[f"layers_{i}.linear.kernel"] + t[f"layers_{i}.linear.bias"], 0)
        return x @ t["linear_final.kernel"] + t["linear_final.bias"]
    out = np.sin(x @ t["filters_0.linear.kernel"] + t["filters_0.linear.bias"])
    for i in range(1, cfg["num_filters"]):
        out = np.sin(x @ t[f"filters_{i}.linear.kernel"] + t[f"filters_{i}.linear.bias"]) * (
            out @ t[f"linears_{i - 1}.kernel"] + t[f"linears_{i - 1}.bias"])
    return out @ t["output_linear.kernel"] + t["output_linear.bias"]


def write_fitanef(folder: Path, arch: str, params: np.ndarray, labels: np.ndarray, *,
                  blocks: list[tuple[int, int]], dataset: str = "MNIST", nef_json: bool = True) -> list[dict]:
    """Write NeFs as fit-a-nef does; return each NeF's fit-a-nef tensors."""
    field = make_field(arch)
    folder.mkdir(parents=True, exist_ok=True)
    theirs = [fitanef_tensors(arch, field.layout().unflatten(p)) for p in params]
    keys = sorted(theirs[0], key=lambda k: fitanef_key(arch, k))
    config = json.dumps([(k, list(theirs[0][k].shape)) for k in keys])
    for start, end in blocks:
        comb = np.stack([np.concatenate([theirs[i][k].ravel() for k in keys]) for i in range(start, end)])
        with h5py.File(folder / f"nefs_{start}-{end}.hdf5", "w") as f:
            f.create_dataset("params", data=comb.astype(np.float32))
            data = f.create_dataset("param_config", (1,), dtype=h5py.special_dtype(vlen=str))
            data[0] = config
            f.create_dataset("labels", data=labels[start:end])
    if nef_json:
        (folder / "nef.json").write_text(json.dumps(NEF_CFG[arch]))
    (folder / "cfg.json").write_text(json.dumps({"dataset": {"name": dataset, "out_channels": 1},
                                                 "train": {"num_steps": 500}}))
    return theirs


@pytest.mark.parametrize("arch", ["siren", "rffnet", "mfn"])
def test_import_converts_fitanef_files_into_the_same_nefs(tmp_path, arch):
    field = make_field(arch)
    params = nef_params(field, 10, seed=5)
    labels = np.arange(10) % 4
    theirs = write_fitanef(tmp_path / "fitanef", arch, params, labels, blocks=[(6, 10), (0, 6)],
                           dataset="SomeData")
    out = import_hdf5(tmp_path / "fitanef", tmp_path / "out", splits={"train": (0, 7), "test": (7, 10)})
    assert fmt.verify(out) == []
    splits = arena.load(out)
    assert set(splits) == {"train", "test"}
    train, test = splits["train"], splits["test"]
    assert train.info.name == "neural_somedata" and train.info.data["field"]["arch"] == arch
    assert train.layout == field.layout()
    got = np.concatenate([np.asarray(train.params), np.asarray(test.params)])
    if arch == "rffnet":  # stored without std; the Arena's embedding carries it
        np.testing.assert_allclose(got, params, rtol=1e-6)
    else:
        np.testing.assert_array_equal(got, params)
    np.testing.assert_array_equal(np.concatenate([train.labels, test.labels]), labels)
    np.testing.assert_array_equal(np.concatenate([train.index, test.index]), np.arange(10))
    assert train.num_classes == 4
    coords = np.random.default_rng(0).uniform(-1, 1, (100, 2)).astype(np.float32)
    for i in (0, 9):
        split, row = (train, i) if i < 7 else (test, i - 7)
        np.testing.assert_allclose(split.field(row)(coords), fitanef_forward(arch, theirs[i], coords),
                                   atol=2e-5 * max(1.0, np.abs(fitanef_forward(arch, theirs[i], coords)).max()))


def test_import_knows_mnist_sizes_normalisation_grid_and_splits(tmp_path):
    field = make_field("siren", hidden=4)
    n = 70000
    params = nef_params(field, n, seed=1)
    labels = np.arange(n) % 10
    folder = tmp_path / "MNIST" / "SIREN"
    folder.mkdir(parents=True)
    (folder / "cfg.json").write_text(json.dumps({"dataset": {"name": "MNIST", "out_channels": 1}}))
    keys = ["kernel_net_0.linear.bias", "kernel_net_0.linear.kernel", "kernel_net_1.linear.bias",
            "kernel_net_1.linear.kernel", "output_linear.bias", "output_linear.kernel"]
    ours = ["layers.0.bias", "layers.0.weight", "layers.1.bias", "layers.1.weight", "layers.2.bias", "layers.2.weight"]
    layout = field.layout()
    comb = np.concatenate([params[:, layout.slice(k)] for k in ours], axis=1)
    for start, end in [(0, 35000), (35000, 70000)]:
        with h5py.File(folder / f"nefs_{start}-{end}.hdf5", "w") as f:
            f.create_dataset("params", data=comb[start:end])
            d = f.create_dataset("param_config", (1,), dtype=h5py.special_dtype(vlen=str))
            d[0] = json.dumps([(k, list(layout.shape(o))) for k, o in zip(keys, ours)])
            f.create_dataset("labels", data=labels[start:end])
    (folder / "nef.json").write_text(json.dumps(
        {"name": "SIREN", "params": {"hidden_dim": 4, "num_layers": 3, "omega_0": 9.0, "output_dim": 1}}))

    out = import_hdf5(folder, tmp_path / "out")
    splits = arena.load(out)
    assert {k: len(v) for k, v in splits.items()} == {"train": 55000, "val": 5000, "test": 10000}
    test = splits["test"]
    assert test.info.name == "neural_mnist" and test.info.data["source"]["name"] == "mnist"
    np.testing.assert_array_equal(test.index[:3], [60000, 60001, 60002])
    np.testing.assert_array_equal(np.asarray(test.params[:3]), params[60000:60003])
    signal = test.info.data["signal"]
    assert signal["shape"] == [28, 28, 1] and signal["grid"] == "linspace_xy"
    # the render follows fit-a-nef's grid and undoes its MNIST normalisation
    x, y = np.meshgrid(np.linspace(-1, 1, 28), np.linspace(-1, 1, 28))
    coords = np.stack([x, y], axis=-1).reshape(784, 2)
    t = dict(zip(keys, (params[60001, layout.slice(o)].reshape(layout.shape(o)) for o in ours)))
    values = fitanef_forward("siren", t, coords).reshape(28, 28, 1) * 0.30810782 + 0.13066047
    np.testing.assert_allclose(test.render(1), np.clip(values, 0, 1), atol=1e-4)


def test_import_without_nef_json_asks_for_the_missing_hyperparameter(tmp_path):
    field = make_field("siren")
    params = nef_params(field, 4)
    write_fitanef(tmp_path / "f", "siren", params, np.zeros(4, np.int64), blocks=[(0, 4)], nef_json=False)
    with pytest.raises(ConfigError, match="'hidden_dim'.*--hparam"):
        import_hdf5(tmp_path / "f", tmp_path / "out")
    out = import_hdf5(tmp_path / "f", tmp_path / "out",
                      hparams={"hidden_dim": 8, "num_layers": 3, "omega_0": 9.0})
    np.testing.assert_array_equal(np.asarray(arena.load(out, split="train").params), params)
    with pytest.raises(ConfigError, match="already holds a dataset"):
        import_hdf5(tmp_path / "f", tmp_path / "out", hparams={"hidden_dim": 8, "num_layers": 3, "omega_0": 9.0})
    with pytest.raises(ConfigError, match="does not match a siren"):
        import_hdf5(tmp_path / "f", tmp_path / "out2", hparams={"hidden_dim": 8, "num_layers": 4, "omega_0": 9.0})


def test_import_hdf5_command(tmp_path):
    field = make_field("mfn")
    write_fitanef(tmp_path / "f", "mfn", nef_params(field, 5), np.arange(5) % 2, blocks=[(0, 5)])
    runner = CliRunner()
    result = runner.invoke(app, ["import-hdf5", str(tmp_path / "f"), "--out", str(tmp_path / "o"),
                                 "--name", "my_nefs", "--split", "train=0:3", "--split", "test=3:5"])
    assert result.exit_code == 0, result.output
    assert "imported" in result.output
    m = fmt.Manifest.load(tmp_path / "o")
    assert m.name == "my_nefs" and {s: m.num_examples(s) for s in m.splits} == {"train": 3, "test": 2}
    assert m.data["builder"]["files"].keys() == {"nefs_0-5.hdf5"}
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["import-hdf5", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "holds no .hdf5 files" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["import-hdf5", str(tmp_path / "f"), "--split", "train=0-3"])
    assert result.exit_code == 1 and "NAME=START:END" in result.output
    result = runner.invoke(app, ["import-hdf5", str(tmp_path / "f"), "--out", str(tmp_path / "o2"),
                                 "--split", "train=0:4", "--split", "test=3:5"])
    assert result.exit_code == 1 and "'train' = 0:4 and 'test' = 3:5 overlap" in result.output
    assert not (tmp_path / "o2").exists()


def test_import_refuses_files_whose_names_and_rows_disagree(tmp_path):
    field = make_field("siren")
    write_fitanef(tmp_path / "f", "siren", nef_params(field, 4), np.zeros(4, np.int64), blocks=[(0, 4)])
    (tmp_path / "f" / "nefs_0-4.hdf5").rename(tmp_path / "f" / "nefs_0-5.hdf5")
    with pytest.raises(arena.ArenaError, match="named for rows 0-5 but holds 4"):
        import_hdf5(tmp_path / "f", tmp_path / "out")
    with pytest.raises(MissingFileError):
        import_hdf5(tmp_path / "missing", tmp_path / "out")


# Export


def _dataset(tmp_path, arch):
    field = make_field(arch)
    params = nef_params(field, 5, seed=2)
    return arena.load(write_dataset(tmp_path / arch, {"train": [params]}, arch=arch), split="train"), params


def _embed(split, params, x):
    """The input of the dense stack: coordinates (SIREN) or RFFNet's Fourier features."""
    if split.info.data["field"]["arch"] == "siren":
        return np.broadcast_to(x, (len(params), *x.shape))
    b = split.layout.unflatten(params)["embedding.weight"]  # (B, in, H/2)
    proj = 2 * np.pi * np.einsum("pi,bih->bph", x, b)
    return np.concatenate([np.sin(proj), np.cos(proj)], axis=-1)


def _activation(arch):
    return (lambda z: np.sin(9.0 * z)) if arch == "siren" else (lambda z: np.maximum(z, 0))


@pytest.mark.parametrize("arch", ["siren", "rffnet"])
def test_dws_export_runs_the_same_function(tmp_path, arch):
    split, params = _dataset(tmp_path, arch)
    weights, biases = to_dws(params, split.info)
    assert [w.shape for w in weights] == [(5, split.layers(0)[l][0].shape[0], split.layers(0)[l][0].shape[1], 1)
                                          for l in range(3)]
    assert [b.shape for b in biases] == [(5, w.shape[2], 1) for w in weights]
    x = np.random.default_rng(0).uniform(-1, 1, (40, 2)).astype(np.float64)
    h = _embed(split, params, x)
    for l, (w, b) in enumerate(zip(weights, biases)):  # DWSNets: x @ W[..., 0] + b[..., 0]
        h = np.einsum("bpi,bio->bpo", h, w[..., 0]) + b[:, None, :, 0]
        if l < len(weights) - 1:
            h = _activation(arch)(h)
    for i in range(5):
        np.testing.assert_allclose(h[i], split.field(i)(x.astype(np.float32)), atol=5e-5)


@pytest.mark.parametrize("arch", ["siren", "rffnet"])
def test_nfn_export_runs_the_same_function(tmp_path, arch):
    split, params = _dataset(tmp_path, arch)
    weights, biases = to_nfn(params, split.info)
    assert [w.shape for w in weights] == [(5, 1, w.shape[2], w.shape[3]) for w in weights]
    assert weights[0].shape[3] == (2 if arch == "siren" else 8) and weights[-1].shape[2] == 1
    x = np.random.default_rng(0).uniform(-1, 1, (40, 2)).astype(np.float64)
    h = _embed(split, params, x)
    for l, (w, b) in enumerate(zip(weights, biases)):  # NFN / torch: F.linear(x, W, b) = x @ W.T + b
        h = np.einsum("bpi,boi->bpo", h, w[:, 0]) + b[:, 0][:, None, :]
        if l < len(weights) - 1:
            h = _activation(arch)(h)
    for i in range(5):
        np.testing.assert_allclose(h[i], split.field(i)(x.astype(np.float32)), atol=5e-5)
    single_w, single_b = to_nfn(params[0], split.layout)
    np.testing.assert_array_equal(single_w[1][0], weights[1][0])
    assert math.prod(single_b[0].shape) == biases[0][0].size
