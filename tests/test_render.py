"""Pictures of NeFs: images drawn between their pixels, shaded mesh views, OBJ surfaces, and the
labelled PNGs of `arena show`."""

from __future__ import annotations

import numpy as np
import pytest
from _nefdata import make_field, nef_params, write_dataset
from _sourcedata import needs_data, require
from typer.testing import CliRunner

import arena
from arena.cli.main import app
from arena.data import _picture, _render
from arena.errors import ConfigError
from arena.metrics import pixel_centres

PIL = pytest.importorskip("PIL.Image")


def _find(picture: np.ndarray, block: np.ndarray) -> list[tuple[int, int]]:
    """Every (row, column) where ``block`` appears in ``picture`` exactly (both RGB uint8)."""
    h, w = block.shape[:2]
    rows = np.lib.stride_tricks.sliding_window_view(picture[..., 0], w, axis=1)  # (H, W - w + 1, w)
    candidates = np.argwhere((rows == block[0, :, 0]).all(axis=-1))
    return [(int(y), int(x)) for y, x in candidates
            if y + h <= picture.shape[0] and np.array_equal(picture[y:y + h, x:x + w], block)]


def _uint8(image: np.ndarray) -> np.ndarray:
    return np.round(image * 255).clip(0, 255).astype(np.uint8)


# ------------------------------------------------------------------ images between the pixels

def test_a_finer_image_render_samples_the_field_between_the_pixels_over_the_same_square():
    signal = {"kind": "image", "shape": [4, 5, 1]}
    first_coordinate = lambda coords: coords[:, :1]  # noqa: E731
    coarse = _render.image(first_coordinate, signal, clip=False)
    fine = _render.image(first_coordinate, signal, clip=False, scale=3)
    assert coarse.shape == (4, 5, 1) and fine.shape == (12, 15, 1)
    np.testing.assert_allclose(fine[..., 0], pixel_centres(12, 15)[:, 0].reshape(12, 15))
    # with an odd scale the middle sample of every 3x3 block is the pixel's own centre
    np.testing.assert_allclose(fine[1::3, 1::3], coarse, atol=1e-6)


def test_a_real_nefs_finer_render_agrees_with_its_pixel_grid_render_at_the_pixel_centres(tmp_path):
    field = make_field("siren")
    root = write_dataset(tmp_path / "d", {"train": [nef_params(field, 2)]})
    split = arena.load(root, split="train")
    signal = split.info.data["signal"]
    fine = _render.image(split.field(1), signal, scale=5)
    assert fine.shape == (20, 25, 1)
    np.testing.assert_allclose(fine[2::5, 2::5], split.render(1), atol=1e-5)
    assert not np.allclose(fine[0::5, 0::5], split.render(1), atol=1e-3)  # and differs in between


@pytest.mark.parametrize("scale", [0, -2, 1.5, True])
def test_a_bad_render_scale_is_refused_naming_it(scale):
    with pytest.raises(ConfigError, match=f"scale must be a positive integer; got {scale!r}"):
        _render.image_coords({"shape": [4, 4, 1]}, scale=scale)


# ------------------------------------------------------------------ mesh views

_A = np.array([[0.5, -0.5, -0.5], [0.5, 0.5, -0.5], [0.5, 0.0, 0.5]])  # facing the camera
_B = np.array([[-0.5, -0.5, -0.5], [0.5, 0.5, -0.5], [0.0, 0.0, 0.5]])  # turned 45 degrees


def _front(*triangles: np.ndarray) -> np.ndarray:
    """The colour at the middle of a view along -x (azimuth 0, elevation 0) of ``triangles``."""
    vertices = np.concatenate(triangles)
    faces = np.arange(len(vertices)).reshape(-1, 3)
    view = _picture.mesh_view(vertices, faces, size=64, azimuth=0.0, elevation=0.0)
    return view[32, 32]


def test_mesh_view_shows_the_face_nearest_the_viewer():
    a, b = _front(_A), _front(_B)
    assert not np.array_equal(a, b) and (a < 255).any() and (b < 255).any()
    np.testing.assert_array_equal(_front(_A, _B), a)  # A is at x = 0.5, in front of B (x = 0 there)
    np.testing.assert_array_equal(_front(_B, _A), a)  # whatever the order of the faces
    behind = _A - [1.0, 0.0, 0.0]
    np.testing.assert_array_equal(_front(behind, _B), b)


def test_mesh_view_of_a_box_shows_three_shaded_faces_and_nothing_outside_it():
    trimesh = pytest.importorskip("trimesh")
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    view = _picture.mesh_view(box.vertices, box.faces, size=96)
    colours = {tuple(c) for c in view.reshape(-1, 3)} - {(255, 255, 255)}
    assert len(colours) == 3  # top and two sides, flat-shaded
    assert (view[48, 48] < 255).any()
    assert (view[:4] == 255).all() and (view[:, :4] == 255).all()  # the box ends inside the view
    empty = _picture.mesh_view(np.zeros((0, 3)), np.zeros((0, 3), np.int64), size=8)
    assert (empty == 255).all()


def test_obj_text_round_trips_through_the_arena_obj_reader():
    from arena.sources.meshes import parse_obj

    vertices = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.25, -0.5, 0.125]])
    faces = np.array([[0, 1, 2], [0, 3, 1]])
    mesh = parse_obj(_render.obj_text(vertices, faces, comment="two triangles\nsecond line").encode())
    np.testing.assert_allclose(mesh.vertices, vertices)
    np.testing.assert_array_equal(mesh.faces, faces)


# ------------------------------------------------------------------ arena show: images

