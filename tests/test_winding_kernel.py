"""The compiled winding-number kernel: the numpy tree's sums and labels, its fallbacks, and the
labeller a shape build records and its workers use."""

import numpy as np
import pytest

from arena.errors import ConfigError
from arena.sources import _winding
from arena.sources._winding import implementation, label_inside, labeller, winding_numbers
from _sourcedata import needs_data, require

needs_kernel = pytest.mark.skipif(_winding._kernel()[0] is None,
                                  reason=f"the CPU kernel cannot run here: {_winding._kernel()[1]}")


@pytest.fixture
def fresh_kernel(monkeypatch):
    """Forget the process-wide kernel load before and after a test that changes the environment."""
    _winding._kernel.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    _winding._kernel.cache_clear()


def _meshes():
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=4)  # 5120 faces: a deep tree with caps
    opened = sphere.faces[sphere.triangles_center[:, 0] < 0.7]
    torus = trimesh.creation.torus(major_radius=0.6, minor_radius=0.25, major_sections=48,
                                   minor_sections=24)
    tetra = (np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float) - 0.25,
             np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]]))
    return {
        "one triangle (a part-filled lane group)": (np.eye(3) - 0.3, np.array([[0, 1, 2]])),
        "tetrahedron": tetra,
        "closed sphere": (sphere.vertices, sphere.faces),
        "open sphere": (sphere.vertices, opened),
        "torus": (torus.vertices, torus.faces),
    }


@needs_kernel
@pytest.mark.parametrize("name", list(_meshes()))
def test_kernel_gives_the_float64_sum_on_closed_open_and_tiny_meshes(name):
    vertices, faces = _meshes()[name]
    points = np.random.default_rng(0).uniform(-1.2, 1.2, (4000, 3))
    exact = winding_numbers(vertices, faces, points, method="direct", dtype=np.float64)
    for leaf in (8, 128):  # many nodes and caps; one leaf for the small meshes
        got = winding_numbers(vertices, faces, points, method="kernel", leaf_faces=leaf)
        np.testing.assert_allclose(got, exact, atol=2e-5)
    clear = np.abs(exact - 0.5) > 1e-3
    np.testing.assert_array_equal(
        label_inside(vertices, faces, points, method="exact-kernel")[clear], exact[clear] > 0.5)


@needs_kernel
def test_kernel_gives_the_direct_sum_on_a_self_intersecting_soup():
    rng = np.random.default_rng(3)
    vertices = rng.normal(size=(300, 3))
    faces = rng.integers(0, len(vertices), (600, 3))
    points = rng.uniform(-3, 3, (400, 3))
    direct = winding_numbers(vertices, faces, points, method="direct", dtype=np.float64)
    kernel = winding_numbers(vertices, faces, points, method="kernel", leaf_faces=8)
    numpy32 = winding_numbers(vertices, faces, points, leaf_faces=8)
    assert np.abs(direct).max() > 1  # far from a closed surface
    np.testing.assert_allclose(kernel, direct, atol=2e-4)
    assert np.abs(kernel - direct).max() <= np.abs(numpy32 - direct).max()  # no less accurate


@needs_kernel
def test_kernel_is_finite_at_vertices_and_the_origin_and_empty_inputs_give_empty_results():
    import trimesh

    box = trimesh.creation.box()
    on_vertices = np.concatenate([box.vertices, np.zeros((1, 3))])
    w = winding_numbers(box.vertices, box.faces, on_vertices, method="kernel")
    assert np.isfinite(w).all() and abs(w[-1] - 1) < 1e-5
    assert winding_numbers(box.vertices, box.faces, np.zeros((0, 3)), method="kernel").shape == (0,)
    flat = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]], float)  # no face with area: nothing inside
    np.testing.assert_array_equal(winding_numbers(flat, [[0, 1, 2]], np.ones((3, 3)), method="kernel"),
                                  np.zeros(3))


@needs_kernel
def test_exact_labels_with_the_kernel_here_and_records_it():
    assert implementation("exact") == implementation("auto") == "exact-kernel"
    assert labeller() == labeller("exact") == labeller("exact-kernel") == "exact-kernel"
    assert labeller("exact-numpy") == "exact-numpy"


