"""The host side of the fitter: chunking, device placement, pipelining, progress.

The default block size comes from a working-set budget per device (:data:`CPU_BUDGET_BYTES` on
CPU, :data:`ACCELERATOR_BUDGET_FRACTION` of an accelerator's memory), evened out over the blocks
(:func:`even_block`); the measurements behind the CPU budget are in docs/measurements.md.
"""

from __future__ import annotations

import dataclasses
import math
import time
import queue
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from arena import _xla
from arena._progress import Bar as ProgressBar
from arena.errors import ConfigError
from arena.fit import _engine
from arena.fit._config import FitConfig, check_seed, integer, make_config
from arena.fit.tasks import ImageTask, ShapeTask
from arena.layout import Layout

# Working-set budget per device: on CPU, one that keeps a block's activations in cache;
# accelerators get a share of their memory.
CPU_BUDGET_BYTES = 16 * 2**20
ACCELERATOR_BUDGET_FRACTION = 0.25
# The default block is evened out over the blocks in steps of this fraction of the budget's
# block, so padding the last block wastes little and few block shapes get compiled.
_BLOCK_GRAIN = 16
# NeF indices travel to the device as int32 (the keys of random initialisation and point sampling)
MAX_INDEX = 2**31 - 1


@dataclasses.dataclass
class FitResult:
    """What a fit returns: one row per NeF, in the order of the input signals.

    Attributes:
        params: ``(N, P)`` float32, each row flattened in ``layout`` order.
        metrics: per-NeF final metrics, ``{name: (N,) float32}`` (the task's ``metric_names``).
        steps: ``(N,)`` optimisation steps each NeF took (fewer than ``config.steps`` when it
            reached ``config.target`` early).
        loss: ``(N,)`` the training loss at the last step taken; for a NeF that met ``target``, that of
            its final parameters (also when it met it before any step).
        indices: ``(N,)`` the global indices of the NeFs (the keys of random initialisation).
        init: ``(P,)`` the shared initialisation, or ``None`` for random initialisation.
        layout, field, task, config: what was fit, and how. An image task's ``mean`` and ``std``
            are the normalisation the NeFs were fit with (:meth:`ImageTask.for_images`).
        seconds: wall time of the whole :func:`fit` call, compilation included.
        compile_seconds: the part of ``seconds`` spent compiling the fit's programs (near 0 when
            they were compiled by an earlier call in this process).
    """

    params: np.ndarray
    metrics: dict[str, np.ndarray]
    steps: np.ndarray
    loss: np.ndarray
    indices: np.ndarray
    init: np.ndarray | None
    layout: Layout
    field: Any
    task: Any
    config: FitConfig
    seconds: float
    compile_seconds: float

    @property
    def nef_steps_per_s(self) -> float:
        """Optimisation steps per second over all NeFs, compilation excluded."""
        return float(self.steps.sum()) / max(self.seconds - self.compile_seconds, 1e-9)


def shared_init(field, seed: int) -> np.ndarray:
    """The shared initialisation a fit with ``init="shared"`` and ``seed`` starts every NeF from, ``(P,)``."""
    _check_field(field)
    params = _engine.shared_init(field, check_seed(seed))
    return field.layout().flatten({k: np.asarray(v) for k, v in params.items()})


def process_range(n: int, process_index: int | None = None, process_count: int | None = None):
    """The contiguous ``[start, stop)`` of ``n`` NeFs that this process fits under ``jax.distributed``."""
    i = jax.process_index() if process_index is None else process_index
    k = jax.process_count() if process_count is None else process_count
    return (n * i) // k, (n * (i + 1)) // k


