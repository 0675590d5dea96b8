"""gui.kernels.stack: the Kernels tab's layer stack as the user edits it (plain Python, no Qt)."""

import numpy as np

from engine.kernel_presets import PRESETS
from gui.kernels.stack import MAX_LAYERS, LayerStack


def test_starts_with_the_lecture_kernel():
    s = LayerStack()
    assert s.names == ["top_sobel"] and s.current == 0
    np.testing.assert_array_equal(s.layer.kernel, PRESETS["top_sobel"].kernel)
    assert s.title(0) == "1. Top Sobel (lecture)"
    assert s.note().endswith("Weights sum to 0.") and not s.can_divide_by_sum()
    assert s.grid_step() == 1.0


def test_editing_a_cell_makes_the_layer_custom_and_leaves_snapshots_alone():
    s = LayerStack()
    sent = s.snapshot()  # what a worker computes with while editing goes on
    s.set_cell(1, 1, 5)
    assert s.name == "custom" and s.title(0) == "1. Custom"
    assert s.layer.kernel[1, 1] == 5 and sent[0].kernel[1, 1] == 0
    assert s.note().startswith("Your own kernel") and s.note().endswith("Weights sum to 5.")
    assert s.can_divide_by_sum()  # sum 5, divisor 1


def test_a_preset_replaces_kernel_and_divisor_but_keeps_the_relu():
    s = LayerStack()
    s.layer.relu = True
    s.use_preset("blur")
    assert s.layer.divisor == 16 and s.layer.relu and s.title(0) == "1. Blur  → ReLU"
    assert not s.can_divide_by_sum()  # already divided by its sum


def test_resizing_pads_with_zeros_or_keeps_the_centre():
    s = LayerStack()
    assert not s.resize(3)
    assert s.resize(5)
    np.testing.assert_array_equal(s.layer.kernel[1:4, 1:4], PRESETS["top_sobel"].kernel)
    assert s.layer.kernel.shape == (5, 5) and s.layer.kernel.sum() == 0 and not s.layer.kernel[0].any()
    assert s.name == "custom"
    s.use_preset("gaussian_5x5")
    s.resize(3)
    np.testing.assert_array_equal(s.layer.kernel, PRESETS["gaussian_5x5"].kernel[1:4, 1:4])


def test_layers_are_added_after_the_selected_one_and_the_last_cannot_go():
    s = LayerStack()
    s.add("blur", relu=True)
    s.select(0)
    s.add("sharpen")
    assert s.names == ["top_sobel", "sharpen", "blur"] and s.current == 1
    assert s.titles() == ["1. Top Sobel (lecture)", "2. Sharpen", "3. Blur  → ReLU"]
    s.add("no such preset")
    assert s.names[2] == "identity"
    assert s.remove() and s.names == ["top_sobel", "sharpen", "blur"] and s.current == 2
    while s.can_remove():
        s.remove()
    assert not s.remove() and len(s.layers) == 1
    for _ in range(MAX_LAYERS + 2):
        if s.can_add():
            s.add()
    assert len(s.layers) == MAX_LAYERS and not s.can_add()
    assert not s.select(MAX_LAYERS) and not s.select(s.current)


def test_a_network_filter_is_an_rgb_kernel_edited_one_channel_at_a_time():
    s = LayerStack()
    s.add("blur")
    s.select(0)
    w = np.arange(27, dtype=float).reshape(3, 3, 3) / 10
    s.use_network_filter(w, "efficientnet_lite0 filter 3")
    assert s.current == 0 and s.is_rgb() and s.is_rgb(0) and not s.is_rgb(1)
    assert s.title(0) == "1. efficientnet_lite0 filter 3" and s.note().startswith("A first-layer filter")
    assert s.grid_step() == 0.05
    s.channel = 2
    np.testing.assert_array_equal(s.grid_values(), w[..., 2])
    s.set_cell(0, 0, 9)
    assert s.layer.kernel[0, 0, 2] == 9 and s.layer.kernel[0, 0, 0] == w[0, 0, 0] and s.name == "custom"


def test_a_network_filter_goes_into_the_selected_layer_keeps_its_relu_and_undoes():
    """The trap: with layer 2 selected, a network filter overwrote layer 1 and dropped its ReLU, no undo."""
    s = LayerStack()
    s.set_relu(True)  # layer 1: the default preset with a ReLU
    s.add("blur", relu=True)  # layer 2, selected
    before = [(ly.kernel.copy(), ly.relu) for ly in s.layers], list(s.names)
    w = np.ones((3, 3, 3)) / 27
    s.use_network_filter(w, "resnet34 filter 5")
    assert s.current == 1 and s.names[1] == "resnet34 filter 5" and s.is_rgb(1)
    assert s.layers[1].relu, "the selected layer keeps its ReLU"
    np.testing.assert_array_equal(s.layers[0].kernel, before[0][0][0])
    assert s.layers[0].relu and s.names[0] == before[1][0], "layer 1 is untouched"
    assert s.undo()
    assert s.names == before[1] and s.current == 1
    for layer, (kernel, relu) in zip(s.layers, before[0], strict=True):
        np.testing.assert_array_equal(layer.kernel, kernel)
        assert layer.relu == relu


def test_undo_steps_back_through_edits_and_merges_a_scrubbed_cell():
    s = LayerStack()
    first = s.layer.kernel.copy()
    for v in (1, 2, 3, 4):  # scrubbing one cell: one undo step
        s.set_cell(0, 0, v)
    s.set_divisor(5)
    s.set_divisor(6)  # typing a divisor: one step
    s.use_preset("blur")
    s.add("sharpen")
    assert s.undo() and len(s.layers) == 1  # the add
    assert s.undo() and s.name == "custom" and s.layer.kernel[0, 0] == 4  # the preset
    assert s.undo() and s.layer.divisor == 1.0  # both divisor edits
    assert s.undo() and s.names[0] != "custom"
    np.testing.assert_array_equal(s.layer.kernel, first)  # all four cell edits
    assert not s.can_undo() and not s.undo()
