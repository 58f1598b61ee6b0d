"""Small neural datasets for the loader, transform and interop tests, written with arena.format."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from arena import format as fmt

ARCHS = {
    "siren": {"hidden": 8, "layers": 3, "omega0": 9.0},
    "rffnet": {"hidden": 8, "layers": 3, "std": 3.0},
    "mfn": {"hidden": 8, "filters": 3, "input_scale": 16.0},
}


def make_field(arch: str, *, in_dim: int = 2, out_dim: int = 1, **hparams):
    from arena import fields

    return fields.make(arch, **{**ARCHS[arch], **hparams}, in_dim=in_dim, out_dim=out_dim)


def nef_params(field, n: int, *, seed: int = 0) -> np.ndarray:
    """``n`` random NeFs in ``field``'s layout, ``(n, P)`` float32, drawn with numpy (no JAX).

    Weights are ``N(0, 1 / fan_in)``, biases ``N(0, 0.3^2)``: moderate outputs for every
    architecture and no zero entries, so symmetries cannot hold by accident.
    """
    rng = np.random.default_rng(seed)
    layout = field.layout()
    pieces = []
    for name, shape in layout:
        scale = 1.0 / np.sqrt(shape[0]) if len(shape) == 2 else 0.3
        pieces.append(scale * rng.standard_normal((n, int(np.prod(shape)))))
    return np.concatenate(pieces, axis=1).astype(np.float32)


def jax_apply(field, params: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """``field.apply`` of every row of ``params`` at ``coords``, ``(n, points, out)`` (one compile)."""
    import jax

    tensors = {k: jax.numpy.asarray(v) for k, v in field.layout().unflatten(params).items()}
    return np.asarray(jax.jit(jax.vmap(field.apply, in_axes=(0, None)))(tensors, jax.numpy.asarray(coords)))


def per_layer_stats(params: np.ndarray, layout) -> dict:
    """``stats.params`` as the builders record it: per-tensor mean and std over ``params``."""
    means, stds = [], []
    for name, _ in layout:
        x = params[:, layout.slice(name)].astype(np.float64)
        means.append(round(float(x.mean()), 6))
        stds.append(round(float(x.std()), 6))
    return {"per_layer_mean": means, "per_layer_std": stds, "layers": list(layout.names)}


def write_dataset(
    root: Path,
    params: dict[str, list[np.ndarray]],
    *,
    arch: str = "siren",
    hparams: dict | None = None,
    in_dim: int = 2,
    out_dim: int = 1,
    layout=None,
    signal: dict | None = None,
    source: dict | None = None,
    name: str = "neural_test",
    labels: dict[str, list[np.ndarray]] | None = None,
    index: dict[str, list[np.ndarray]] | None = None,
) -> Path:
    """Write a dataset whose split ``s`` has one shard per array in ``params[s]``.

    Labels default to ``row % 3``, indices to consecutive numbers over all splits, metrics to
    ``psnr = 20 + row``; ``stats.params`` is computed from the train rows.
    """
    if layout is None:
        layout = make_field(arch, in_dim=in_dim, out_dim=out_dim, **(hparams or {})).layout()
    splits, start = {}, 0
    for split, shards in params.items():
        paths = []
        for i, p in enumerate(shards):
            n = len(p)
            rel = fmt.shard_name(split, i, len(shards))
            lab = labels[split][i] if labels else (np.arange(start, start + n) % 3)
            idx = index[split][i] if index else np.arange(start, start + n)
            fmt.write_shard(root / rel, p, np.asarray(lab, np.int64), np.asarray(idx, np.int64),
                            {"psnr": (20.0 + np.arange(start, start + n)).astype(np.float32)})
            paths.append(rel)
            start += n
        splits[split] = fmt.split_entry(root, paths)
    train = np.concatenate(params["train"]) if "train" in params else None
    manifest = {
        "format": "arena/1",
        "name": name,
        "version": "1.0.0",
        "source": source or {"name": "test", "num_classes": 3, "class_names": ["a", "b", "c"]},
        "signal": signal or {"kind": "image", "shape": [4, 5, out_dim],
                             "normalization": {"mean": [0.25] * out_dim, "std": [0.5] * out_dim,
                                               "scale": "[0, 1]"}},
        "field": {"arch": arch, "hparams": {**ARCHS.get(arch, {}), **(hparams or {})},
                  "in_dim": in_dim, "out_dim": out_dim, "layout": layout.to_json(),
                  "kernel": "in_out", "num_params": layout.num_params},
        "fit": {"loss": "mse", "steps": 1},
        "splits": splits,
        "builder": {"name": "test", "version": "0"},
    }
    if train is not None:
        manifest["stats"] = {"metrics": {}, "params": per_layer_stats(train, layout)}
    fmt.Manifest(manifest).write(root)
    return root
