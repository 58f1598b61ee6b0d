"""``arena list|info|download|push|verify``: the registry, the local store and the hubs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from arena.cli._common import err_console, user_errors

LIST_WIDE = 120  # `arena list` shows every column from this console width on


JsonFlag = Annotated[bool, typer.Option("--json", help="Print a JSON document instead of a table.")]


@user_errors
def list_(json_: JsonFlag = False) -> None:
    """The registry's datasets: versions, where published, what is here, NeFs, parameters, size.

    Per version: where it is published, whether it is built or downloaded here, NeFs per split
    (from the registry when not here), parameters per NeF, classes and size (arena.json and
    every file it lists). --json prints the same as a JSON document (format arena-list/1).
    """
    from arena import hub

    rows = []
    entries = hub.registry()
    for name in sorted(set(entries) | set(hub.local_names())):
        entry = entries.get(name)
        built = set(hub.local_versions(name))
        versions = list(entry.releases) if entry is not None else []
        versions += [v for v in sorted(built) if v not in versions]
        downloaded = {_version_of(p): p for p in reversed(hub.cached(name))}  # builds come first
        for version in versions:
            release = entry.releases.get(version) if entry is not None else None
            path = hub.local_path(name, version) if version in built else downloaded.get(version)
            here = "built" if version in built else "downloaded" if path is not None else None
            published = release.where if release is not None and release.published else None
            rows.append({"name": name, "version": version, "published_at": published, "here": here,
                         "path": None if path is None else str(path),
                         **_sizes(_manifest_at(path), release)})
    if json_:
        _print_json({"format": "arena-list/1", "datasets": rows})
        return
    console = Console()
    wide = console.width >= LIST_WIDE  # an 80-column terminal gets what tells datasets apart, unbroken
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("version", no_wrap=True)
    if wide:
        table.add_column("published at")
    table.add_column("here")
    table.add_column("NeFs train/val/test", no_wrap=True)
    if wide:
        table.add_column("params")
        table.add_column("classes")
    table.add_column("size", no_wrap=True)
    for row in rows:
        cells = [row["name"], row["version"] if wide else _wrapped_version(row["version"]), *([row["published_at"] or "not published"] if wide else []),
                 row["here"] or "-", _split_counts(row["num_examples"]),
                 *([_number(row["num_params"]), _number(row["num_classes"])] if wide else []), _bytes(row["bytes"])]
        table.add_row(*cells)
    console.print(table)
    if not wide:
        console.print("(a wider terminal adds published at, params and classes; or arena info NAME)")


def _wrapped_version(version: str, width: int = 12) -> str:
    """A long version broken into lines after its ``+`` and ``.`` (never inside a part), each at
    most ``width`` characters where the parts allow."""
    lines = [""]
    for part in re.findall(r"[^+.]*[+.]?", version):
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += part
    return "\n".join(line for line in lines if line)


@user_errors
def info(
    name: Annotated[str, typer.Argument(help="A dataset name, a dataset directory, hf://... or a URL.")],
    json_: JsonFlag = False,
) -> None:
    """A dataset in short: source, field, NeFs per split, parameters, classes, size, where it lives.

    For a dataset not built or downloaded here, the split sizes come from the registry. --json
    prints a JSON document (format arena-info/1) whose keys are always present, null where unknown.
    """
    from arena import hub

    about = hub.info(name)
    if json_:
        _print_json(_info_document(about))
        return
    console = Console()
    entry, manifest = about.entry, about.manifest
    release = entry.release() if entry is not None and entry.releases else None
    sizes = _sizes(manifest, release)
    title = f"[bold]{about.name}[/] {manifest.version if manifest else (entry.version if entry else '')}"
    console.print(title, highlight=False)
    if entry is not None and not _is_release(about):
        console.print(f"this copy is not the registry's release of {about.name} (its version or manifest "
                      "differs: a custom build or an import; `arena list` shows both)", highlight=False)
    elif entry is not None and entry.description:
        console.print(entry.description, highlight=False)
    rows: list[tuple[str, str]] = []
    if manifest is not None:
        classes = f", {sizes['num_classes']} classes" if sizes["num_classes"] is not None else ""
        where = "on disk" if _is_local(about) else "to download"
        origin = f" ({manifest.source_origin})" if manifest.source_origin else ""
        shape = list(manifest.signal_shape) if manifest.signal_shape else ""
        rows += [
            ("source", f"{manifest.source_name or '?'}{classes}{origin}"),
            ("signal", f"{manifest.signal_kind or '?'} {shape}".strip()),
            ("field", f"{manifest.arch or '?'} {_kv(manifest.hparams)}, P = {manifest.num_params:,} parameters per NeF"),
            ("splits", " · ".join(f"{s} {manifest.num_examples(s):,}" for s in _ordered(manifest.splits)) + " NeFs"),
            ("size", f"{_bytes(sizes['bytes'])} {where}"),
        ]
        metrics = manifest.metrics
        if metrics:
            rows.append(("metrics", " · ".join(f"{s} {_kv(metrics[s], 2)}" for s in _ordered(metrics))))
        rows += [("license", manifest.license or "-"), ("manifest", f"sha256 {about.manifest_sha256}"),
                 ("read from", about.location or "-")]
    else:
        if sizes["num_examples"]:
            counts = " · ".join(f"{s} {n:,}" for s, n in sizes["num_examples"].items())
            rows.append(("splits", f"{counts} NeFs (the registry's release; not built or downloaded here)"))
        rows.append(("manifest", "not available here (not built, not downloaded)"))
    if release is not None:
        published = release.where if release.published else f"not published yet (build it: arena-build {about.name})"
        rows.append(("published", published))
    copies = ", ".join(str(p) for p in about.copies) or "none (arena download NAME, or arena-build NAME)"
    rows.append(("local copies", copies))
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # paths and hashes wrap whole, never cut to "…"
    for key, value in rows:
        table.add_row(Text(key, style="bold"), Text(value))  # a value is never rich markup
    console.print(table, highlight=False)


def _info_document(about) -> dict:
    """``arena info --json``: every key always present, ``null`` where unknown."""
    entry, manifest = about.entry, about.manifest
    release = entry.release() if entry is not None and entry.releases else None
    known = manifest is not None
    sizes = _sizes(manifest, release)
    return {
        "format": "arena-info/1",
        "name": about.name,
        "version": manifest.version if manifest is not None else (entry.version if entry else None),
        "description": entry.description if entry is not None else None,
        "is_release": entry is not None and _is_release(about),
        **sizes,
        "num_examples_from": "manifest" if manifest is not None else "registry" if release is not None else None,
        "bytes_on_disk": sizes["bytes"] if _is_local(about) else None,
        "source": manifest.source_name if known else None,
        "signal": manifest.signal if known else None,
        "arch": manifest.arch if known else None,
        "hparams": manifest.hparams if known else None,
        "metrics": manifest.metrics if known else None,
        "license": manifest.license if known else None,
        "manifest_sha256": about.manifest_sha256,
        "read_from": about.location,
        "published_at": release.where if release is not None and release.published else None,
        "local_copies": [str(p) for p in about.copies],
    }


def _sizes(manifest, release) -> dict:
    """NeFs per split, parameters per NeF, classes and bytes: from the manifest when there is
    one, else the split sizes the registry's release lists."""
    if manifest is None:
        counts = dict(release.num_examples) if release is not None and release.num_examples else None
        return {"num_examples": _ordered_counts(counts), "num_params": None, "num_classes": None, "bytes": None}
    classes = manifest.num_classes
    listed = sum(e.bytes for e in manifest.all_files()) + len(manifest.dumps().encode("utf-8"))
    return {"num_examples": _ordered_counts({s: manifest.num_examples(s) for s in manifest.splits}),
            "num_params": manifest.num_params, "num_classes": classes, "bytes": listed}


