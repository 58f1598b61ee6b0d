"""The harness behind ``arena-eval``: protocol v1 (see :mod:`arena.eval.protocol`) in torch.

Data stays in the dataset's memory-mapped shards: each training batch is gathered from them
with one sorted fancy index, transformed as a whole batch (numpy, vectorised) and handed to
torch, so there is no per-sample Python on the hot path.

The test split (labels and parameters) is opened only to score a seed's selected checkpoint,
after its training and selection are over, and let go right after; nothing handed to the model
file's code and no attribute of a harness object holds it while a model is built or trained.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from arena import format as fmt
from arena.data import Split
from arena.errors import ArenaError, ConfigError, DatasetContentError, ModelFileError, require
from arena.eval import _checkpoint, modelfile, result
from arena.eval.protocol import VERSION, Settings
from arena.eval.spec import ModelSpec, dense_stack

EVAL_BATCH = 1024


def evaluate(
    model: str | Path,
    dataset: str | Path,
    *,
    seeds: int = 3,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    weight_decay: float | None = None,
    augment: str | tuple[str, ...] | list[str] | None = None,
    micro_batch_size: int | None = None,
    compile: bool | None = None,
    device: str = "cpu",
    threads: int | None = None,
    progress: bool | Callable[[dict], None] = True,
    checkpoints: str | Path | None = None,
    restart: bool = False,
    checkpoint_every: float = 60.0,
) -> dict[str, Any]:
    """Run evaluation protocol v1 and return the validated ``arena-result/1`` document.

    Args:
        model: a model file path or ``baseline:NAME``.
        dataset: a dataset name, path or URL (anything :func:`arena.load` accepts).
        seeds: run seeds ``0 .. seeds-1``.
        epochs, batch_size, lr, weight_decay, augment: override the model file's ``HPARAMS``
            (``augment=()`` turns augmentation off).
        micro_batch_size: override the model file's ``micro_batch_size``: forward and backward in
            chunks of this many examples, one optimizer step per batch (less memory, same update).
        compile: override the model file's ``compile``: train and evaluate the model through
            ``torch.compile`` (recorded; a compilation failure is one line).
        device: ``"cpu"`` or ``"cuda"``.
        threads: set torch's CPU threads for this process (default: leave torch's choice). On a CPU shared with other
            busy processes, 1 can be many times faster than oversubscribed threads.
        progress: show a progress bar; a callable instead receives one dict per epoch.
        checkpoints: a folder for the run's state (:mod:`arena.eval._checkpoint`): written at the
            end of an epoch when ``checkpoint_every`` seconds have passed since the last write,
            and at the end of every seed. A state left there by an interrupted run of the same
            model, dataset, settings, seeds and device is continued, to the same numbers. An
            interruption (``KeyboardInterrupt``) then says where the run stands. The state
            stays after the document is returned: :func:`discard_checkpoint` removes it once
            the document is safe. None: no state is kept.
        restart: with ``checkpoints``, discard a saved state of this run and start over.
        checkpoint_every: seconds between the writes of a seed in progress.
    """
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"seeds must be a positive integer, not {seeds!r}.")
    # the document is validated at the end: a missing validator must fail now, not after training
    require("jsonschema", "eval", "Validating the result document")
    torch_device = _device(device)
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(f"threads must be a positive integer, not {threads!r}.")
        torch.set_num_threads(threads)
    mf = modelfile.load(model)
    try:
        Settings.resolve(mf.hparams)
    except ConfigError as exc:
        raise ModelFileError(f"{mf.path}: {exc}") from None
    # the file's own HPARAMS are fine: a bad override is the caller's mistake, not the file's
    settings = Settings.resolve(mf.hparams, epochs=epochs, batch_size=batch_size, lr=lr,
                                weight_decay=weight_decay, augment=augment,
                                micro_batch_size=micro_batch_size, compile=compile)
    data = _Data.open(dataset)
    spec = ModelSpec.from_manifest(data.manifest)
    data.check(spec.num_classes)
    to_input = _input_fn(mf.input, spec)
    known = {
        "dataset": {"name": data.manifest.name, "manifest_sha256": data.manifest_sha256},
        "model": {"name": mf.name, "sha256": mf.sha256},
        "protocol": {"version": VERSION, "seeds": seeds, "settings": settings.to_json()},
        "environment": {"device": torch_device.type},
    }
    with contextlib.ExitStack() as stack:
        state = None
        if checkpoints is not None:
            state = stack.enter_context(_checkpoint.RunState(_checkpoint.run_dir(checkpoints, known)))
            if restart:
                state.discard_state()
        saved = state.load() if state is not None else None
        versions = _environment(torch_device)["packages"]
        if saved:
            state.check_versions(saved, versions)
        runs = list(saved["done"]) if saved else []
        stack.enter_context(modelfile.contained(mf.path))  # from here on the model file's code runs
        num_parameters = _check_model(mf, spec, data, to_input, torch_device)
        if state is not None and progress is True:
            _say_where(state, saved, len(runs))
        bar = stack.enter_context(_Progress(progress, seeds, settings.epochs, len(data.train)))
        bar.resumed(len(runs))
        saver = _Saver(state, runs, checkpoint_every, versions, saved["current"] if saved else None)
        try:
            for seed in range(len(runs), seeds):
                resume = saved["current"] if saved and saved["current"] and saved["current"]["seed"] == seed else None
                runs.append(_run_seed(seed, mf, spec, data, settings, to_input, torch_device, bar, saver, resume))
                saver.seed_done()
        except KeyboardInterrupt:
            if state is None:
                raise
            raise Interrupted(saver.where()) from None
        except ArenaError as exc:
            if state is not None and not _out_of_memory(exc):  # continuing would meet it again
                state.discard_state()
            raise
    document = {
        "schema": result.SCHEMA_ID,
        "dataset": {
            "name": data.manifest.name,
            "version": data.manifest.version,
            "manifest_sha256": data.manifest_sha256,
            "num_params": spec.num_params,
            "num_classes": spec.num_classes,
            "num_examples": {s: data.manifest.num_examples(s) for s in ("train", "val", "test")},
        },
        "model": {"name": mf.name, "sha256": mf.sha256, "num_parameters": num_parameters,
                  "input": mf.input},
        "protocol": {"version": VERSION, "seeds": seeds, "settings": settings.to_json()},
        "seeds": runs,
        "summary": result.summarize(runs),
        "environment": _environment(torch_device),
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    result.validate(document)
    return document


class _Data:
    """Train and val, memory-mapped; the test split is opened only by :meth:`open_test`."""

    def __init__(self, files: fmt.DatasetFiles):
        self.files = files
        self.manifest = files.manifest
        self.manifest_sha256 = files.manifest_sha256  # hashed once, when the dataset was opened
        for name in ("train", "val", "test"):
            if name not in self.manifest.splits or self.manifest.num_examples(name) == 0:
                raise ConfigError(f"Dataset at {files.root} has no '{name}' split or an empty one; "
                                  "protocol v1 needs NeFs in train, val and test.")
        self.train = Split(files, "train")
        self.val = Split(files, "val")

    @classmethod
    def open(cls, ref: str | Path) -> _Data:
        from arena import hub

        return cls(fmt.open_dataset(hub.resolve(str(ref))))

    def check(self, num_classes: int) -> None:
        """Train and val hold classes ``0 .. num_classes-1`` and finite parameters."""
        for split in (self.train, self.val):
            _check_split(split, num_classes)

    def open_test(self, num_classes: int) -> Split:
        """Read the test split now, checked: only to score a checkpoint once selection is over."""
        test = Split(self.files, "test")
        _check_split(test, num_classes)
        return test


def _check_split(split: Split, num_classes: int) -> None:
    """Labels within the classes (cross-entropy and accuracy need it), parameters finite."""
    where = f"Dataset at {split.root}: split '{split.name}'"
    fmt.check_labels(split.labels, num_classes, where=where,
                     fix="Fix source.num_classes or the labels; `arena verify` lists every problem.")
    start = 0
    for x, _ in split.batches(8 * EVAL_BATCH, shuffle=False):
        bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
        if len(bad):
            raise DatasetContentError(
                f"{where} has non-finite parameters (NeF {start + int(bad[0])} holds NaN or infinity); "
                "the dataset is damaged: rebuild it or download it again."
            )
        start += len(x)


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda"):
        raise ConfigError(f"device must be 'cpu' or 'cuda', not {name!r}.")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu.")
    return torch.device(name)


def _input_fn(kind: str, spec: ModelSpec) -> Callable[[torch.Tensor], Any]:
    """Flat (B, P) tensor -> the batch the model file asked for with ``INPUT``."""
    if kind == "flat":
        return lambda x: x
    if kind == "layers":
        layout = spec.layout
        pairs = [(layout.slice(w), layout.shape(w), layout.slice(b)) for w, b in dense_stack(spec)]

        def layers(x):
            weights = tuple(x[:, cols].reshape(x.shape[0], *shape) for cols, shape, _ in pairs)
            biases = tuple(x[:, cols] for _, _, cols in pairs)
            return weights, biases

        return layers
    graph = spec.graph
    return graph.batch


def _check_model(mf, spec, data: _Data, to_input, device) -> int:
    """Build the model once and run one small batch: shape and type problems surface here."""
    torch.manual_seed(0)
    net = _build(mf, spec, device)
    x, _ = next(data.train.batches(2, shuffle=False))
    with torch.no_grad():
        out = _forward(mf, net, to_input(torch.from_numpy(x).to(device)))
    if out.device.type != torch.device(device).type:
        raise ModelFileError(f"{mf.path}: forward returned logits on {out.device}, but the evaluation runs on "
                             f"{device}; return them on the device of the input.")
    if out.shape != (x.shape[0], spec.num_classes):
        raise ModelFileError(
            f"{mf.path}: the model returned shape {tuple(out.shape)} for a batch of {x.shape[0]}; "
            f"it must return logits of shape (batch, {spec.num_classes})."
        )
    count = sum(p.numel() for p in net.parameters() if p.requires_grad)
    if count == 0:
        raise ModelFileError(f"{mf.path}: the model has no trainable parameters.")
    return int(count)


def _build(mf, spec, device) -> torch.nn.Module:
    try:
        net = mf.build_model(spec)
    except ArenaError:
        raise
    except Exception as exc:  # noqa: BLE001 - user code
        raise ModelFileError(f"{mf.path}: build_model(spec) raised {modelfile.describe(exc, mf.path)}.") from exc
    if not isinstance(net, torch.nn.Module):
        raise ModelFileError(
            f"{mf.path}: build_model(spec) returned {type(net).__name__}; it must return a torch.nn.Module."
        )
    return net.to(device)


def _forward(mf, net, batch) -> torch.Tensor:
    try:
        out = net(batch)
    except Exception as exc:  # noqa: BLE001 - user code
        if type(exc).__module__.startswith(("torch._dynamo", "torch._inductor")):
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"torch.compile could not compile the model of {mf.path} ({type(exc).__name__}: "
                              f"{message[:300]}); run it without compile.") from exc
        raise ModelFileError(f"{mf.path}: the model's forward raised {modelfile.describe(exc, mf.path)}.") from exc
    if not isinstance(out, torch.Tensor):
        raise ModelFileError(f"{mf.path}: forward returned {type(out).__name__}; it must return a tensor of logits.")
    if not out.is_floating_point():
        raise ModelFileError(f"{mf.path}: forward returned a tensor of {str(out.dtype).removeprefix('torch.')}; "
                             "it must return floating-point logits (e.g. float32), not class indices.")
    return out


def _backward(mf, loss: torch.Tensor) -> None:
    """``loss.backward()``; a failure there is the model's (user code)."""
    try:
        loss.backward()
    except Exception as exc:  # noqa: BLE001 - user code: detached outputs, in-place ops, hooks
        raise ModelFileError(
            f"{mf.path}: backpropagating through the model failed: {modelfile.describe(exc, mf.path)}. "
            "Its logits must depend on its trainable parameters."
        ) from exc


