"""``arena-eval``: evaluation protocol v1 on a neural dataset."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from arena.cli import _help
from arena.cli._common import err_console, plain_warnings, print_error, user_errors

app = typer.Typer(add_completion=False, context_settings=_help.CONTEXT)


@app.command(cls=_help.Command)
@user_errors
def evaluate(
    model: Annotated[str, typer.Argument(help="A model file (MODEL.py defining build_model(spec)) or baseline:NAME (mlp, gnn, dws, transformer).")],
    dataset: Annotated[str, typer.Option(help="Neural dataset: a name (neural_digits), a path or a URL.")] = "neural_digits",
    seeds: Annotated[int, typer.Option(help="Run seeds 0..S-1.")] = 3,
    epochs: Annotated[Optional[int], typer.Option(help="Override the model file's epochs.")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Override the model file's batch size.")] = None,
    lr: Annotated[Optional[float], typer.Option(help="Override the model file's learning rate.")] = None,
    weight_decay: Annotated[Optional[float], typer.Option(help="Override the model file's weight decay.")] = None,
    augment: Annotated[Optional[str], typer.Option(help="Override the model file's augmentations: a comma-separated list of permute, signflip, noise, dropout, or none.")] = None,
    micro_batch_size: Annotated[Optional[int], typer.Option(help="Forward and backward each batch in chunks of this many examples, one optimizer step per batch: the same update in less memory, BatchNorm aside (recorded; 0: whole batches).")] = None,
    compile: Annotated[bool, typer.Option("--compile", help="Train and evaluate through torch.compile: the same model in fused kernels (recorded; the first steps compile).")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option(help="torch CPU threads (default: torch's choice; 1 is best on a busy shared CPU).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Where to write the arena-result/1 JSON (default: a file per dataset and model under $ARENA_HOME/results).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    submit: Annotated[bool, typer.Option("--submit", help="Also file the result on the leaderboard, as a folder under LEADERBOARD/submissions (needs --name and at least 3 seeds; checked before training).")] = False,
    name: Annotated[Optional[str], typer.Option(help="With --submit: the method's name on the leaderboard; its slug names the folder.")] = None,
    authors: Annotated[Optional[list[str]], typer.Option(help="With --submit: an author (repeat for several).")] = None,
    code_url: Annotated[Optional[str], typer.Option(help="With --submit: the code's http(s) URL (the method links to it).")] = None,
    paper_url: Annotated[Optional[str], typer.Option(help="With --submit: the paper's http(s) URL.")] = None,
    contact: Annotated[Optional[str], typer.Option(help="With --submit: an e-mail address or handle.")] = None,
    note: Annotated[Optional[str], typer.Option(help="With --submit: a free-text note shown on the page.")] = None,
    leaderboard: Annotated[Path, typer.Option(help="With --submit: the leaderboard folder.")] = Path("leaderboard"),
    force: Annotated[bool, typer.Option("--force", help="With --submit: replace this method's submission on this dataset.")] = False,
    restart: Annotated[bool, typer.Option("--restart", help="Start over instead of continuing an interrupted run of the same model, dataset, settings and seeds.")] = False,
) -> None:
    """Train on train, select on val, report test: protocol v1, one arena-result/1 document.

    No result is written unless the whole run succeeds. The run keeps a checkpoint in
    $ARENA_HOME/runs (each finished seed, and the seed in progress every minute); after an
    interruption the same command continues it to the same numbers, and the checkpoint is
    removed once the result is written.
    """
    from arena import hub
    from arena.eval import _memory
    from arena.eval import evaluate as run
    from arena.eval import result
    from arena.eval._checkpoint import default_root
    from arena.eval.harness import Interrupted, discard_checkpoint
    from arena.eval.protocol import parse_augment
    from arena.leaderboard import from_options

    if out is not None:
        result.check_target(out)
    pending = from_options(model, submit=submit, name=name, authors=authors, code_url=code_url,
                           paper_url=paper_url, contact=contact, note=note, seeds=seeds,
                           dataset=dataset, root=leaderboard, force=force)
    augmentations = None if augment is None else parse_augment(augment)
    _memory.apply_for_command()  # the graph baselines' big activations: no mmap/munmap per step
    checkpoints = default_root()
    try:
        document = run(model, dataset, seeds=seeds, epochs=epochs, batch_size=batch_size, lr=lr,
                       weight_decay=weight_decay, augment=augmentations, micro_batch_size=micro_batch_size,
                       compile=compile or None, device=device, threads=threads,
                       progress=not quiet, checkpoints=checkpoints, restart=restart)
    except KeyboardInterrupt as exc:  # Interrupted says where the run stands; a bare one came before training
        err_console.print(str(exc) if isinstance(exc, Interrupted) else "Interrupted before training began.",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    path = out or result.default_path(hub.home() / "results", document)
    result.write(document, path)
    result.print_summary(document, path)
    if pending is not None:
        typer.echo(f"submission: {pending.write(document)}")
    discard_checkpoint(checkpoints, document)


_CHILD = "ARENA_EVAL_CHILD"  # set in the process that runs the evaluation: its report pipe


def main() -> None:
    """The console script: the evaluation runs in a child process, so that model code which ends
    the interpreter (``os._exit``) or a process the system kills (out of memory) is reported in
    one line instead of ending ``arena-eval`` silently."""
    report = os.environ.pop(_CHILD, None)
    if report is None:
        sys.exit(_supervise())
    plain_warnings()
    os.set_inheritable(int(report), False)  # programs this one starts do not hold the pipe
    try:
        app(prog_name="arena-eval")
    finally:  # every way out of Python but os._exit and signals: the supervisor hears it
        os.write(int(report), b"1")


def _supervise() -> int:
    """Run this command in a child process; its exit status, or one line when it ended early."""
    import signal
    import subprocess

    read, write = os.pipe()
    # sys.path as the console script has it: not the working directory, whose files would shadow modules
    code = "import sys; sys.path.pop(0); from arena.cli.eval import main; main()"
    child = subprocess.Popen([sys.executable, "-c", code, *sys.argv[1:]],
                             env={**os.environ, _CHILD: str(write)}, pass_fds=(write,))
    os.close(write)

    def forward(signum, _frame):
        if signum != signal.SIGINT or not _from_terminal():
            child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    status = child.wait()
    os.set_blocking(read, False)  # a process the child forked may still hold the pipe open
    try:
        finished = os.read(read, 1) == b"1"
    except BlockingIOError:
        finished = False
    os.close(read)
    if status >= 0 and finished:
        return status
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        why = (" (on Linux most often the out-of-memory killer: lower --batch-size or set --micro-batch-size)"
               if -status == signal.SIGKILL else "")
        when = "after it finished" if finished else "before it finished; the same command continues from its last checkpoint, if it saved one"
        print_error(f"the evaluation was killed by {name}{why} {when}.")
        return 128 - status
    print_error(f"the evaluation ended before it finished (exit status {status}) without an error message: "
                "model code that calls os._exit does this (a model file must return or raise, never exit), as "
                "does a Python that cannot start arena-eval. No result was written.")
    return status or 1


def _from_terminal() -> bool:
    """Whether this process is in its terminal's foreground group: a Ctrl-C there reaches the child
    too, so a SIGINT is not forwarded a second time."""
    for stream in (sys.stdin, sys.stderr, sys.stdout):
        try:
            if stream is not None and stream.isatty():
                return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
        except (OSError, ValueError):
            continue
    return False
