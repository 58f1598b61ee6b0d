"""One split of a neural dataset: memory-mapped parameters, labels, per-NeF views and batches.

What a row means (architecture, layout, dense stack, forward pass) comes from :mod:`arena.nef`.
The torch loader (:mod:`arena.data._torch`) reads a split through its public
:meth:`Split.batch_rows` and :meth:`Split.read_batch`; a split pickles as its directory and name,
so worker processes reopen the files instead of receiving copies.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from arena import format as fmt
from arena import nef
from arena.data import _render
from arena.data.transforms import as_transform
from arena.errors import ConfigError, require
from arena.layout import Layout


class Split:
    """One split of a neural dataset, memory-mapped: nothing but headers is read until used.

    Get one with :func:`arena.load`. Array attributes are numpy (``params`` is a read-only
    ``np.memmap``, or an :class:`arena.format.ShardedArray` of memmaps when the split has
    several shards: index it like an array, ``np.asarray`` reads it all). :meth:`batches` yields
    numpy batches; :meth:`torch` gives a torch ``DataLoader`` and :meth:`jax` JAX arrays.

    Attributes:
        name: the split's name (``"train"``, ``"val"``, ``"test"``).
        dataset: the dataset's name (``"neural_mnist"``).
        version: the dataset's version.
        info: the dataset's manifest (:class:`arena.format.Manifest`).
        field_info: the dataset's NeF (:class:`arena.nef.FieldInfo`: architecture, layout, ...).
        layout: the parameter layout (:class:`arena.layout.Layout`).
        root: the dataset directory (``None`` for a split read from a ``datasets.Dataset``).
        manifest_sha256: sha256 of ``arena.json``, what evaluation results cite.

    Kernels are stored ``in_out``: a dense layer computes ``y = x @ W + b`` with ``W`` of shape
    ``(in, out)``.
    """

    def __init__(self, files: fmt.DatasetFiles, name: str, *, arrays: fmt.SplitArrays | None = None):
        self._files = files
        self._arrays = fmt.read_split(files, name) if arrays is None else arrays
        self._field = nef.FieldInfo.from_manifest(files.manifest)
        self.name = name
        params = self._arrays.params
        parts = params.parts if isinstance(params, fmt.ShardedArray) else (params,)
        self._parts = parts
        self._offsets = np.cumsum([0] + [len(p) for p in parts])

    # ---------------------------------------------------------------- what the split is

    @property
    def info(self) -> fmt.Manifest:
        return self._files.manifest

    @property
    def root(self) -> Path:
        return self._files.root

    @property
    def manifest_sha256(self) -> str:
        return self._files.manifest_sha256

    @property
    def dataset(self) -> str:
        return self.info.name

    @property
    def version(self) -> str:
        return self.info.version

    @property
    def field_info(self) -> nef.FieldInfo:
        return self._field

    @property
    def layout(self) -> Layout:
        return self._field.layout

    @property
    def num_params(self) -> int:
        return self._field.layout.num_params

    @property
    def class_names(self) -> tuple[str, ...]:
        """Label ``k`` is ``class_names[k]`` (from the manifest's ``source.class_names``)."""
        source = self.info["source"]
        names = source.get("class_names")
        if names is None:
            return tuple(str(k) for k in range(self.num_classes))
        return tuple(str(n) for n in names)

    @property
    def num_classes(self) -> int:
        source = self.info["source"]
        if "num_classes" in source:
            return int(source["num_classes"])
        if source.get("class_names") is not None:
            return len(source["class_names"])
        return int(self._arrays.label.max()) + 1 if len(self) else 0

    def __len__(self) -> int:
        return len(self._arrays.label)

    def __repr__(self) -> str:
        return (
            f"<Split {self.dataset} {self.version} '{self.name}': {len(self)} NeFs x "
            f"{self.num_params} params ({self._field.arch})>"
        )

    # ---------------------------------------------------------------- arrays

    @property
    def params(self):
        """``(N, P)`` float32 flat parameters in layout order (memory-mapped)."""
        return self._arrays.params

    @property
    def labels(self) -> np.ndarray:
        """``(N,)`` int64 class labels."""
        return self._arrays.label

    @property
    def index(self) -> np.ndarray:
        """``(N,)`` int64: each NeF's position in the source dataset."""
        return self._arrays.index

    @property
    def metrics(self) -> dict[str, np.ndarray]:
        """``{name: (N,) float32}`` per-NeF fit metrics (``psnr``, ``psnr_offgrid``, ``iou``, ...)."""
        return dict(self._arrays.metrics)

    def __getitem__(self, i):
        """``(params[i], labels[i])`` for an integer, slice or index array ``i``."""
        return self._arrays.params[i], self._arrays.label[i]

    def _row(self, i: int) -> np.ndarray:
        n = len(self)
        if not isinstance(i, (int, np.integer)) or not -n <= i < n:
            raise ConfigError(f"NeF index {i!r} is out of range for split '{self.name}' ({n} NeFs).")
        return np.asarray(self._arrays.params[int(i) % n])

    def tensors(self, i: int) -> dict[str, np.ndarray]:
        """NeF ``i``'s parameters as ``{name: array}`` in layout order, shapes as in the layout."""
        return self.layout.unflatten(self._row(i))

    def layers(self, i: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """NeF ``i``'s dense stack as ``[(weight, bias), ...]``, input side first.

        ``weight`` has shape ``(in, out)`` and ``bias`` ``(out,)``: layer ``l`` computes
        ``y = x @ weight + bias`` (then the architecture's activation, except after the last).
        The architecture defines the stack (:attr:`arena.nef.FieldInfo.dense_stack`: the
        ``layers.*`` tensors); RFFNet's Fourier embedding and MFN's filters are not in it,
        :meth:`tensors` has every tensor.
        """
        weights, biases = nef.dense_layers(self._row(i), self._field)
        return list(zip(weights, biases))

    def field(self, i: int) -> Callable[[np.ndarray], np.ndarray]:
        """NeF ``i`` as a numpy function ``f(coords (..., in_dim)) -> (..., out_dim)`` float32.

        The forward pass is written in numpy (no JAX needed) and agrees with
        :mod:`arena.fields`' ``apply`` to float32 precision. Coordinates follow the manifest's
        ``signal.coords`` convention (images: pixel centres in [-1, 1], axis order (row, column)).
        """
        return self._field.field(self._row(i))

    def render(self, i: int, *, resolution: int = 64, mesh: bool = True, clip: bool = True):
        """What NeF ``i`` reconstructs.

        Images: the image ``(H, W, C)`` float32 with the manifest's normalisation undone, on the
        source's scale (``[0, 1]`` = 8-bit values / 255), clipped to it when ``clip``.
        Shapes: a :class:`ShapeRender` (occupancy and logits on a ``resolution^3`` grid, and the
        marching-cubes mesh when ``mesh``, which needs PyMCubes from the ``build`` extra).
        """
        signal = self.info.signal
        kind = signal.get("kind")
        if kind == "image":
            return _render.image(self.field(i), signal, clip=clip)
        if kind == "shape":
            return _render.shape(self.field(i), resolution=resolution, mesh=mesh)
        raise ConfigError(f"Cannot render signal kind {kind!r}; the Arena renders 'image' and 'shape'.")

    def to_hf(self):
        """This split as a Hugging Face ``datasets.Dataset`` (needs the ``hf`` extra).

        Columns: ``params`` (``List(Value("float32"), length=P)``), ``label`` (``ClassLabel``
        with :attr:`class_names`), ``index`` (int64) and one float32 column per fit metric.
        The table points at the memory-mapped shards (no copy); the manifest is kept in
        ``info.description``, so ``arena.load(split.to_hf())`` gives this split back.
        """
        from arena.data import _hf

        return _hf.to_hf(self)

    # ---------------------------------------------------------------- batches

    def _gather(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (sorted, int64) of params, read shard by shard into one new array."""
        out = np.empty((len(rows), self.num_params), np.float32)
        cuts = np.searchsorted(rows, self._offsets)
        for s, part in enumerate(self._parts):
            a, b = cuts[s], cuts[s + 1]
            if a == b:
                continue
            local = rows[a:b] - self._offsets[s]
            if local[-1] - local[0] == b - a - 1:  # a contiguous block: one slice copy
                out[a:b] = part[local[0]:local[-1] + 1]
            else:
                np.take(part, local, axis=0, out=out[a:b])
        return out

    def batch_rows(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int | Sequence[int] = 0,
        drop_last: bool = False,
        epoch: int = 0,
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(batch number, rows)`` of every batch of epoch ``epoch``, rows sorted int64.

        The building block of every loader of a split: :meth:`batches` is epoch 0 of it, the
        :meth:`torch` loader's ``k``-th iteration epoch ``k``. With ``shuffle`` the batches'
        membership is a permutation drawn from ``seed`` and ``epoch``; else contiguous blocks.
        Read a batch with :meth:`read_batch`.
        """
        _check_batch_size(batch_size)
        _check_flags(shuffle=shuffle, drop_last=drop_last)
        _check_count("epoch", epoch)
        entropy = _entropy(seed)
        n = len(self)
        order = np.random.default_rng([*entropy, epoch, 0]).permutation(n) if shuffle else None

        def run():
            for b, lo in enumerate(range(0, n, batch_size)):
                hi = min(lo + batch_size, n)
                if drop_last and hi - lo < batch_size:
                    return
                yield b, (np.sort(order[lo:hi]) if shuffle else np.arange(lo, hi, dtype=np.int64))

        return run()

    def read_batch(
        self,
        rows: np.ndarray,
        *,
        transforms: Callable | Sequence[Callable] = (),
        seed: int | Sequence[int] = 0,
        epoch: int = 0,
        number: int = 0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(params (B, P) float32, labels (B,) int64)`` of the sorted ``rows``, transformed as
        batch ``number`` of epoch ``epoch`` (its generator comes from ``seed``, ``epoch`` and
        ``number``), with one gather per shard."""
        _check_count("epoch", epoch)
        _check_count("number", number)
        given = np.asarray(rows)
        if given.size and not np.issubdtype(given.dtype, np.integer):
            raise ConfigError(f"rows must be integer NeF indices; got an array of dtype {given.dtype}.")
        rows = given.astype(np.int64)
        if rows.ndim != 1 or (rows.size and (rows[0] < 0 or rows[-1] >= len(self) or (np.diff(rows) <= 0).any())):
            raise ConfigError(
                f"rows must be increasing NeF indices in [0, {len(self)}) of split '{self.name}'; "
                "batch_rows gives them."
            )
        return self._batch(rows, as_transform(transforms), _entropy(seed), epoch, number)

    def _batch(self, rows: np.ndarray, transform, seed: list[int], epoch: int, number: int):
        params = self._gather(rows)
        if transform is not None:
            rng = np.random.default_rng([*seed, epoch, 1, number])
            params = transform(params, rng)
        return params, self._arrays.label[rows]

    def num_batches(self, batch_size: int, *, drop_last: bool = False) -> int:
        """How many batches :meth:`batches` yields per epoch."""
        _check_batch_size(batch_size)
        return len(self) // batch_size if drop_last else math.ceil(len(self) / batch_size)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int | Sequence[int] = 0,
        transforms: Callable | Sequence[Callable] = (),
        drop_last: bool = False,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch of ``(params (B, P) float32, labels (B,) int64)`` numpy batches.

        Each batch is read with one gather per shard (rows sorted, so reads go forward through
        the memory-mapped files), then ``transforms`` are applied to the whole batch. Within a
        batch, rows are in dataset order; with ``shuffle`` the batches' membership is a random
        permutation of the split.

        Args:
            batch_size: NeFs per batch.
            shuffle: draw the batches from a random permutation (else contiguous blocks).
            seed: an int or a sequence of ints (e.g. ``(run_seed, epoch)``): the same seed gives
                the same batches and the same augmentations. Pass a new one for every epoch.
            transforms: a transform ``t(params, rng)`` or a sequence of them
                (:mod:`arena.data.transforms`); each batch gets its own generator, derived from
                ``seed`` and the batch number.
            drop_last: leave out a last batch smaller than ``batch_size``.
        """
        batches = self.batch_rows(batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
        entropy = _entropy(seed)
        transform = as_transform(transforms)

        def run():
            for number, rows in batches:
                yield self._batch(rows, transform, entropy, 0, number)

        return run()

    def torch(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int | Sequence[int] = 0,
        transforms: Callable | Sequence[Callable] = (),
        drop_last: bool = False,
        num_workers: int = 0,
        **loader_options,
    ):
        """A ``torch.utils.data.DataLoader`` of ``(params (B, P) float32, labels (B,) int64)``.

        The loader iterates a map-style dataset with a batch sampler: each item it fetches is a
        whole batch, gathered and transformed as in :meth:`batches` (no per-NeF collation).
        Every iteration of the loader is a new epoch with its own shuffle and augmentations,
        drawn from ``seed`` and the epoch number: the first equals ``batches(seed=seed)``, and
        a run is reproducible with any ``num_workers`` (the split pickles as its directory and
        name: workers reopen the memory-mapped shards instead of receiving copies). Other keyword arguments go to ``DataLoader``
        (``pin_memory``, ``persistent_workers``, ...).
        """
        require("torch", "eval", "Split.torch()")
        from arena.data import _torch

        _check_batch_size(batch_size)
        _check_flags(shuffle=shuffle, drop_last=drop_last)
        _check_count("num_workers", num_workers)
        if self.root is None and num_workers:
            raise ConfigError(
                f"num_workers={num_workers}: workers reopen a split's files, and this split was read "
                "from a datasets.Dataset, which has none. Use num_workers=0, or arena.load the "
                "dataset by name or directory."
            )
        return _torch.loader(self, batch_size, shuffle=shuffle, seed=_entropy(seed),
                             transform=as_transform(transforms), drop_last=drop_last,
                             num_workers=num_workers, **loader_options)

    def __reduce_ex__(self, protocol):
        """A split with a directory pickles as ``(directory, name)`` and reopens on unpickling
        (headers only, as :func:`arena.load` does); one read from a ``datasets.Dataset`` as is."""
        if self.root is None:
            return super().__reduce_ex__(protocol)
        return _reopen, (self.root, self.name)

    def jax(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int | Sequence[int] = 0,
        transforms: Callable | Sequence[Callable] = (),
        drop_last: bool = False,
        device=None,
    ) -> Iterator:
        """:meth:`batches` as JAX arrays on ``device`` (default: JAX's default device).

        Labels are int32 unless JAX runs with ``jax_enable_x64``.
        """
        jax = _import_jax()
        numpy_batches = self.batches(batch_size, shuffle=shuffle, seed=seed,
                                     transforms=transforms, drop_last=drop_last)

        def run():
            x64 = jax.config.jax_enable_x64
            for params, labels in numpy_batches:
                labels = labels if x64 else labels.astype(np.int32)
                yield jax.device_put(params, device), jax.device_put(labels, device)

        return run()


def _check_batch_size(batch_size) -> None:
    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer; got {batch_size!r}.")


def _check_flags(**flags) -> None:
    """Refuse a flag that is not a bool or the integer 0 or 1 (``shuffle="no"`` would shuffle)."""
    for name, value in flags.items():
        if not (isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1))):
            raise ConfigError(f"{name} must be True or False; got {value!r}.")


def _check_count(name: str, value) -> None:
    """Refuse ``value`` unless it is a non-negative integer (an epoch, a batch number, workers)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{name} must be a non-negative integer; got {value!r}.")


def _entropy(seed) -> list[int]:
    """``seed`` (an int or a sequence of ints, all >= 0) as a list of ints, else :class:`ConfigError`."""
    if isinstance(seed, (int, np.integer)):
        values = [seed]
    elif isinstance(seed, (str, bytes)) or not isinstance(seed, (Sequence, np.ndarray)):
        values = []
    else:
        values = list(seed)
    if not values or any(
        not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0 for v in values
    ):
        raise ConfigError(
            f"seed must be a non-negative integer or a sequence of them; got {seed!r}."
        )
    return [int(v) for v in values]


def _import_jax():
    return require("jax", "build", "JAX arrays from a neural dataset")


def _reopen(root: Path, name: str) -> Split:
    return Split(fmt.open_dataset(root), name)
