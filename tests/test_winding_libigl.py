"""libigl's fast winding numbers as the occupancy labeller: agreement with the exact sum, the
fallback without libigl, and the labeller recorded in shape manifests."""

import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from arena.errors import ConfigError
from arena.sources import shape_points
from arena.sources._winding import label_inside, labeller, winding_numbers


@pytest.fixture
def no_igl(monkeypatch):
    """``import igl`` raises ImportError, as where libigl is not installed."""
    monkeypatch.setitem(sys.modules, "igl", None)


def surface_distance_band(mesh, points, band):
    """Points farther than ``band`` from the surface (by the nearest of many surface samples)."""
    from scipy.spatial import cKDTree

    samples, _ = __import__("trimesh").sample.sample_surface_even(mesh, 20_000, seed=0)
    distance, _ = cKDTree(samples).query(points)
    return distance > band


def test_libigl_labels_agree_with_the_exact_sum_on_a_closed_mesh():
    pytest.importorskip("igl")
    import trimesh

    torus = trimesh.creation.torus(major_radius=0.6, minor_radius=0.25, major_sections=48,
                                   minor_sections=24)
    rng = np.random.default_rng(0)
    near = torus.sample(3000, seed=1) + rng.normal(0, 0.02, (3000, 3))
    points = np.concatenate([rng.uniform(-1, 1, (3000, 3)), near])
    exact = label_inside(torus.vertices, torus.faces, points, method="exact")
    fast = label_inside(torus.vertices, torus.faces, points, method="libigl")
    assert 0.2 < exact.mean() < 0.8  # both sides of the surface are well represented
    assert (fast == exact).mean() >= 0.999
    clear = surface_distance_band(torus, points, 1e-3)
    np.testing.assert_array_equal(fast[clear], exact[clear])


def test_libigl_labels_agree_with_the_exact_sum_on_an_open_mesh():
    pytest.importorskip("igl")
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=3)
    centres = sphere.triangles_center
    opened = trimesh.Trimesh(sphere.vertices, sphere.faces[centres[:, 0] < 0.8], process=False)
    rng = np.random.default_rng(2)
    points = np.concatenate([rng.uniform(-1.2, 1.2, (4000, 3)),
                             opened.sample(2000, seed=3) + rng.normal(0, 0.02, (2000, 3))])
    exact = label_inside(opened.vertices, opened.faces, points, method="exact")
    fast = label_inside(opened.vertices, opened.faces, points, method="libigl")
    w = winding_numbers(opened.vertices, opened.faces, points)
    assert ((w > 0.05) & (w < 0.95)).sum() > 100  # the hole makes the field fractional
    assert (fast == exact).mean() >= 0.999
    clear = surface_distance_band(opened, points, 1e-3) & (np.abs(w - 0.5) > 1e-2)
    np.testing.assert_array_equal(fast[clear], exact[clear])


def test_auto_uses_libigl_only_where_the_compiled_kernel_cannot_run(monkeypatch):
    pytest.importorskip("igl")
    import importlib.metadata

    from arena.sources import _winding

    version = importlib.metadata.version("libigl")
    assert labeller("libigl") == f"libigl-{version}"
    kernel = _winding._kernel()[0] is not None
    assert labeller("auto") == ("exact-kernel" if kernel else f"libigl-{version}")
    assert labeller() == labeller("exact") == ("exact-kernel" if kernel else "exact-numpy")
    _winding._kernel.cache_clear()
    monkeypatch.setenv("ARENA_CPU_KERNELS", "0")
    try:
        assert labeller("auto") == f"libigl-{version}"
        assert labeller("exact") == "exact-numpy"
    finally:
        monkeypatch.undo()
        _winding._kernel.cache_clear()


def test_without_libigl_auto_falls_back_to_the_exact_sum(no_igl):
    import trimesh

    box = trimesh.creation.box()
    points = np.random.default_rng(4).uniform(-1, 1, (500, 3))
    assert labeller("auto") == labeller("exact")  # the exact sum, by the kernel where it runs
    np.testing.assert_array_equal(label_inside(box.vertices, box.faces, points, method="auto"),
                                  winding_numbers(box.vertices, box.faces, points) > 0.5)
    with pytest.raises(ConfigError, match=r"pip install neural-field-arena\[libigl\]"):
        label_inside(box.vertices, box.faces, points, method="libigl")


def test_unknown_labelling_methods_are_refused():
    with pytest.raises(ConfigError, match="'rays'.*exact, auto, libigl, exact-kernel, exact-numpy"):
        label_inside(np.eye(3), [[0, 1, 2]], np.zeros((1, 3)), method="rays")
    with pytest.raises(ConfigError, match="'rays'"):
        labeller("rays")


def test_shape_points_label_exactly_by_default_and_with_libigl_when_asked():
    import trimesh

    from arena.sources.shapes import _prepared

    mesh = trimesh.creation.icosphere(subdivisions=2)
    counts = dict(n_uniform=500, n_surface=500, n_eval_uniform=50, n_eval_surface=50, n_offgrid=100)
    sets = shape_points(mesh.vertices, mesh.faces, seed=5, **counts)
    vertices, faces = _prepared(mesh.vertices, mesh.faces, 0.1)
    points = np.concatenate([sets.points, sets.eval_points, sets.offgrid_points])
    labels = np.concatenate([sets.occupancy, sets.eval_occupancy, sets.offgrid_occupancy])
    np.testing.assert_array_equal(labels, winding_numbers(vertices, faces, points) > 0.5)
    pytest.importorskip("igl")
    fast = shape_points(mesh.vertices, mesh.faces, seed=5, labeller="libigl", **counts)
    np.testing.assert_array_equal(fast.points, sets.points)  # the labeller changes labels only
    fast_labels = np.concatenate([fast.occupancy, fast.eval_occupancy, fast.offgrid_occupancy])
    assert (fast_labels == labels).mean() >= 0.999


def test_the_shape_manifest_records_which_labeller_labelled_the_points(monkeypatch):
    from arena import fit
    from arena.sources import shapes
    from arena_builders._build import _signal

    task = fit.ShapeTask(points_per_step=256)
    assert _signal(task)["sampling"]["labeller"] == labeller("exact") in ("exact-kernel", "exact-numpy")
    monkeypatch.setattr(shapes, "LABELLER", "exact-numpy")
    assert _signal(task)["sampling"]["labeller"] == "exact-numpy"
    monkeypatch.setattr(shapes, "LABELLER", "auto")
    assert _signal(task)["sampling"]["labeller"] == labeller("auto")
    if importlib.util.find_spec("igl") is not None:
        monkeypatch.setattr(shapes, "LABELLER", "libigl")
        assert _signal(task)["sampling"]["labeller"].startswith("libigl-")
    monkeypatch.setitem(sys.modules, "igl", None)
    monkeypatch.setattr(shapes, "LABELLER", "auto")
    assert _signal(task)["sampling"]["labeller"] == labeller("exact")


def test_points_are_labelled_by_the_labeller_the_manifest_names_when_the_build_runs(monkeypatch):
    from arena.sources import shapes

    used = []
    monkeypatch.setattr(shapes, "label_inside", lambda *a, method: used.append(method) or np.zeros(len(a[2]), bool))
    monkeypatch.setattr(shapes, "LABELLER", "libigl")  # switched after the module was imported
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float64)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    shapes.occupancy(vertices, faces, np.zeros((4, 3)))
    assert used == ["libigl"]


def test_importing_arena_and_the_builders_does_not_load_libigl():
    code = ("import sys, arena, arena.sources, arena.sources.shapes, arena_builders; "
            "assert 'igl' not in sys.modules, 'igl was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
