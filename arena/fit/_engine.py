"""The compiled programs behind :func:`arena.fit.fit`.

A block of NeFs is fit by three jitted programs, each ``vmap``-ped over the NeFs of the block:

- ``start``: initial parameters (shared: broadcast; random: ``init(fold_in(key, i))`` for the
  NeF's global index ``i``) and per-NeF optimizer state;
- ``run``: a ``lax.scan`` over a segment of steps of ``vmap``-ped per-NeF updates (the whole fit
  when no target quality is set), with the state buffers donated;
- ``finish``: final metrics and the flat ``(n, P)`` parameter rows.

The fitter gives every local device its own blocks of the same size (the last one padded) and
runs the same single-device program on each, from one host thread per device, so all devices
work at once. It
does not use an SPMD-partitioned program over a mesh: XLA partitions such a program into HLO
that differs from the single-device one (fusion and operand order), which changes results in the
last bit between one device and several. With one program per block shape, each NeF's arithmetic
is the same whichever block or device it lands on: results are bit-identical across chunkings
and device counts, and each program compiles once per device.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from arena.fit._config import FitConfig


class State(NamedTuple):
    params: Any
    opt_state: Any
    done: jax.Array
    steps: jax.Array
    loss: jax.Array


def keys(seed: int):
    """``(shared, random_init, sample)``: the shared init's key and the roots of the per-NeF streams.

    NeF ``i``'s random init uses ``fold_in(random_init, i)`` and its point sampling
    ``fold_in(fold_in(sample, i), step)``; the two roots are distinct children of the seed's key.
    """
    base = jax.random.key(seed)
    return base, jax.random.fold_in(base, 1), jax.random.fold_in(base, 2)


def shared_init(field, seed: int):
    return field.init(keys(seed)[0])


@functools.lru_cache(maxsize=32)
def programs(field, task, config: FitConfig):
    """``(start, run, finish, segment)`` for one field/task/config (cached, so never re-traced).

    ``start(shared, index)``, ``run(state, data, index, step0)`` (state donated) and
    ``finish(state, data) -> (flat params, metrics, steps, loss)`` take per-NeF arrays with a
    leading block axis; ``run`` advances ``segment`` steps.
    """
    opt = config.optax()
    layout = field.layout()
    _, init_key, sample_key = keys(config.seed)
    frozen = set(getattr(field, "frozen", lambda: ())())
    segment = config.steps if config.target is None else min(config.check_every, config.steps)

    def start_one(shared, index):
        if config.init == "shared":
            params = shared
        else:
            params = field.init(jax.random.fold_in(init_key, index))
        return State(params, opt.init(params), jnp.zeros((), bool), jnp.zeros((), jnp.int32),
                     jnp.zeros((), jnp.float32))

    def run_one(state: State, data, index, step0):
        nef_key = jax.random.fold_in(sample_key, index)
        grad_fn = jax.value_and_grad(lambda p, k: task.loss(field, p, data, k), has_aux=True)

        def body(s: State, t):
            step = step0 + t
            (loss, quality), grads = grad_fn(s.params, jax.random.fold_in(nef_key, step))
            updates, opt_state = opt.update(grads, s.opt_state, s.params)
            if frozen:  # e.g. a fixed Fourier embedding: no update, not even weight decay
                updates = {k: jnp.zeros_like(u) if k in frozen else u for k, u in updates.items()}
            params = optax.apply_updates(s.params, updates)
            if config.target is None:
                return State(params, opt_state, s.done, s.steps + 1, loss), None
            reached = quality >= config.target
            active = ~(s.done | reached) & (step < config.steps)
            # the loss of the step that finds the target met is that of the params kept: recorded too,
            # so a NeF that meets it before any step reports its loss, not the placeholder 0
            record = ~s.done & (step < config.steps)
            keep = functools.partial(jax.tree.map, lambda new, old: jnp.where(active, new, old))
            return State(keep(params, s.params), keep(opt_state, s.opt_state),
                         s.done | reached, s.steps + active, jnp.where(record, loss, s.loss)), None

        state, _ = jax.lax.scan(body, state, jnp.arange(segment))
        return state

    def finish_one(state: State, data):
        flat = layout.flatten_with(state.params, jnp.concatenate)
        return flat, task.metrics(field, state.params, data), state.steps, state.loss

    start = jax.jit(jax.vmap(start_one, in_axes=(None, 0)))
    run = jax.jit(jax.vmap(run_one, in_axes=(0, 0, 0, None)), donate_argnums=(0,))
    finish = jax.jit(jax.vmap(finish_one))
    return start, run, finish, segment


class Executables(NamedTuple):
    start: Any
    run: Any
    finish: Any
    segment: int


@functools.lru_cache(maxsize=64)
def compiled(field, task, config: FitConfig, block: int, data_spec: tuple, device) -> Executables:
    """The three programs compiled ahead of time for ``block`` NeFs on ``device`` (cached).

    Compiling up front, from one thread, matters: when worker threads each hit a jit cache miss
    for their own device while another thread executes, the compile waited for the whole fit.
    ``data_spec`` is ``((name, shape, dtype), ...)`` of one block's data.
    """
    start, run, finish, segment = programs(field, task, config)
    on = jax.sharding.SingleDeviceSharding(device)

    def spec(shape, dtype):
        return jax.ShapeDtypeStruct(shape, dtype, sharding=on)

    shared = jax.tree.map(lambda p: spec(p.shape, p.dtype), jax.eval_shape(lambda: shared_init(field, config.seed)))
    index = spec((block,), jnp.int32)
    data = {name: spec(shape, dtype) for name, shape, dtype in data_spec}
    state = jax.tree.map(lambda s: spec(s.shape, s.dtype), jax.eval_shape(start, shared, index))
    # full float32 matmuls unless TF32 is asked for (GPUs would otherwise default to TF32)
    with jax.default_matmul_precision(config.precision):
        return Executables(
            start=start.lower(shared, index).compile(),
            run=run.lower(state, data, index, spec((), jnp.int32)).compile(),
            finish=finish.lower(state, data).compile(),
            segment=segment,
        )