def chunk_per_device(field, task, memory_budget: int | None, device) -> int:
    """How many NeFs one device fits at once, from a working-set budget in bytes."""
    if memory_budget is None:
        if device.platform == "cpu":
            memory_budget = CPU_BUDGET_BYTES
        else:
            stats = device.memory_stats() or {}
            memory_budget = int(stats.get("bytes_limit", 8 * 2**30) * ACCELERATOR_BUDGET_FRACTION)
    layout = field.layout()
    widths = sum(math.prod(s) for name, s in layout if len(s) == 1) + field.hidden
    per_nef = 16 * task.points_per_step * widths + 64 * layout.num_params
    return max(1, int(memory_budget // per_nef))


def even_block(n: int, cap: int, num_devices: int = 1) -> int:
    """The block size that splits ``n`` NeFs into equal blocks of at most ``cap`` NeFs.

    The blocks take as few rounds over ``num_devices`` devices as ``cap`` allows, and the size
    is rounded up to a multiple of ``ceil(cap / 16)``, so one (field, task, config) compiles at
    most 17 block shapes per device whatever ``n`` is. Without this, 70,000 NeFs in blocks of
    20,000 fit 80,000 (the last block padded): 12.5 % of the work wasted.
    """
    for name, value in (("n", n), ("cap", cap), ("num_devices", num_devices)):
        integer(name, value, 1, 2**63 - 1)
    blocks = math.ceil(n / cap)
    blocks = math.ceil(blocks / num_devices) * num_devices
    grain = math.ceil(cap / _BLOCK_GRAIN)
    return min(cap, math.ceil(math.ceil(n / blocks) / grain) * grain)


def default_block(field, task, n: int, devices, memory_budget: int | None = None) -> int:
    """The block :func:`fit` uses for ``n`` signals on ``devices`` when no ``chunk_size`` is given."""
    return even_block(n, chunk_per_device(field, task, memory_budget, devices[0]), len(devices))


def fit(
    field,
    task,
    data: dict[str, np.ndarray],
    *,
    steps: int = FitConfig.steps,
    lr: float = FitConfig.lr,
    optimizer: str = FitConfig.optimizer,
    weight_decay: float = FitConfig.weight_decay,
    init: str = FitConfig.init,
    seed: int = FitConfig.seed,
    target: float | None = FitConfig.target,
    check_every: int = FitConfig.check_every,
    precision: str = FitConfig.precision,
    indices=None,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    devices=None,
    distributed: bool | None = None,
    progress: bool | Callable[[int], None] = True,
) -> FitResult:
    """Fit one NeF per signal in ``data`` (as made by ``task.prepare``).

    Args:
        field: the architecture, e.g. ``fields.Siren(hidden=32, omega0=9.0)``.
        task: an :class:`ImageTask` or :class:`ShapeTask`.
        data: per-NeF arrays with a leading axis of length N.
        steps: optimisation steps per NeF.
        lr, optimizer, weight_decay: ``"adam"`` or ``"adamw"`` (with ``weight_decay``).
        init: ``"shared"``: every NeF starts from ``field.init`` of the seed (returned as
            ``result.init``); ``"random"``: NeF ``i`` starts from ``field.init(fold_in(key, i))``
            for its global index ``i``, whatever the chunking.
        seed: the seed of the initialisation and of the shape tasks' point sampling.
        target: stop fitting a NeF once its training quality reaches this value (PSNR in dB
            for images, batch IoU for shapes); checked every step, with a chunk ending early
            once all its NeFs are done (checked every ``check_every`` steps).
        precision: XLA's matmul precision, ``"float32"`` (exact) or ``"tensorfloat32"``,
            which lets a GPU use TF32 tensor cores (faster, coarser fits; docs/measurements.md,
            ``benchmarks/gpu_check.sh``). CPUs compute float32 either way.
        indices: the global index of each NeF (default ``0..N-1``); pass the source indices
            when fitting a dataset piece by piece.
        chunk_size: NeFs per block (each device fits one block at a time); default from
            ``memory_budget`` (bytes per device; default 16 MiB on CPU, a quarter of an
            accelerator's memory), evened out over the blocks (:func:`even_block`), so it
            depends on N and the device count. Results are bit-identical for a given
            ``chunk_size`` whatever the number of devices or how the signals are split into
            calls: pass one when fitting a dataset piece by piece.
        devices: the devices to shard over (default: all local devices).
        distributed: fit only this process's contiguous share of the signals
            (:func:`process_range`); the default is on when ``jax.distributed`` runs several
            processes. The result then holds this process's rows; ``result.indices`` says which.
        progress: show a progress bar with NeFs/s and ETA; or a callable, called with the
            number of NeFs finished each time a block completes (to drive a caller's bar).
    """
    t0 = time.perf_counter()
    config = make_config(steps=steps, lr=lr, optimizer=optimizer, weight_decay=weight_decay, init=init,
                         seed=seed, target=target, check_every=check_every, precision=precision)
    _check_field(field)
    _check_task(task)
    if not isinstance(data, Mapping):
        raise ConfigError(f"data must be the dict task.prepare(...) returns; got {type(data).__name__}. "
                          "Or use fit_images / fit_shapes, which prepare it.")
    dims = getattr(task, "field_dims", None)
    if dims is not None:
        _check_dims(field, *dims)
    if hasattr(task, "check"):
        task.check(data)
    n = _num_signals(data)
    indices = _indices(indices, n)
    chunk_size = None if chunk_size is None else integer("chunk_size", chunk_size, 1, MAX_INDEX)
    memory_budget = None if memory_budget is None else integer("memory_budget", memory_budget, 1, 2**63 - 1)
    if distributed or (distributed is None and jax.process_count() > 1):
        lo, hi = process_range(n)
        total = n
        data, indices, n = {k: v[lo:hi] for k, v in data.items()}, indices[lo:hi], hi - lo
        if n == 0:
            raise ConfigError(f"Nothing to fit in process {jax.process_index()}: {total} signals over "
                              f"{jax.process_count()} processes leave it none; run fewer processes.")
    if devices is None:
        _xla.hint_once(jax.local_devices())  # a multi-core CPU without use_all_cores(): say so once
    devices = _devices(jax.local_devices() if devices is None else devices)
    block = chunk_size or default_block(field, task, n, devices, memory_budget)
    devices = devices[: math.ceil(n / block)]  # compile only for devices that get work
    data_spec = tuple((k, (block, *v.shape[1:]), v.dtype) for k, v in sorted(data.items()))
    t_compile = time.perf_counter()
    programs = [_engine.compiled(field, task, config, block, data_spec, d) for d in devices]
    compile_seconds = time.perf_counter() - t_compile

    shared = _engine.shared_init(field, config.seed)
    shared_on = [jax.device_put(shared, d) for d in devices]
    layout = field.layout()
    out_params = np.empty((n, layout.num_params), np.float32)
    out_metrics = {name: np.empty((n,), np.float32) for name in task.metric_names}
    out_steps = np.empty((n,), np.int32)
    out_loss = np.empty((n,), np.float32)

    def fit_block(lo: int, slot: int):
        hi = min(lo + block, n)
        take = np.minimum(np.arange(lo, lo + block), hi - 1)  # pad the last block
        device = devices[slot]
        block_data = jax.device_put({k: v[take] for k, v in data.items()}, device)
        block_idx = jax.device_put(indices[take].astype(np.int32), device)
        prog = programs[slot]
        state = prog.start(shared_on[slot], block_idx)
        for step0 in range(0, config.steps, prog.segment):
            state = prog.run(state, block_data, block_idx, jax.device_put(np.int32(step0), device))
            if config.target is not None and bool(state.done.all()):
                break
        return lo, hi, jax.device_get(prog.finish(state, block_data))

    # One worker thread per device, each fitting one block at a time on its own device: JAX
    # releases the GIL while a program runs, so all devices compute at once.
    slots: queue.SimpleQueue = queue.SimpleQueue()
    for slot in range(len(devices)):
        slots.put(slot)

    def work(lo: int):
        slot = slots.get()
        try:
            return fit_block(lo, slot)
        finally:
            slots.put(slot)

    def collect(lo, hi, result):
        flat, mets, taken, loss = result
        out_params[lo:hi] = flat[: hi - lo]
        for name in task.metric_names:
            out_metrics[name][lo:hi] = mets[name][: hi - lo]
        out_steps[lo:hi] = taken[: hi - lo]
        out_loss[lo:hi] = loss[: hi - lo]
        bar.advance(hi - lo)

    with ProgressBar(n, enabled=progress, label=f"fitting {field.arch}") as bar, \
            ThreadPoolExecutor(len(devices), thread_name_prefix="arena-fit") as pool:
        futures = [pool.submit(work, lo) for lo in range(0, n, block)]
        try:
            for future in futures:
                collect(*future.result())
        except BaseException:
            for future in futures:
                future.cancel()
            raise

    init_row = layout.flatten({k: np.asarray(v) for k, v in shared.items()})
    return FitResult(
        params=out_params,
        metrics=out_metrics,
        steps=out_steps,
        loss=out_loss,
        indices=indices,
        init=init_row if init == "shared" else None,
        layout=layout,
        field=field,
        task=task,
        config=config,
        seconds=time.perf_counter() - t0,
        compile_seconds=compile_seconds,
    )


def fit_images(field, images, *, mean=None, std=None, **kwargs) -> FitResult:
    """Fit one NeF per image; ``images`` ``(N, H, W[, C])`` uint8 or floats in [0, 1].

    ``field`` must have ``in_dim=2`` and ``out_dim`` equal to the channels. ``mean`` and ``std``
    (per channel, [0, 1] scale) normalise the values; left out, they are the images' own
    statistics (:func:`arena.fit.tasks.image_stats`), recorded in ``result.task``. See
    :func:`fit` for the other keyword arguments, and :class:`ImageTask` for coordinates and
    normalisation.
    """
    _check_field(field)
    task = ImageTask.for_images(images, mean=mean, std=std)
    _check_dims(field, 2, task.channels)
    return fit(field, task, task.prepare(images), **kwargs)


def fit_shapes(
    field,
    points,
    occupancy,
    eval_points,
    eval_occupancy,
    offgrid_points,
    offgrid_occupancy,
    *,
    points_per_step: int = 8192,
    **kwargs,
) -> FitResult:
    """Fit one occupancy NeF per shape from its point pool; see :class:`ShapeTask`."""
    task = ShapeTask(points_per_step=points_per_step)
    _check_field(field)
    _check_dims(field, 3, 1)
    data = task.prepare(points, occupancy, eval_points, eval_occupancy, offgrid_points, offgrid_occupancy)
    return fit(field, task, data, **kwargs)


def _check_field(field) -> None:
    if isinstance(field, type):
        raise ConfigError(f"Pass a field, not its class: e.g. fields.{field.__name__}(hidden=32), not "
                          f"fields.{field.__name__}.")
    missing = [a for a in ("in_dim", "out_dim", "layout", "init", "apply") if not hasattr(field, a)]
    if missing:
        raise ConfigError(f"Expected a field of arena.fields, e.g. fields.Siren(hidden=32, omega0=9.0); got "
                          f"{type(field).__name__}, which has no {', '.join(missing)}.")


def _check_task(task) -> None:
    if isinstance(task, type):
        raise ConfigError(f"Pass a task, not its class: e.g. {task.__name__}.for_images(images) or "
                          "ShapeTask(points_per_step=8192).")
    missing = [a for a in ("prepare", "loss", "metrics", "metric_names", "points_per_step") if not hasattr(task, a)]
    if missing:
        raise ConfigError(f"Expected a task (arena.fit.ImageTask or ShapeTask); got {type(task).__name__}, "
                          f"which has no {', '.join(missing)}.")


def _indices(indices, n: int) -> np.ndarray:
    """The NeFs' global indices, ``(n,)`` int64 from 0 to :data:`MAX_INDEX` (default ``0..n-1``)."""
    if indices is None:
        return np.arange(n, dtype=np.int64)
    try:
        raw = np.asarray(indices)
    except ValueError:  # a ragged nest of lists
        raw = np.asarray(None)
    if raw.shape != (n,):
        raise ConfigError(f"indices must have shape ({n},); got {raw.shape}.")
    whole = raw.dtype.kind in "iu" or (raw.dtype.kind == "f" and np.isfinite(raw).all()
                                        and (raw == np.round(raw)).all())
    if not whole or raw.min() < 0 or raw.max() > MAX_INDEX:
        if raw.dtype.kind == "f":
            bad = raw[~np.isfinite(raw) | (raw != np.round(raw)) | (raw < 0) | (raw > MAX_INDEX)]
        elif raw.dtype.kind in "iu":
            bad = raw[(raw < 0) | (raw > MAX_INDEX)]
        else:
            bad = raw
        raise ConfigError(f"indices must be integers from 0 to {MAX_INDEX} (the NeFs' global indices: keys of "
                          f"their random init and point draws); got {bad.flat[0].item()!r} ({raw.dtype}).")
    return raw.astype(np.int64)


def _devices(given) -> tuple:
    try:
        devices = tuple(given)
    except TypeError:
        devices = ()
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise ConfigError(f"devices must be a non-empty list of JAX devices, e.g. jax.local_devices()[:1]; got "
                          f"{given!r:.120}.")
    return devices


def _check_dims(field, in_dim: int, out_dim: int) -> None:
    if field.in_dim != in_dim or field.out_dim != out_dim:
        raise ConfigError(
            f"This task needs a field with in_dim={in_dim}, out_dim={out_dim}; got "
            f"in_dim={field.in_dim}, out_dim={field.out_dim}."
        )


def _num_signals(data: dict[str, np.ndarray]) -> int:
    sizes = {k: len(v) for k, v in data.items()}
    if len(set(sizes.values())) != 1:
        raise ConfigError(f"All signal arrays need the same length; got {sizes}.")
    n = next(iter(sizes.values()))
    if n == 0:
        raise ConfigError("Nothing to fit: no signals were given.")
    return n


