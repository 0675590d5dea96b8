"""engine.kernel_layers: stacks of layers against the plain-loop reference, and the inspector's one-pixel arithmetic."""

import numpy as np

from engine.kernel_layers import Layer, apply_stack, pixel_breakdown
from engine.kernel_presets import PRESETS
from engine.kernels import BORDERS, MODES, apply_kernel, kernel_response
from tests.kernel_reference import rand_image, ref_output, ref_response

# ---------------------------------------------------------------- stacks


def test_stack_chains_real_values_with_relu_and_matches_reference():
    rng = np.random.default_rng(7)
    img = rand_image(rng, 8, 9)
    right, blur = PRESETS["right_sobel"], PRESETS["blur"]
    for relu in (False, True):
        layers = [Layer(right.kernel, 1, 0, relu), Layer(blur.kernel, 16, 0, False)]
        for border in BORDERS:
            v1 = ref_response(img, right.kernel, 1, 0, border)
            if relu:
                v1 = np.maximum(v1, 0)
            v2 = ref_response(v1, blur.kernel, 16, 0, border)
            for mode in MODES:
                stages = apply_stack(img, layers, mode, border)
                assert len(stages) == 2
                np.testing.assert_array_equal(stages[0].image, ref_output(v1, mode))
                np.testing.assert_array_equal(stages[1].image, ref_output(v2, mode))
                np.testing.assert_array_equal(stages[0].values, v1)
    # with the ReLU, layer 2 never sees the negative half of the edges: outputs differ
    a = apply_stack(img, [Layer(right.kernel, relu=False), Layer(PRESETS["identity"].kernel)], "abs")[1].image
    b = apply_stack(img, [Layer(right.kernel, relu=True), Layer(PRESETS["identity"].kernel)], "abs")[1].image
    assert (a != b).any()


def test_single_layer_stack_equals_apply_kernel():
    rng = np.random.default_rng(8)
    img = rand_image(rng, 30, 40)
    for name in ("top_sobel", "blur", "emboss"):
        p = PRESETS[name]
        for mode in MODES:
            want = apply_kernel(img, p.kernel, p.divisor, mode=mode, gray=True)
            for keep in (False, True):
                got = apply_stack(img, [Layer(p.kernel, p.divisor)], mode, gray=True, keep_values=keep)
                np.testing.assert_array_equal(got[0].image, want)


# ---------------------------------------------------------------- inspector arithmetic


def test_pixel_breakdown_sums_equal_the_filter_at_corners_and_inside():
    rng = np.random.default_rng(9)
    img = rand_image(rng, 6, 7)
    k = rng.integers(-3, 4, (5, 5)).astype(float)
    for border in BORDERS:
        v = kernel_response(img, k, 4, 2, border)
        for y, x in ((0, 0), (5, 6), (2, 3), (0, 6)):
            b = pixel_breakdown(img, k, y, x, 4, 2, border)
            assert b.patch.shape == (5, 5, 3)
            np.testing.assert_allclose(b.values, v[y, x])
            np.testing.assert_allclose(b.sums, (b.patch * k[..., None]).sum(axis=(0, 1)))
    b = pixel_breakdown(img, k, 0, 0, border="zero")
    assert not b.patch[:2].any() and not b.patch[:, :2].any()