def _step(mf, optimizer, clip: float = 0.0) -> None:
    """Optional gradient-norm clipping and one optimizer step."""
    try:
        if clip > 0:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
    except Exception as exc:  # noqa: BLE001 - user code: hooks, parameters of odd types
        raise ModelFileError(f"{mf.path}: the optimizer step failed: {modelfile.describe(exc, mf.path)}.") from exc


def _transforms(settings: Settings, manifest) -> tuple[list, list]:
    """(train transforms, eval transforms): normalisation for both, augmentation for train."""
    from arena import data

    normalize = [data.Normalize.from_manifest(manifest)] if settings.normalize else []
    augment = []
    for name in settings.augment:
        if name == "permute":
            augment.append(data.PermuteHidden(manifest))
        elif name == "signflip":
            augment.append(data.SignFlip(manifest))
        elif name == "noise":
            augment.append(data.GaussianNoise(settings.noise_std))
        elif name == "dropout":
            augment.append(data.Dropout(settings.dropout))
    # symmetries act on raw weights, then noise/dropout, then normalisation
    return augment + normalize, normalize


def _accuracy(mf, net, split: Split, to_input, eval_transforms, device, when: str) -> float:
    """Accuracy in eval mode; logits that are not finite there are the model's fault, said so."""
    net.eval()
    correct = 0
    with torch.no_grad():
        for x, y in split.batches(EVAL_BATCH, shuffle=False, transforms=eval_transforms):
            logits = _forward(mf, net, to_input(torch.from_numpy(x).to(device)))
            if not bool(torch.isfinite(logits).all()):
                raise ModelFileError(
                    f"{mf.path}: the model's logits on split '{split.name}' are not finite in eval mode "
                    f"({when}); check what model.eval() changes (BatchNorm statistics, dropout)."
                )
            correct += int((logits.argmax(dim=1).cpu().numpy() == y).sum())
    return correct / len(split)