@pytest.fixture
def digit_nefs(tmp_path):
    pytest.importorskip("sklearn")
    field = make_field("siren")
    signal = {"kind": "image", "shape": [8, 8, 1],
              "normalization": {"mean": [0.3], "std": [0.4], "scale": "[0, 1]"}}
    return write_dataset(tmp_path / "d", {"train": [nef_params(field, 3)], "test": [nef_params(field, 3)]},
                         signal=signal, source={"name": "digits", "num_classes": 10},
                         index={"train": [np.array([5, 6, 7])], "test": [np.array([40, 41, 42])]})


def test_show_draws_the_source_the_pixel_grid_and_the_nef_between_the_pixels_with_captions(
        digit_nefs, tmp_path):
    from arena.sources import open_source

    out = tmp_path / "shown.png"
    result = CliRunner().invoke(app, ["show", str(digit_nefs), "1", "-o", str(out), "--resolution", "4"])
    assert result.exit_code == 0, result.output
    assert "left: source, middle: NeF on the pixel grid, right: NeF at 4x (32x32)" in result.output
    picture = np.asarray(PIL.open(out).convert("RGB"))
    split = arena.load(digit_nefs, split="test")
    source = open_source("digits").load([41])[0][0]
    blocks = [_picture.enlarge(_picture.rgb(source), 20),  # 8x8 pixels drawn 160 wide
              _picture.enlarge(_picture.rgb(_uint8(split.render(1))), 20),
              _picture.enlarge(_picture.rgb(_uint8(_render.image(split.field(1), split.info.data["signal"],
                                                                 scale=4))), 5)]  # 32x32, same size
    found = [_find(picture, b) for b in blocks]
    assert all(len(f) == 1 for f in found), found
    (y0, x0), (y1, x1), (y2, x2) = (f[0] for f in found)
    assert y0 == y1 == y2 and x0 < x1 < x2
    assert (picture[:y0 - 4] < 128).any(), "no title above the panels"
    assert (picture[y0 + 160:] < 128).any(), "no captions under the panels"


def test_show_refuses_a_bad_resolution_and_a_mesh_of_an_image_in_one_line(digit_nefs, tmp_path):
    out = tmp_path / "x.png"
    for args, message in [(["--resolution", "0"], "--resolution 0 is out of range for 8x8 images"),
                          (["--resolution", "999"], "from 1 to 512"),
                          (["--mesh", str(tmp_path / "m.obj")], "--mesh writes the surface of a shape NeF")]:
        result = CliRunner().invoke(app, ["show", str(digit_nefs), "0", "-o", str(out), *args])
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "m.obj").exists()


# ------------------------------------------------------------------ arena show: shapes

def _shape_nefs(root, source: dict, index) -> object:
    field = make_field("siren", in_dim=3, hidden=16, omega0=3.0)
    return write_dataset(root, {"test": [nef_params(field, 2, seed=3)]}, in_dim=3,
                         hparams={"hidden": 16, "omega0": 3.0}, signal={"kind": "shape"},
                         source=source, index={"test": [np.asarray(index)]})


def test_show_of_a_shape_writes_its_surface_as_obj_and_a_shaded_view(tmp_path, monkeypatch):
    pytest.importorskip("mcubes")
    from arena.sources.meshes import parse_obj

    monkeypatch.delenv("ARENA_SOURCE_DIR", raising=False)
    root = _shape_nefs(tmp_path / "s", {"name": "modelnet10", "num_classes": 10}, [0, 1])
    out, obj = tmp_path / "shape.png", tmp_path / "surface.obj"
    result = CliRunner().invoke(app, ["show", str(root), "1", "-o", str(out), "--mesh", str(obj),
                                      "--resolution", "24"])
    assert result.exit_code == 0, result.output
    assert f"wrote {obj}" in result.output and "'modelnet10' is not available here" in result.output
    rec = arena.load(root, split="test").render(1, resolution=24)
    mesh = parse_obj(obj.read_bytes())
    assert len(rec.faces) > 0
    np.testing.assert_allclose(mesh.vertices, rec.vertices, atol=1e-6)
    np.testing.assert_array_equal(mesh.faces, rec.faces)
    picture = np.asarray(PIL.open(out).convert("RGB")).astype(int)
    shaded = (picture[..., 2] - picture[..., 0] > 40).sum()  # the view's blue-grey surface
    assert shaded > 500
    bad = CliRunner().invoke(app, ["show", str(root), "1", "-o", str(out), "--resolution", "1"])
    assert bad.exit_code == 1 and "the side of the occupancy grid, from 2 to 256" in bad.output


@needs_data("modelnet10/modelnet10_test_off.tar.gz")
def test_show_of_a_shape_draws_its_source_mesh_beside_it(tmp_path, monkeypatch):
    pytest.importorskip("mcubes")
    tarball = require("modelnet10/modelnet10_test_off.tar.gz")
    monkeypatch.delenv("ARENA_SOURCE_DIR", raising=False)
    root = _shape_nefs(tmp_path / "s", {"name": "modelnet10", "num_classes": 10}, [0, 1])
    both, alone = tmp_path / "both.png", tmp_path / "alone.png"
    result = CliRunner().invoke(app, ["show", str(root), "0", "-o", str(both), "--resolution", "16",
                                      "--source", str(tarball)])
    assert result.exit_code == 0, result.output
    assert "source (left, top), NeF (right, bottom)" in result.output
    result = CliRunner().invoke(app, ["show", str(root), "0", "-o", str(alone), "--resolution", "16"])
    assert result.exit_code == 0 and "NeF only" in result.output, result.output
    with_source, without = np.asarray(PIL.open(both)), np.asarray(PIL.open(alone))
    assert with_source.shape[1] > without.shape[1]  # the source's view beside the NeF's
    assert with_source.shape[0] > without.shape[0]  # and the source's silhouettes above the NeF's
