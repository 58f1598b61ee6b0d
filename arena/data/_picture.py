"""Pictures of NeFs: captioned panels, rows and columns of them, and shaded views of meshes.

Every picture is a ``uint8`` RGB array ``(H, W, 3)`` (grey ``(H, W)`` or ``(H, W, 1)`` inputs are
turned into RGB) on a white background; :func:`png` encodes one. Text is drawn with Pillow's
built-in font, in ASCII: Pillow writes the PNG files anyway (the ``build`` extra), and is
imported only when text is drawn or a PNG is encoded, so ``import arena`` does not load it.

:func:`mesh_view` is a z-buffer rasteriser in numpy: an orthographic view from above and to
the side, each triangle flat-shaded by the angle between its normal and the light, lit from
either side (the raw CAD meshes of ModelNet and ShapeNet have no consistent orientation).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence

import numpy as np

BACKGROUND = 255
INK = 24
GAP = 6
_PAD = 3  # pixels around a text block
_MAX_CANDIDATES = 1 << 22  # pixel tests per rasteriser step
_UP = {"modelnet10": 2, "shapenet": 1}  # the axis a source's meshes stand along


def up_axis(source: str | None) -> int:
    """The axis that points up in the meshes of ``source``: z (2) for ModelNet, y (1) for
    ShapeNet, z for any other."""
    return _UP.get(source, 2)


def rgb(image: np.ndarray) -> np.ndarray:
    """``image`` (uint8 ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``) as RGB ``(H, W, 3)``."""
    image = np.asarray(image)
    assert image.dtype == np.uint8, image.dtype
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Every pixel of ``image`` as a ``factor x factor`` block (nearest neighbour: pixels stay visible)."""
    return image.repeat(factor, 0).repeat(factor, 1)


def _pil(name: str):
    """Pillow's module ``name`` (``Image``, ``ImageDraw``, ``ImageFont``), or a one-line error."""
    from arena.errors import require

    return require(f"PIL.{name}", "build", "Drawing pictures")


@functools.lru_cache(maxsize=1)
def _font():
    ImageFont = _pil("ImageFont")

    try:
        return ImageFont.load_default(size=13)  # a scalable font where Pillow has FreeType
    except (TypeError, OSError):  # Pillow < 10.1, or no FreeType: the bitmap font
        return ImageFont.load_default()


def _text_size(line: str) -> tuple[int, int]:
    Image, ImageDraw = _pil("Image"), _pil("ImageDraw")
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), line or " ", font=_font())
    return right - min(left, 0), bottom - min(top, 0)


def text(lines: Sequence[str], *, width: int = 0, height: int = 0) -> np.ndarray:
    """``lines`` drawn centred in a white block at least ``width`` wide and ``height`` high
    (larger if the text is)."""
    Image, ImageDraw = _pil("Image"), _pil("ImageDraw")

    lines = [str(line) for line in lines]
    line_height = _text_size("Ag|")[1] + 2
    text_width = max((_text_size(line)[0] for line in lines), default=0)
    w = max(width, text_width + 2 * _PAD)
    h = max(height, line_height * len(lines) + 2 * _PAD)
    top = (h - line_height * len(lines)) // 2
    block = Image.new("L", (w, h), BACKGROUND)
    draw = ImageDraw.Draw(block)
    for k, line in enumerate(lines):
        x = (w - _text_size(line)[0]) // 2
        draw.text((x, top + k * line_height), line, fill=INK, font=_font())
    return rgb(np.asarray(block, np.uint8))