def _train_epoch(mf, net, optimizer, schedule, batches, seed: int, epoch: int, to_input, device, bar,
                 settings: Settings) -> float:
    """One pass over ``batches``; returns the mean training loss over its examples."""
    net.train()
    total, count = 0.0, 0
    for step, (x, y) in enumerate(batches):
        optimizer.zero_grad(set_to_none=True)
        chunk = settings.micro_batch_size or len(y)
        if chunk >= len(y):  # the whole batch: the mean loss, as without micro-batches
            parts = [(x, y, None)]
        else:  # each chunk's summed loss over the whole batch's size: the gradients add up to the mean's
            parts = [(x[i:i + chunk], y[i:i + chunk], len(y)) for i in range(0, len(y), chunk)]
        batch_loss = 0.0
        for xs, ys, size in parts:
            logits = _forward(mf, net, to_input(torch.from_numpy(xs).to(device)))
            target = torch.from_numpy(ys).to(device)
            if size is None:
                loss = torch.nn.functional.cross_entropy(logits, target)
            else:
                loss = torch.nn.functional.cross_entropy(logits, target, reduction="sum") / size
            if not torch.isfinite(loss):
                raise ModelFileError(
                    f"{mf.path}: the training loss became {loss.item()} at epoch {epoch}, step {step} "
                    f"(seed {seed}); lower the learning rate or check the model."
                )
            _backward(mf, loss)
            batch_loss += float(loss.detach())
        _step(mf, optimizer, settings.clip_grad_norm)
        schedule.step()
        total += batch_loss * len(y)
        count += len(y)
        bar.advance(len(y))
    return total / max(count, 1)


