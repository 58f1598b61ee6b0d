"""Metric definitions against hand-computed values."""

import numpy as np
from scipy import ndimage

from arena import metrics


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
