"""Rules the window, the CLI and the trainer share (engine.config), and that they agree."""

import pytest

from engine.config import TrainConfig, can_continue, check_lr_multipliers, parse_lr_multipliers
from main import build_parser


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0.01,0.1,1", (0.01, 0.1, 1.0)),
        ("0.01, 0.1, 1", (0.01, 0.1, 1.0)),
        ("0;0.1;1", (0.0, 0.1, 1.0)),
        ("0.5", (0.5,)),
        ("1 0 1", (1.0, 0.0, 1.0)),  # a 0 in the middle keeps that group frozen
    ],
)
def test_multipliers_accepted(text, expected):
    assert parse_lr_multipliers(text) == expected
    args = build_parser().parse_args(["train", "DATA", "-o", "m.pth", "--lr-mult", text.replace(" ", ",")])
    assert args.lr_mult == expected  # the CLI accepts exactly the same


@pytest.mark.parametrize("text", ["1,2", "abc", "0,0,0", "1,1,0", "nan,1,1", "1,1,inf", "1,2,3,4", ""])
def test_multipliers_refused_with_one_message_everywhere(text, capsys):
    with pytest.raises(ValueError) as engine_error:
        parse_lr_multipliers(text)
    message = str(engine_error.value)
    assert message.startswith("LR multipliers must be 1 or 3 numbers ≥ 0")
    if text:
        with pytest.raises(SystemExit):
            build_parser().parse_args(["train", "DATA", "-o", "m.pth", "--lr-mult", text])
        assert message in capsys.readouterr().err  # the CLI prints the engine's line
    values = [float(v) for v in text.split(",")] if text and text != "abc" else []
    if values:
        with pytest.raises(ValueError, match="LR multipliers must be"):
            TrainConfig(lr_mult=tuple(values)).check()
    with pytest.raises(ValueError):
        check_lr_multipliers(values)


class _Learner:
    def __init__(self, dataset, config):
        self.dataset, self.config = dataset, config


class _Data:
    classes = ["a", "b"]


def test_can_continue_is_about_the_data_and_the_network_only():
    data = _Data()
    base = TrainConfig(arch="resnet34", size=224)
    learner = _Learner(data, base)
    # lesson 1 continues the same model with precompute off, augmentation, unfreeze, another LR or schedule
    for change in (
        dict(precompute=False),
        dict(aug="side_on", unfreeze=True, lr_mult=(0.0, 0.1, 1.0)),
        dict(lr=3e-3, epochs=7, schedule="one_cycle", opt="adamw"),
    ):
        assert can_continue(learner, data, TrainConfig(arch="resnet34", size=224, **change))
    # another network, input size, weights, device or dataset starts a new model
    for change in (dict(arch="resnet18"), dict(size=128), dict(weights_file="w.pth"), dict(device="cpu")):
        assert not can_continue(learner, data, TrainConfig(**{"arch": "resnet34", "size": 224, **change}))
    assert not can_continue(learner, _Data(), base)
    assert not can_continue(None, data, base)
