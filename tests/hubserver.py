"""A stand-in Hugging Face Hub for tests: a threaded HTTP server on 127.0.0.1, in memory.

No open-source server of the Hub protocol runs here: the one on PyPI that claims it
(``hf-local-hub``) ships only a client whose server is a separate Go binary, and ``olah`` is a
read-only mirror of huggingface.co. So this file implements, for dataset repositories only, the
part of the protocol that the real ``huggingface_hub`` client (2.x) uses in ``arena.hub``, so
that its real code paths run against it: ``create_repo``, ``list_repo_refs``,
``list_repo_files`` / ``list_repo_tree``, ``create_commit`` (preupload, LFS batch + basic PUT
upload, NDJSON commit), ``create_tag`` / ``delete_tag``, ``repo_info``, ``hf_hub_download``
and ``snapshot_download``. Xet storage is not implemented: clients must run with
``HF_HUB_DISABLE_XET=1`` (``huggingface_hub.constants.HF_HUB_DISABLE_XET``), so uploads use the
LFS protocol and downloads plain HTTP.

Endpoints (``{repo}`` is ``owner/name``, ``{rev}`` a branch, tag or 40-hex commit, URL-quoted):

=======  =====================================================  ===================================
POST     /api/repos/create                                      ``{"name","organization","type"}``;
                                                                 409 + ``{"url"}`` if it exists
GET      /api/datasets/{repo}[/revision/{rev}]                  ``{"id","sha","siblings",...}``
GET      /api/datasets/{repo}/refs                              branches, tags, converts
GET      /api/datasets/{repo}/tree/{rev}[/{path}]               files and folders (``recursive``)
POST     /api/datasets/{repo}/preupload/{rev}                   ``uploadMode`` lfs for
                                                                 ``*.safetensors`` and files over
                                                                 1 MiB, regular otherwise; the
                                                                 remote ``oid`` (no-op detection)
POST     /datasets/{repo}.git/info/lfs/objects/batch            basic transfer: an upload action
                                                                 unless the object is stored
PUT      /lfs-objects/{oid}                                     the LFS object; sha256 checked
POST     /api/datasets/{repo}/commit/{rev}                      NDJSON: header, file (base64),
                                                                 lfsFile, deletedFile,
                                                                 deletedFolder; ``parentCommit``
POST     /api/datasets/{repo}/tag/{rev}                         ``{"tag","message"}``; 409 if it
                                                                 exists
DELETE   /api/datasets/{repo}/tag/{tag}
POST     /api/validate-yaml                                     always valid
HEAD/GET /datasets/{repo}/resolve/{rev}/{path}                  ``ETag`` (git sha1, or sha256 for
                                                                 LFS files), ``X-Repo-Commit``,
                                                                 ``Content-Length``,
                                                                 ``Accept-Ranges``; ``Range:
                                                                 bytes=a-[b]`` -> 206
=======  =====================================================  ===================================

Errors carry ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound) as the Hub's do.
Writes need an ``Authorization: Bearer ...`` header (any token). Not implemented: models and
spaces, pull requests, paths-info, Xet, multipart LFS, pagination (one page), redirects to a CDN.

Test hooks: :meth:`HubServer.drop_once` cuts the connection once in the middle of a file's
download; :meth:`HubServer.corrupt` serves a file with one byte flipped; ``requests`` logs
``(method, path, range header)`` of every request.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"
LFS_THRESHOLD = 2**20


def git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclasses.dataclass(frozen=True)
class Blob:
    size: int
    oid: str  # git blob id (of the LFS pointer, for LFS files)
    sha256: str | None  # set for LFS files

    @property
    def etag(self) -> str:
        return self.sha256 or self.oid


@dataclasses.dataclass
class Repo:
    repo_id: str
    commits: dict = dataclasses.field(default_factory=dict)  # oid -> {path: Blob}
    branches: dict = dataclasses.field(default_factory=dict)
    tags: dict = dataclasses.field(default_factory=dict)


class HubServer:
    """The server; use as a context manager, ``endpoint`` is its base URL."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.content: dict[str, bytes] = {}  # git oid or sha256 -> bytes
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self._drops: dict[str, int] = {}
        self._corrupt: set[str] = set()
        self._counter = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    # test hooks
    def drop_once(self, path: str, after: int) -> None:
        """The next full GET of file ``path`` sends ``after`` bytes, then closes the connection."""
        self._drops[path] = after

    def corrupt(self, path: str) -> None:
        """Serve file ``path`` with its last byte flipped (same size, same headers)."""
        self._corrupt.add(path)

    def file_bytes(self, repo_id: str, rev: str, path: str) -> bytes:
        repo = self.repos[repo_id]
        return self._bytes(repo.commits[self.commit_of(repo, rev)][path])

    # the model
    def commit_of(self, repo: Repo, rev: str) -> str | None:
        if rev in repo.branches:
            return repo.branches[rev]
        if rev in repo.tags:
            return repo.tags[rev]
        return rev if rev in repo.commits else None

    def _bytes(self, blob: Blob) -> bytes:
        return self.lfs[blob.sha256] if blob.sha256 else self.content[blob.oid]

    def _new_commit(self, repo: Repo, parent: str | None, files: dict, message: str) -> str:
        with self._lock:
            self._counter += 1
            counter = self._counter
        tree = sorted((p, b.oid, b.sha256) for p, b in files.items())
        oid = hashlib.sha1(json.dumps([parent, tree, message, counter, time.time()]).encode()).hexdigest()
        repo.commits[oid] = files
        return oid


