"""``arena list|info|download|push|verify``: the registry, the local store and the hubs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from arena.cli._common import err_console, user_errors


@user_errors
def list_() -> None:
    """The registry's datasets: versions, where each is published, what is built or downloaded here."""
    from arena import hub

    console = Console()
    table = Table("name", "version", "published at", "here")
    entries = hub.registry()
    names = sorted(set(entries) | set(hub.local_names()))
    for name in names:
        entry = entries.get(name)
        built = set(hub.local_versions(name))
        versions = list(entry.releases) if entry is not None else []
        versions += [v for v in sorted(built) if v not in versions]
        downloaded = {_version_of(p) for p in hub.cached(name)} - built
        for version in versions:
            release = entry.releases.get(version) if entry is not None else None
            where = release.where if release is not None and release.published else "not published"
            here = "built" if version in built else "downloaded" if version in downloaded else "-"
            table.add_row(name, version, where, here)
    console.print(table)


@user_errors
def info(
    name: Annotated[str, typer.Argument(help="A dataset name, a dataset directory, hf://... or a URL.")],
) -> None:
    """A dataset's manifest in short: source, signal, field, splits, metrics, where it lives."""
    from arena import hub

    console = Console()
    about = hub.info(name)
    entry, manifest = about.entry, about.manifest
    release = entry.release() if entry is not None and entry.releases else None
    title = f"[bold]{about.name}[/] {manifest.version if manifest else (entry.version if entry else '')}"
    console.print(title, highlight=False)
    if entry is not None and not _is_release(about):
        console.print(f"this copy is not the registry's release of {about.name} (its version or manifest "
                      "differs: a custom build or an import; `arena list` shows both)", highlight=False)
    elif entry is not None and entry.description:
        console.print(entry.description, highlight=False)
    rows: list[tuple[str, str]] = []
    if manifest is not None:
        d = manifest.data
        src, sig, field = d["source"], d["signal"], d["field"]
        classes = f", {src['num_classes']} classes" if "num_classes" in src else ""
        rows += [
            ("source", f"{src.get('name', '?')}{classes}" + (f" ({src['origin']})" if src.get("origin") else "")),
            ("signal", f"{sig.get('kind', '?')} {sig.get('shape', '')}".strip()),
            ("field", f"{field.get('arch', '?')} {_kv(field.get('hparams', {}))}, P = {manifest.num_params:,}"),
            ("splits", " · ".join(f"{s} {manifest.num_examples(s):,}" for s in _ordered(manifest.splits))),
        ]
        metrics = d.get("stats", {}).get("metrics", {})
        if metrics:
            rows.append(("metrics", " · ".join(f"{s} {_kv(metrics[s], 2)}" for s in _ordered(metrics))))
        rows += [("license", d.get("license", "-")), ("manifest", f"sha256 {about.manifest_sha256}"),
                 ("read from", about.location or "-")]
    else:
        rows.append(("manifest", "not available here (not built, not downloaded)"))
    if release is not None:
        published = release.where if release.published else f"not published yet (build it: arena-build {about.name})"
        rows.append(("published", published))
    copies = ", ".join(str(p) for p in about.copies) or "none (arena download NAME, or arena-build NAME)"
    rows.append(("local copies", copies))
    table = Table.grid(padding=(0, 2))
    for key, value in rows:
        table.add_row(f"[bold]{key}[/]", value)
    console.print(table, highlight=False)


@user_errors
def download(
    name: Annotated[str, typer.Argument(help="A dataset name (see `arena list`), hf://datasets/OWNER/NAME[@REV] or a URL.")],
    version: Annotated[Optional[str], typer.Option(help="The version (default: the registry's).")] = None,
    verify: Annotated[bool, typer.Option(help="Re-hash every file already in the cache, and fetch again any that fails.")] = False,
) -> None:
    """Download a published dataset into the local cache, verifying every file's sha256.

    A file already in the cache was hashed when it arrived; later runs trust it while its size,
    mtime and inode are unchanged. --verify re-hashes every cached file.
    """
    from arena import hub

    console = Console()
    path = hub.download(name, version=version, verify=verify)
    console.print(f"[green]downloaded[/] {name} -> {path}", highlight=False)


@user_errors
def push(
    path: Annotated[str, typer.Argument(help="The dataset directory (or the name of a dataset built here).")],
    repo: Annotated[str, typer.Option(help="Target: a Hugging Face dataset repo OWNER/NAME, or an fsspec URL (s3://bucket/path).")],
    force: Annotated[bool, typer.Option(help="Replace the version if the target already has it.")] = False,
    token: Annotated[Optional[str], typer.Option(help="Hugging Face write token (default: HF_TOKEN or the login).")] = None,
) -> None:
    """Publish a dataset: one tagged commit on the Hub, or a copy at a URL (manifest last)."""
    from arena import hub

    console = Console()
    root = Path(path) if Path(path).is_dir() else hub.locate(path)
    pushed = hub.push(root, repo, force=force, token=token)
    console.print(f"[green]pushed[/] {root} -> {repo} ({pushed}); recorded in {hub.home_registry()}",
                  highlight=False)


@user_errors
def verify(
    name_or_path: Annotated[str, typer.Argument(help="A dataset directory, or a dataset name built or downloaded here.")],
    version: Annotated[Optional[str], typer.Option(help="The version of a named dataset.")] = None,
) -> None:
    """Re-hash every file against the manifest; exit 1 naming each bad file."""
    from arena import format as fmt
    from arena import hub

    console = Console()
    root = hub.locate(name_or_path, version=version)
    problems = fmt.verify(root)
    if problems:
        for problem in problems:
            err_console.print(f"[bold red]bad:[/] {problem}", highlight=False, soft_wrap=True)
        err_console.print(f"[bold red]error:[/] {len(problems)} bad file(s) in {root}", highlight=False)
        raise typer.Exit(1)
    count = len(fmt.open_dataset(root).manifest.all_files())
    console.print(f"[green]ok[/] {count} files match their sha256 in {root}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the hub commands to ``app``."""
    app.command("list")(list_)
    app.command()(info)
    app.command()(download)
    app.command()(push)
    app.command()(verify)


def _is_release(about) -> bool:
    """Whether the manifest shown is the registry's release of it (so its description applies)."""
    if about.manifest is None:
        return True
    release = about.entry.releases.get(about.manifest.version)
    pinned = release is not None and release.manifest_sha256 is not None
    return release is not None and (not pinned or release.manifest_sha256 == about.manifest_sha256)


def _kv(mapping: dict, digits: int | None = None) -> str:
    def fmt_value(v):
        return f"{v:.{digits}f}" if digits is not None and isinstance(v, float) else str(v)

    return " ".join(f"{k}={fmt_value(v)}" for k, v in mapping.items())


def _ordered(splits) -> list[str]:
    order = {"train": 0, "val": 1, "test": 2}
    return sorted(splits, key=lambda s: (order.get(s, 3), s))


def _version_of(path: Path) -> str:
    import json

    try:
        return json.loads((path / "arena.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return "?"
