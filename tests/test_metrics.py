"""Metric definitions against hand-computed values."""

import numpy as np
import pytest
from scipy import ndimage

from arena import metrics
from arena.errors import ConfigError


def test_psnr_of_known_errors():
    assert np.isclose(metrics.psnr(np.zeros(4), np.full(4, 0.1)), 20.0)
    assert np.isclose(metrics.psnr(np.zeros(2), np.array([0.0, 0.02])), 10 * np.log10(1 / 0.0002))
    assert np.isclose(metrics.psnr(np.zeros(3), np.full(3, 2.0), data_range=4.0), 10 * np.log10(16 / 4))
    per_row = metrics.psnr(np.zeros((2, 2)), np.array([[0.1, 0.1], [0.01, 0.01]]), axis=1)
    np.testing.assert_allclose(per_row, [20.0, 40.0])


def test_pixel_centres_of_a_two_by_two_image():
    np.testing.assert_allclose(
        metrics.pixel_centres(2, 2), [[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]]
    )
    np.testing.assert_allclose(metrics.pixel_centres(1, 4)[:, 1], [-0.75, -0.25, 0.25, 0.75])


def test_midpoints_lie_strictly_inside_between_pixel_centres():
    np.testing.assert_allclose(metrics.pixel_midpoints(2, 2), [[0.0, 0.0]])
    mids = metrics.pixel_midpoints(4, 3)
    assert mids.shape == (6, 2) and np.all(np.abs(mids) < 1)
    np.testing.assert_allclose(np.unique(mids[:, 0]), [-0.5, 0.0, 0.5])


def test_midpoint_targets_equal_order_one_spline_interpolation():
    img = np.array([[0.0, 1.0, 2.0], [4.0, 8.0, 0.0]])
    np.testing.assert_allclose(metrics.midpoint_targets(img[..., None])[:, 0], [13 / 4, 11 / 4])
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(6, 5))
    where = np.mgrid[0:5, 0:4].reshape(2, -1) + 0.5
    want = ndimage.map_coordinates(image, where, order=1)
    np.testing.assert_allclose(metrics.midpoint_targets(image[..., None])[:, 0], want)


def test_iou_of_known_occupancies():
    pred = np.array([[True, True, False, False], [False, False, False, False]])
    true = np.array([[True, False, True, False], [False, False, False, False]])
    np.testing.assert_allclose(metrics.iou(pred, true), [1 / 3, 1.0])


def _clusters(per_class: int = 40, classes: int = 4, dim: int = 6, spread: float = 0.05, seed: int = 0):
    """Hand-made clusters: class c sits around 10 * e_c, with small Gaussian noise."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(classes), per_class)
    centres = 10.0 * np.eye(classes, dim)
    return centres[labels] + spread * rng.standard_normal((len(labels), dim)), labels


def test_nmi_is_one_for_well_separated_clusters_and_near_zero_for_shuffled_labels():
    params, labels = _clusters()
    assert metrics.nmi(params, labels) > 0.99
    shuffled = np.random.default_rng(1).permutation(labels)
    assert metrics.nmi(params, shuffled) < 0.1
    assert metrics.nmi(params, labels, seed=3, n_init=2) == metrics.nmi(params, labels, seed=3, n_init=2)


def test_nmi_uses_the_given_class_count_as_k():
    params, labels = _clusters(classes=2)
    assert metrics.nmi(params, labels) > 0.99
    # k = 4 clusters on two classes split each class: the score drops below 1
    assert metrics.nmi(params, labels, num_classes=4) < 0.9


def test_nmi_refuses_fewer_vectors_than_clusters_and_non_finite_parameters():
    with pytest.raises(ConfigError, match="at least k = 3"):
        metrics.nmi(np.zeros((2, 4)), np.array([0, 1]), num_classes=3)
    bad = np.ones((4, 2))
    bad[1, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        metrics.nmi(bad, np.array([0, 0, 1, 1]))
    with pytest.raises(ConfigError, match=r"params \(N, P\) and labels \(N,\)"):
        metrics.class_distances(np.zeros((4, 2)), np.zeros(3))


def test_class_distances_of_hand_made_points():
    points = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 10.0], [0.0, 13.0]])
    d = metrics.class_distances(points, np.array([0, 0, 1, 1]))
    assert d.within == pytest.approx((5.0 + 3.0) / 2)
    between = [10.0, 13.0, np.hypot(3, 6), np.hypot(3, 9)]
    assert d.between == pytest.approx(np.mean(between))
    assert d.sample_size == 4 and d.ratio == pytest.approx(d.between / d.within)


def test_class_distances_within_is_far_below_between_for_separated_clusters():
    params, labels = _clusters()
    d = metrics.class_distances(params, labels)
    assert d.within < 0.5 and d.between > 10.0


def test_class_distances_blockwise_equal_the_full_pairwise_matrix():
    from scipy.spatial.distance import pdist, squareform

    rng = np.random.default_rng(0)
    params, labels = rng.standard_normal((130, 7)), rng.integers(0, 3, 130)
    full = squareform(pdist(params))
    upper = np.triu_indices(len(params), k=1)
    same = (labels[:, None] == labels[None, :])[upper]
    d = metrics.class_distances(params, labels, block=16)  # 130 rows: blocks that do not divide it
    assert d.within == pytest.approx(full[upper][same].mean(), rel=1e-9)
    assert d.between == pytest.approx(full[upper][~same].mean(), rel=1e-9)


def test_class_distances_over_many_vectors_use_a_seeded_sample_of_the_stated_size():
    params, labels = _clusters(per_class=100)
    d = metrics.class_distances(params, labels, max_vectors=50, seed=1)
    assert d.sample_size == 50
    assert d == metrics.class_distances(params, labels, max_vectors=50, seed=1)
    assert d != metrics.class_distances(params, labels, max_vectors=50, seed=2)