def _handler(server: HubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # quiet
            pass

        # plumbing
        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
                  ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, data, headers: dict | None = None) -> None:
            self._send(status, json.dumps(data).encode(), headers)

        def _error(self, status: int, code: str | None, message: str, headers: dict | None = None) -> None:
            h = {"X-Error-Message": message, **(headers or {})}
            if code:
                h["X-Error-Code"] = code
            self._json(status, {"error": message}, h)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization", "").startswith("Bearer "):
                return True
            self._error(401, None, "Invalid credentials in Authorization header")
            return False

        def _repo(self, repo_id: str) -> Repo | None:
            repo = server.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository not found: {repo_id}")
            return repo

        def _rev(self, repo: Repo, rev: str) -> str | None:
            commit = server.commit_of(repo, rev)
            if commit is None:
                self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return commit

        def _route(self):
            parts = urlsplit(self.path)
            server.requests.append((self.command, unquote(parts.path), self.headers.get("Range")))
            return [unquote(p) for p in parts.path.strip("/").split("/")], parse_qs(parts.query)

        # verbs
        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            seg, query = self._route()
            if seg[:1] == ["datasets"] and len(seg) >= 6 and seg[3] == "resolve":
                return self._resolve(f"{seg[1]}/{seg[2]}", seg[4], "/".join(seg[5:]))
            if seg[:2] == ["api", "datasets"] and len(seg) >= 4:
                repo = self._repo(f"{seg[2]}/{seg[3]}")
                if repo is None:
                    return
                rest = seg[4:]
                if not rest or rest[0] == "revision":
                    return self._info(repo, rest[1] if len(rest) > 1 else "main")
                if rest[0] == "refs":
                    return self._refs(repo)
                if rest[0] == "tree" and len(rest) >= 2:
                    recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
                    return self._tree(repo, rest[1], "/".join(rest[2:]), recursive)
            self._error(404, None, f"Not found: {self.path}")

        def do_POST(self) -> None:
            seg, _ = self._route()
            body = self._body()
            if seg == ["api", "validate-yaml"]:
                return self._json(200, {"errors": [], "warnings": []})
            if seg == ["api", "repos", "create"]:
                return self._create(json.loads(body))
            if seg[:1] == ["datasets"] and seg[3:] == ["info", "lfs", "objects", "batch"]:
                return self._lfs_batch(f"{seg[1]}/{seg[2].removesuffix('.git')}", json.loads(body))
            if seg[:2] == ["api", "datasets"] and len(seg) >= 6:
                if not self._authorized():
                    return
                repo = self._repo(f"{seg[2]}/{seg[3]}")
                if repo is None:
                    return
                action, rev = seg[4], "/".join(seg[5:])
                if action == "preupload":
                    return self._preupload(repo, rev, json.loads(body))
                if action == "commit":
                    return self._commit(repo, rev, body)
                if action == "tag":
                    return self._tag(repo, rev, json.loads(body))
            self._error(404, None, f"Not found: {self.path}")

        def do_PUT(self) -> None:
            seg, _ = self._route()
            body = self._body()
            if seg[:1] == ["lfs-objects"] and len(seg) == 2:
                if hashlib.sha256(body).hexdigest() != seg[1]:
                    return self._error(400, None, "The uploaded bytes do not match the LFS oid.")
                server.lfs[seg[1]] = body
                return self._send(200)
            self._error(404, None, f"Not found: {self.path}")

        def do_DELETE(self) -> None:
            seg, _ = self._route()
            if seg[:2] == ["api", "datasets"] and len(seg) == 6 and seg[4] == "tag":
                if not self._authorized():
                    return
                repo = self._repo(f"{seg[2]}/{seg[3]}")
                if repo is None:
                    return
                if repo.tags.pop(seg[5], None) is None:
                    return self._error(404, "RevisionNotFound", f"Tag {seg[5]} not found")
                return self._send(200)
            self._error(404, None, f"Not found: {self.path}")

        # endpoints
        def _create(self, payload: dict) -> None:
            if not self._authorized():
                return
            repo_id = f"{payload.get('organization')}/{payload['name']}"
            url = f"{server.endpoint}/datasets/{repo_id}"
            if payload.get("type") != "dataset":
                return self._error(400, None, "This stand-in serves dataset repositories only.")
            if repo_id in server.repos:
                return self._json(409, {"error": "You already created this dataset repo", "url": url})
            repo = Repo(repo_id)
            blob = Blob(len(GITATTRIBUTES), git_oid(GITATTRIBUTES), None)
            server.content[blob.oid] = GITATTRIBUTES
            repo.branches["main"] = server._new_commit(repo, None, {".gitattributes": blob}, "initial commit")
            server.repos[repo_id] = repo
            self._json(200, {"url": url, "name": repo_id})

        def _info(self, repo: Repo, rev: str) -> None:
            commit = self._rev(repo, rev)
            if commit is None:
                return
            files = repo.commits[commit]
            self._json(200, {
                "id": repo.repo_id, "sha": commit, "private": False,
                "siblings": [{"rfilename": p} for p in sorted(files)],
            })

        def _refs(self, repo: Repo) -> None:
            def ref(kind, name, commit):
                return {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": commit}

            self._json(200, {
                "branches": [ref("heads", n, c) for n, c in repo.branches.items()],
                "tags": [ref("tags", n, c) for n, c in repo.tags.items()],
                "converts": [],
            })

        def _tree(self, repo: Repo, rev: str, prefix: str, recursive: bool) -> None:
            commit = self._rev(repo, rev)
            if commit is None:
                return
            base = prefix.rstrip("/") + "/" if prefix else ""
            out, folders = [], set()
            for path, blob in sorted(repo.commits[commit].items()):
                if not path.startswith(base):
                    continue
                rest = path[len(base):]
                if "/" in rest and not recursive:
                    folders.add(base + rest.split("/")[0])
                    continue
                if recursive:
                    parts = rest.split("/")[:-1]
                    folders.update(base + "/".join(parts[: i + 1]) for i in range(len(parts)))
                entry = {"type": "file", "path": path, "size": blob.size, "oid": blob.oid}
                if blob.sha256:
                    entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": 134}
                out.append(entry)
            out += [{"type": "directory", "path": f, "oid": hashlib.sha1(f.encode()).hexdigest()}
                    for f in sorted(folders)]
            self._json(200, out)

        def _preupload(self, repo: Repo, rev: str, payload: dict) -> None:
            commit = self._rev(repo, rev)
            if commit is None:
                return
            current = repo.commits[commit]
            files = []
            for f in payload["files"]:
                lfs = f["path"].endswith(".safetensors") or f["size"] > LFS_THRESHOLD
                old = current.get(f["path"])
                oid = None if old is None else (old.sha256 if lfs else old.oid)
                files.append({"path": f["path"], "uploadMode": "lfs" if lfs else "regular",
                              "shouldIgnore": False, "oid": oid})
            self._json(200, {"files": files})

        def _lfs_batch(self, repo_id: str, payload: dict) -> None:
            if not self._authorized() or self._repo(repo_id) is None:
                return
            objects = []
            for obj in payload["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"]}
                if obj["oid"] not in server.lfs:
                    href = f"{server.endpoint}/lfs-objects/{obj['oid']}"
                    entry["actions"] = {"upload": {"href": href, "header": {}}}
                objects.append(entry)
            self._json(200, {"transfer": "basic", "objects": objects})

        def _commit(self, repo: Repo, rev: str, body: bytes) -> None:
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            header = lines[0]["value"]
            parent = self._rev(repo, rev)
            if parent is None:
                return
            if header.get("parentCommit") and header["parentCommit"] != parent:
                return self._error(412, None, "A commit has happened since. Please refresh and try again.")
            files = dict(repo.commits[parent])
            for item in lines[1:]:
                key, value = item["key"], item["value"]
                if key == "file":
                    data = base64.b64decode(value["content"])
                    blob = Blob(len(data), git_oid(data), None)
                    server.content[blob.oid] = data
                    files[value["path"]] = blob
                elif key == "lfsFile":
                    if value["oid"] not in server.lfs:
                        return self._error(400, None, f"LFS object {value['oid']} was never uploaded.")
                    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{value['oid']}\n"
                    files[value["path"]] = Blob(len(server.lfs[value["oid"]]), git_oid(pointer.encode()), value["oid"])
                elif key == "deletedFile":
                    if files.pop(value["path"], None) is None:
                        return self._error(404, "EntryNotFound", "A file with this name doesn't exist")
                elif key == "deletedFolder":
                    prefix = value["path"].rstrip("/") + "/"
                    files = {p: b for p, b in files.items() if not p.startswith(prefix)}
            oid = server._new_commit(repo, parent, files, header["summary"])
            if rev in repo.branches:
                repo.branches[rev] = oid
            self._json(200, {"commitUrl": f"{server.endpoint}/datasets/{repo.repo_id}/commit/{oid}",
                             "commitOid": oid, "pullRequestUrl": None})

        def _tag(self, repo: Repo, rev: str, payload: dict) -> None:
            commit = self._rev(repo, rev)
            if commit is None:
                return
            if payload["tag"] in repo.tags:
                return self._error(409, None, f"Tag {payload['tag']} already exists")
            repo.tags[payload["tag"]] = commit
            self._json(200, {})

        def _resolve(self, repo_id: str, rev: str, path: str) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            commit = self._rev(repo, rev)
            if commit is None:
                return
            blob = repo.commits[commit].get(path)
            if blob is None:
                return self._error(404, "EntryNotFound", f"{path} does not exist at {rev}",
                                   {"X-Repo-Commit": commit})
            data = server._bytes(blob)
            if path in server._corrupt:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            headers = {"ETag": f'"{blob.etag}"', "X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
            ranged = self.headers.get("Range")
            if ranged:
                start_s, _, end_s = ranged.removeprefix("bytes=").partition("-")
                start, end = int(start_s), int(end_s) if end_s else len(data) - 1
                if start >= len(data):
                    return self._error(416, None, "Range not satisfiable")
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                return self._send(206, data[start:end + 1], headers, "application/octet-stream")
            cut = server._drops.pop(path, None) if self.command == "GET" else None
            if cut is not None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(200, data, headers, "application/octet-stream")

    return Handler