def _manifest_at(path: Path | None):
    from arena import format as fmt
    from arena.errors import ArenaError

    if path is None:
        return None
    try:
        return fmt.Manifest.load(path)
    except (ArenaError, OSError):
        return None


def _is_local(about) -> bool:
    return about.location is not None and Path(about.location).is_dir()


def _ordered_counts(counts: dict | None) -> dict | None:
    return None if counts is None else {s: int(counts[s]) for s in _ordered(counts)}


def _split_counts(counts: dict | None) -> str:
    if not counts:
        return "-"
    if tuple(counts) == ("train", "val", "test"):
        return "/".join(f"{n:,}" for n in counts.values())
    return " · ".join(f"{s} {n:,}" for s, n in counts.items())


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _bytes(value: int | None) -> str:
    if value is None:
        return "-"
    if value < 1000:
        return f"{value} B"
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


def _print_json(document: dict) -> None:
    import json

    typer.echo(json.dumps(document, indent=2, sort_keys=True))


@user_errors
def download(
    name: Annotated[str, typer.Argument(help="A dataset name (see `arena list`), hf://datasets/OWNER/NAME\\[@REV] or a URL.")],
    version: Annotated[Optional[str], typer.Option(help="The version (default: the registry's).")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Re-hash every file already in the cache, and fetch again any that fails.")] = False,
) -> None:
    """Download a published dataset into the local cache, verifying every file's sha256.

    A file already in the cache was hashed when it arrived; later runs trust it while its size,
    mtime and inode are unchanged. --verify re-hashes every cached file.
    """
    from arena import hub

    path = hub.download(name, version=version, verify=verify)
    Console(soft_wrap=True).print(f"[green]downloaded[/] {name} -> {path}", highlight=False)


@user_errors
def push(
    path: Annotated[str, typer.Argument(help="The dataset directory (or the name of a dataset built here).")],
    repo: Annotated[str, typer.Option(help="Target: a Hugging Face dataset repo OWNER/NAME, or an fsspec URL (s3://bucket/path).")],
    force: Annotated[bool, typer.Option("--force", help="Replace the version if the target already has it.")] = False,
    token: Annotated[Optional[str], typer.Option(help="Hugging Face write token (default: HF_TOKEN or the login).")] = None,
) -> None:
    """Publish a dataset: one tagged commit on the Hub, or a copy at a URL (manifest last)."""
    from arena import hub

    root = Path(path) if Path(path).is_dir() else hub.locate(path)
    pushed = hub.push(root, repo, force=force, token=token)
    Console(soft_wrap=True).print(f"[green]pushed[/] {root} -> {repo} ({pushed}); recorded in {hub.home_registry()}",
                                  highlight=False)


@user_errors
def verify(
    name_or_path: Annotated[str, typer.Argument(help="A dataset directory, or a dataset name built or downloaded here.")],
    version: Annotated[Optional[str], typer.Option(help="The version of a named dataset.")] = None,
) -> None:
    """Re-hash every file against the manifest and check the shards' contents; exit 1 naming each problem.

    Contents: row counts against the manifest, labels against the classes, and source indices
    repeated within a split or shared between splits (leakage).
    """
    from rich.markup import escape

    from arena import format as fmt
    from arena import hub

    console = Console(soft_wrap=True)  # one line each, however long the path: scripts read them
    root = hub.locate(name_or_path, version=version)
    problems = fmt.verify(root)
    if problems:
        for problem in problems:
            err_console.print(f"[bold red]bad:[/] {escape(str(problem))}", highlight=False, soft_wrap=True)
        err_console.print(f"[bold red]error:[/] {len(problems)} problem(s) in {escape(str(root))}", highlight=False,
                          soft_wrap=True)
        raise typer.Exit(1)
    count = len(fmt.open_dataset(root).manifest.all_files())
    console.print(f"[green]ok[/] {count} files match their sha256, and their contents check out, in {escape(str(root))}",
                  highlight=False)


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