def test_switched_off_kernel_labels_with_numpy_and_says_why_when_asked_for(fresh_kernel):
    import trimesh

    fresh_kernel.setenv("ARENA_CPU_KERNELS", "0")
    fresh_kernel.setitem(__import__("sys").modules, "igl", None)  # auto's next choice, absent
    assert labeller("exact") == labeller("auto") == "exact-numpy"
    with pytest.raises(ConfigError, match="ARENA_CPU_KERNELS=0.*method='exact'"):
        labeller("exact-kernel")
    with pytest.raises(ConfigError, match="ARENA_CPU_KERNELS=0.*method='tree'"):
        winding_numbers(np.eye(3), [[0, 1, 2]], np.zeros((1, 3)), method="kernel")
    box = trimesh.creation.box()
    points = np.random.default_rng(1).uniform(-1, 1, (300, 3))
    np.testing.assert_array_equal(label_inside(box.vertices, box.faces, points),
                                  winding_numbers(box.vertices, box.faces, points) > 0.5)


@needs_kernel
def test_failed_kernel_compile_warns_in_one_line_and_labels_with_numpy(fresh_kernel, tmp_path):
    fresh_kernel.setenv("ARENA_KERNEL_CACHE", str(tmp_path))
    fresh_kernel.setenv("CXX", "false")  # a "compiler" that always fails
    with pytest.warns(UserWarning, match="labelling with numpy") as warned:
        assert labeller("exact") == "exact-numpy"
    message = str(warned[0].message)
    assert "\n" not in message and "winding_cpu.cc" in message and "exited with 1" in message
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


@needs_kernel
@needs_data("modelnet10/modelnet10_test_off.tar.gz")
def test_kernel_and_numpy_label_real_modelnet10_point_sets_alike():
    from arena.sources import open_source, shape_points

    source = open_source("modelnet10", require("modelnet10/modelnet10_test_off.tar.gz"))
    meshes, _, index = source.load(np.arange(3))
    counts = dict(n_uniform=4000, n_surface=4000, n_eval_uniform=0, n_eval_surface=0, n_offgrid=0)
    for mesh, seed in zip(meshes, index):
        kernel = shape_points(mesh.vertices, mesh.faces, seed=int(seed), labeller="exact-kernel", **counts)
        numpy = shape_points(mesh.vertices, mesh.faces, seed=int(seed), labeller="exact-numpy", **counts)
        np.testing.assert_array_equal(kernel.points, numpy.points)
        assert (kernel.occupancy == numpy.occupancy).mean() >= 0.9995  # differ only at the surface
        assert 0.01 < kernel.occupancy.mean() < 0.99


@pytest.mark.parametrize("kernels", ["1", "0"])
def test_build_workers_label_with_the_implementation_the_manifest_names(fresh_kernel, kernels):
    """Workers are spawned and do not see the parent's module state: each job carries the
    implementation that the parent resolved "exact" to, the one the manifest records."""
    import trimesh

    from arena import fit
    from arena.sources import shapes
    from arena_builders import _build

    seen = []

    class Serial:  # runs the jobs here, recording what each worker would have been given
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def map(self, fn, jobs):
            jobs = list(jobs)
            seen.extend(job[-1] for job in jobs)
            return map(fn, jobs)

    fresh_kernel.setenv("ARENA_CPU_KERNELS", kernels)
    fresh_kernel.setattr(_build, "ProcessPoolExecutor", Serial)
    assert shapes.LABELLER == "exact"
    box = trimesh.creation.box()
    mesh = type("Mesh", (), {"vertices": box.vertices, "faces": box.faces})
    task = fit.ShapeTask(points_per_step=32)
    _build._shape_data(task, [mesh, mesh], np.array([0, 1]), lambda n: None)
    expected = implementation("exact")
    assert expected == ("exact-numpy" if kernels == "0" or _winding._kernel()[0] is None else "exact-kernel")
    assert seen == [expected, expected]
    assert _build._signal(task)["sampling"]["labeller"] == expected
    seen.clear()  # a method resolved elsewhere (process 0 of a group) is what every worker gets
    _build._shape_data(task, [mesh], np.array([0]), lambda n: None, "exact-numpy")
    assert seen == ["exact-numpy"] and _build._signal(task, "exact-numpy")["sampling"]["labeller"] == "exact-numpy"