def captioned(image: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``image`` with ``lines`` of text under it, centred."""
    return column([rgb(image), text(lines, width=image.shape[1])], gap=0)


def _pad(image: np.ndarray, height: int, width: int, *, middle: bool) -> np.ndarray:
    out = np.full((height, width, 3), BACKGROUND, np.uint8)
    top = (height - image.shape[0]) // 2 if middle else 0
    left = (width - image.shape[1]) // 2
    out[top:top + image.shape[0], left:left + image.shape[1]] = image
    return out


def row(panels: Sequence[np.ndarray], *, gap: int = GAP, middle: bool = False) -> np.ndarray:
    """Panels side by side, top-aligned (or vertically centred when ``middle``), ``gap`` apart."""
    panels = [rgb(p) for p in panels]
    h = max(p.shape[0] for p in panels)
    parts = []
    for p in panels:
        parts += [_pad(p, h, p.shape[1], middle=middle), np.full((h, gap, 3), BACKGROUND, np.uint8)]
    return np.concatenate(parts[:-1], axis=1)


def column(rows: Sequence[np.ndarray], *, gap: int = GAP) -> np.ndarray:
    """Pictures one above the other, centred horizontally, ``gap`` apart."""
    rows = [rgb(r) for r in rows]
    w = max(r.shape[1] for r in rows)
    parts = []
    for r in rows:
        parts += [_pad(r, r.shape[0], w, middle=False), np.full((gap, w, 3), BACKGROUND, np.uint8)]
    return np.concatenate(parts[:-1], axis=0)


def titled(picture: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """``picture`` under a title of ``lines``, with a margin all round."""
    body = column([text(lines, width=picture.shape[1]), picture])
    return _pad(body, body.shape[0] + 2 * GAP, body.shape[1] + 2 * GAP, middle=True)


def png(picture: np.ndarray) -> bytes:
    """The PNG encoding of ``picture`` (the same bytes for the same array)."""
    buf = io.BytesIO()
    _pil("Image").fromarray(rgb(picture)).save(buf, format="PNG")
    return buf.getvalue()


def mesh_view(
    vertices: np.ndarray,
    faces: np.ndarray,
    *,
    size: int = 192,
    up: int = 2,
    half_width: float = 1.5,
    azimuth: float = -125.0,
    elevation: float = 25.0,
    colour: tuple[int, int, int] = (120, 160, 210),
) -> np.ndarray:
    """A shaded orthographic picture ``(size, size, 3)`` of a triangle mesh.

    Args:
        vertices: ``(V, 3)`` in the normalised cube (``[-1, 1]^3``).
        faces: ``(F, 3)`` vertex indices.
        size: the picture's side in pixels.
        up: the axis drawn pointing up (ModelNet's meshes stand along z = 2, ShapeNet's along y = 1).
        half_width: the half side of the square of the view plane that is drawn; the default
            shows all of the cube [-1, 1]^3 at the default angles.
        azimuth, elevation: the camera's direction in degrees, around ``up`` and above the
            horizontal plane. Source and NeF drawn with the same arguments line up.
        colour: RGB of a face lit head-on; a face seen edge-on gets 30 % of it.
    """
    v = np.asarray(vertices, np.float64).reshape(-1, 3)
    f = np.asarray(faces, np.int64).reshape(-1, 3)
    picture = np.full((size, size, 3), BACKGROUND, np.uint8)
    if f.shape[0] == 0:
        return picture
    world = v[:, [(up + 1) % 3, (up + 2) % 3, up]]  # a cyclic relabelling keeps the handedness
    az, el = np.radians(azimuth), np.radians(elevation)
    towards = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    right = np.cross(-towards, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    screen_up = np.cross(right, -towards)
    x, y, depth = world @ right, world @ screen_up, world @ towards
    corners = np.stack([(x / half_width + 1.0) * size / 2, (1.0 - y / half_width) * size / 2], -1)[f]
    a, b, c = (world[f[:, k]] for k in range(3))
    normal = np.cross(b - a, c - a)
    length = np.linalg.norm(normal, axis=1)
    light = towards + 0.5 * screen_up + 0.3 * right
    light /= np.linalg.norm(light)
    shade = 0.3 + 0.7 * np.abs(normal @ light) / np.where(length > 0, length, 1.0)
    pixels, face = _rasterise(corners, depth[f], size)
    picture.reshape(-1, 3)[pixels] = np.round(shade[face, None] * np.asarray(colour)).astype(np.uint8)
    return picture


def _rasterise(corners: np.ndarray, depth: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The visible face at each covered pixel: flat pixel indices and face indices.

    A pixel is covered by a triangle when its centre is inside it (edges included); the face
    nearest the viewer (largest ``depth``) wins. Triangles are tested in groups of equal
    bounding-box size, a power of two, so that the work is vectorised.
    """
    lo = np.clip(np.ceil(corners.min(axis=1) - 0.5), 0, size).astype(np.int64)
    hi = np.clip(np.floor(corners.max(axis=1) - 0.5), -1, size - 1).astype(np.int64)
    extent = (hi - lo + 1).max(axis=1)
    a, b, c = corners[:, 0], corners[:, 1], corners[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    live = (extent > 0) & (np.abs(area) > 1e-12) & ((hi >= lo).all(axis=1))
    bucket = np.where(live, np.ceil(np.log2(np.maximum(extent, 1))).astype(np.int64), -1)
    found_pixels, found_depth, found_face = [], [], []
    for level in np.unique(bucket[bucket >= 0]):
        side = 1 << int(level)
        members = np.flatnonzero(bucket == level)
        step = max(1, _MAX_CANDIDATES // (side * side))
        offsets = np.arange(side)
        for start in range(0, len(members), step):
            t = members[start:start + step]
            px = lo[t, 0, None, None] + offsets[None, None, :]  # (n, 1, side)
            py = lo[t, 1, None, None] + offsets[None, :, None]  # (n, side, 1)
            cx, cy = px + 0.5, py + 0.5

            def edge(p, q):
                return (q[t, 0, None, None] - p[t, 0, None, None]) * (cy - p[t, 1, None, None]) - (
                    q[t, 1, None, None] - p[t, 1, None, None]) * (cx - p[t, 0, None, None])

            s = area[t, None, None]
            wa, wb, wc = edge(b, c) / s, edge(c, a) / s, edge(a, b) / s
            tol = -1e-9
            inside = (wa >= tol) & (wb >= tol) & (wc >= tol)
            inside &= (px <= hi[t, 0, None, None]) & (py <= hi[t, 1, None, None])
            n, i, j = np.nonzero(inside)
            d = depth[t]
            z = wa[n, i, j] * d[n, 0] + wb[n, i, j] * d[n, 1] + wc[n, i, j] * d[n, 2]
            found_pixels.append(py[n, i, 0] * size + px[n, 0, j])
            found_depth.append(z)
            found_face.append(t[n])
    if not found_pixels:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    pixels, depths, faces = (np.concatenate(x) for x in (found_pixels, found_depth, found_face))
    order = np.lexsort((-depths, pixels))
    first = np.ones(len(order), bool)
    first[1:] = pixels[order][1:] != pixels[order][:-1]
    return pixels[order][first], faces[order][first]
