"""engine.network_filters: a pretrained network's first-layer filters and its activations by depth."""

import numpy as np
import pytest

from engine import network_filters
from engine.kernels import KernelError, kernel_response
from tests.conftest import PHOTOS
from tests.kernel_reference import rand_image

# ---------------------------------------------------------------- the network's own kernels


@pytest.mark.slow
def test_efficientnet_first_layer_filters_and_their_response():
    import torch

    from engine.jobs import run_to_end

    f = run_to_end(network_filters.network_filters("efficientnet_lite0"))
    assert f.weights.shape == (32, 3, 3, 3) and f.tiles.shape == (32, 3, 3, 3) and f.tiles.dtype == np.uint8
    assert f.stride == 2 and np.abs(f.weights).max() > 0.1
    # per filter, the largest weight maps to the brightest or darkest tile value
    i = 5
    assert {int(f.tiles[i].min()), int(f.tiles[i].max())} & {1, 255}
    # the playground's RGB-kernel response is the network's convolution (stride 1, no padding effects inside)
    rng = np.random.default_rng(10)
    img = rand_image(rng, 12, 13)
    v = kernel_response(img, f.weights[i])
    x = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None]
    w = torch.from_numpy(f.weights[i]).permute(2, 0, 1)[None]
    want = torch.nn.functional.conv2d(x, w)[0, 0].numpy()
    np.testing.assert_allclose(v[1:-1, 1:-1], want, rtol=1e-5, atol=1e-3)


@pytest.mark.slow
def test_activations_by_depth_shrink_with_depth():
    from engine.images import load_rgb
    from engine.jobs import run_to_end

    img = np.asarray(load_rgb(PHOTOS / "coffee.png", max_side=200))
    records = []
    res = run_to_end(
        network_filters.activations_by_depth(img, depths=["stem", "block 2", "block 6"], n_maps=4, size=96),
        records.append,
    )
    assert [r["name"] for r in res] == ["stem", "block 2", "block 6"]
    assert [r["channels"] for r in res] == [32, 40, 320]
    assert res[0]["height"] == 48 and res[1]["height"] == 12 and res[2]["height"] == 3
    assert all(r["maps"].shape == (4, r["height"], r["width"]) and r["maps"].dtype == np.uint8 for r in res)
    assert all(isinstance(rec, dict) and all(isinstance(v, (int, float, str)) for v in rec.values()) for rec in records)
    with pytest.raises(KernelError, match="unknown depth"):
        run_to_end(network_filters.activations_by_depth(img, depths=["block 99"]))


def test_resnet_filters_without_weights_say_what_to_do():
    from engine.jobs import run_to_end
    from engine.models import WeightsUnavailable, pretrained_network

    try:
        pretrained_network("resnet34")
    except WeightsUnavailable:
        pass
    else:
        pytest.skip("resnet34 weights are on this machine")
    with pytest.raises(RuntimeError, match=r"resnet34.*Import weights"):
        run_to_end(network_filters.network_filters("resnet34"))