def _run_seed(seed, mf, spec, data: _Data, settings: Settings, to_input, device, bar, saver: _Saver,
              resume: dict | None = None) -> dict:
    torch.manual_seed(seed)
    net = _build(mf, spec, device)
    model = torch.compile(net) if settings.compile else net  # the same parameters; states come from net
    optimizer = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay,
                                  amsgrad=settings.amsgrad)
    steps_per_epoch = -(-len(data.train) // settings.batch_size)
    total_steps = steps_per_epoch * settings.epochs
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: settings.lr_factor(step, total_steps, steps_per_epoch))
    train_transforms, eval_transforms = _transforms(settings, data.manifest)
    best = (-1.0, 0, None)  # val accuracy, epoch, state
    epoch_seconds = []
    history = []
    first, elapsed = 1, 0.0
    if resume is not None:  # the state at the end of epoch resume["epoch"], as _Saver wrote it
        net.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        schedule.load_state_dict(resume["schedule"])
        best = (resume["best_val"], resume["best_epoch"], resume["best_model"])
        history, epoch_seconds = list(resume["history"]), list(resume["epoch_seconds"])
        first, elapsed = resume["epoch"] + 1, resume["train_seconds"]
        torch.set_rng_state(resume["rng"])
        if device.type == "cuda" and resume.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(resume["cuda_rng"], device)
        bar.restore(resume["epoch"] * len(data.train))
    t_start = time.perf_counter() - elapsed
    for epoch in range(first, settings.epochs + 1):
        t0 = time.perf_counter()
        batches = data.train.batches(settings.batch_size, shuffle=True, seed=(seed, epoch),
                                     transforms=train_transforms)
        loss = _train_epoch(mf, model, optimizer, schedule, batches, seed, epoch, to_input, device, bar, settings)
        epoch_seconds.append(time.perf_counter() - t0)
        val_acc = _accuracy(mf, model, data.val, to_input, eval_transforms, device, f"seed {seed}, epoch {epoch}")
        history.append({"epoch": epoch, "train_loss": round(loss, 6), "val_accuracy": val_acc,
                        "seconds": round(epoch_seconds[-1], 4)})
        if val_acc > best[0]:
            best = (val_acc, epoch, copy.deepcopy(net.state_dict()))
        if epoch < settings.epochs:
            saver.epoch_done(lambda: {
                "seed": seed, "epoch": epoch, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(), "best_val": best[0], "best_epoch": best[1],
                "best_model": best[2], "history": history, "epoch_seconds": epoch_seconds,
                "train_seconds": time.perf_counter() - t_start, "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            }, seed, epoch)
        bar.epoch(seed, epoch, val_acc, best[0], len(data.train) / epoch_seconds[-1])
    train_seconds = time.perf_counter() - t_start
    net.load_state_dict(best[2])
    # training and selection are over: only now is the test split read, and only this call holds it
    test_acc = _accuracy(mf, model, data.open_test(spec.num_classes), to_input, eval_transforms, device,
                         f"seed {seed}, the checkpoint of epoch {best[1]}")
    return {
        "seed": seed,
        "val_accuracy": best[0],
        "test_accuracy": test_acc,
        "best_epoch": best[1],
        "train_seconds": round(train_seconds, 3),
        "epoch_seconds": round(float(np.mean(epoch_seconds)), 4),
        "history": history,
    }


def _say(message: str) -> None:
    from rich.console import Console

    Console(stderr=True).print(message, highlight=False, soft_wrap=True)


def _say_where(state: _checkpoint.RunState, saved: dict | None, done: int) -> None:
    """One line when a run continues from its checkpoint, or starts beside another run's."""
    if saved:
        current = saved["current"]
        at = f"seed {current['seed']} at epoch {current['epoch'] + 1}" if current else f"seed {done}"
        _say(f"Continuing from the checkpoint in {state.folder}: {done} seed(s) done, {at}.")
        return
    model = state.folder.name.rsplit("-", 1)[0]
    others = sorted(p.parent.name for p in state.folder.parent.glob(f"{model}-*/state.pt") if p.parent != state.folder)
    if others:
        _say(f"Starting afresh: the unfinished run(s) of this model in {state.folder.parent} "
             f"({', '.join(others)}) had other settings, seeds, model file or dataset.")


class Interrupted(KeyboardInterrupt):
    """A checkpointed run was interrupted; the message says where it stands and how to go on."""


def _out_of_memory(exc: BaseException) -> bool:
    """Whether a failure was the machine's memory running out (a later run may well succeed)."""
    cause = exc.__cause__
    if isinstance(cause, MemoryError) or type(cause).__name__ == "OutOfMemoryError":
        return True
    text = str(cause or exc).lower()
    return "out of memory" in text or "can't allocate memory" in text or "cannot allocate memory" in text


class _Saver:
    """Writes the run's state: a seed in progress at most every ``every`` seconds, each finished seed."""

    def __init__(self, state: _checkpoint.RunState | None, runs: list[dict], every: float,
                 versions: dict[str, str] | None = None, current: dict | None = None):
        self.state, self.runs, self.every, self.versions = state, runs, every, dict(versions or {})
        self.last = time.monotonic()
        # (seed, epoch) of the last state written: the loaded one's until this process writes
        self.saved_at: tuple[int, int] | None = (current["seed"], current["epoch"]) if current else None

    def epoch_done(self, current: Callable[[], dict], seed: int, epoch: int) -> None:
        if self.state is None or time.monotonic() - self.last < self.every:
            return
        self.state.save({"done": self.runs, "current": current(), "versions": self.versions})
        self.last, self.saved_at = time.monotonic(), (seed, epoch)

    def seed_done(self) -> None:
        if self.state is None:
            return
        self.state.save({"done": self.runs, "current": None, "versions": self.versions})
        self.last, self.saved_at = time.monotonic(), None

    def where(self) -> str:
        if self.saved_at is None and not self.runs:
            return ("Interrupted before the run's first checkpoint (a minute into a seed, or a finished "
                    "seed): nothing was kept; the same command starts it again.")
        if self.saved_at is not None:
            at = f"seed {self.saved_at[0]} from epoch {self.saved_at[1] + 1}"
        else:
            at = f"seed {len(self.runs)} from its start"
        done = f"{len(self.runs)} seed{'' if len(self.runs) == 1 else 's'} finished"
        return (f"Interrupted: the run's checkpoint ({done}) is in {self.state.folder}; the same command "
                f"continues it at {at} (--restart starts over).")


def discard_checkpoint(checkpoints: str | Path, document: dict[str, Any]) -> None:
    """Remove the state :func:`evaluate` kept under ``checkpoints`` for the run behind ``document``
    (unless another process is running that same run again: the state is then its own)."""
    try:
        with _checkpoint.RunState(_checkpoint.run_dir(checkpoints, document)) as state:
            state.discard()
    except ConfigError:
        pass


def _environment(device: torch.device) -> dict[str, Any]:
    import importlib.metadata as md

    packages = {}
    for name in ("neural-field-arena", "torch", "numpy", "safetensors"):
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    if device.type == "cuda":
        where = f"cuda ({torch.cuda.get_device_name(device)})"
    else:
        n = torch.get_num_threads()
        where = f"cpu ({_cpu_name()}, {n} thread{'' if n == 1 else 's'})"
    return {"packages": packages, "device": where, "python": platform.python_version(),
            "platform": platform.platform()}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class _Progress:
    """Per-epoch events for a callable ``progress``, or the package's bar, one line per seed."""

    def __init__(self, enabled, seeds: int, epochs: int, n_train: int):
        from arena._progress import Bar

        self.callback = enabled if callable(enabled) else None
        self.seeds, self.epochs, self.n_train = seeds, epochs, n_train
        self._bar = Bar(epochs * n_train, enabled=enabled is True, label=f"seed 0 epoch 1/{epochs}",
                        unit="samples", note=True)

    def __enter__(self):
        self._bar.__enter__()
        return self

    def advance(self, k: int) -> None:
        self._bar.advance(k)

    def restore(self, k: int) -> None:
        """Count ``k`` samples a checkpoint holds (in the bar, not the rate)."""
        self._bar.restore(k)

    def resumed(self, done: int) -> None:
        """Move the display past the seeds a checkpoint holds."""
        for seed in range(done):
            self._bar.restore(self.epochs * self.n_train)
            self._bar.note("from the checkpoint")
            self._bar.phase(f"seed {seed + 1} epoch 1/{self.epochs}", self.epochs * self.n_train)

    def epoch(self, seed: int, epoch: int, val: float, best: float, rate: float) -> None:
        if self.callback is not None:
            self.callback({"seed": seed, "epoch": epoch, "val_accuracy": val, "best_val_accuracy": best,
                           "samples_per_second": rate})
        nxt = min(epoch + 1, self.epochs)
        self._bar.note(f"val {100 * val:.2f}% (best {100 * best:.2f}%)",
                       label=f"seed {seed} epoch {nxt}/{self.epochs}")
        if epoch == self.epochs and seed + 1 < self.seeds:
            self._bar.phase(f"seed {seed + 1} epoch 1/{self.epochs}", self.epochs * self.n_train)

    def __exit__(self, *exc):
        self._bar.__exit__(*exc)
