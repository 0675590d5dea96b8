"""LR range test: schedule, smoothing, divergence stop, exact restore, suggestions, CLI."""

import json
import math
import threading

import numpy as np
import pytest
import torch
from torch import nn

from engine.jobs import Cancelled, run_to_end
from engine.lr_curves import (
    SUGGESTERS,
    default_iters,
    lr_schedule,
    suggest_all,
    suggest_min_div10,
    suggest_slide,
    suggest_steepest,
    suggest_valley,
)
from engine.lr_finder import lr_find_job, lr_range_test
from tests.conftest import SAMPLE

# ---------------------------------------------------------------- a problem with a known stable range


def least_squares(seed=0, n=256, d=8):
    """Full-batch least squares: gradient descent is stable exactly for lr < 2/L (L = max Hessian eigenvalue)."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g) * torch.linspace(0.3, 1.0, d)
    y = X @ torch.randn(d, 1, generator=g) + 0.01 * torch.randn(n, 1, generator=g)
    L = torch.linalg.eigvalsh(2 / n * X.T @ X).max().item()

    def batches():
        while True:
            yield X, y

    return X, y, L, batches


def fresh_model(d=8, seed=1):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 1))


def snapshot(module, optimizer):
    params = {k: v.detach().clone() for k, v in module.state_dict().items()}
    grads = [None if p.grad is None else p.grad.clone() for p in module.parameters()]
    opt = optimizer.state_dict()
    state = {k: {n: (t.clone() if torch.is_tensor(t) else t) for n, t in s.items()} for k, s in opt["state"].items()}
    groups = [{k: v for k, v in g.items()} for g in opt["param_groups"]]
    return params, grads, state, groups, [m.training for m in module.modules()]


def assert_identical(a, b):
    pa, ga, sa, gra, ma = a
    pb, gb, sb, grb, mb = b
    assert pa.keys() == pb.keys()
    for k in pa:
        assert torch.equal(pa[k], pb[k]), f"weight {k} changed"
    for x, y in zip(ga, gb, strict=False):
        assert (x is None and y is None) or torch.equal(x, y), "a gradient changed"
    assert sa.keys() == sb.keys()
    for k in sa:
        for n in sa[k]:
            x, y = sa[k][n], sb[k][n]
            assert torch.equal(torch.as_tensor(x), torch.as_tensor(y)), f"optimizer state {k}.{n} changed"
    assert gra == grb, "optimizer hyper-parameters changed"
    assert ma == mb, "train/eval modes changed"


def trained_a_little(model, optimizer, batches, steps=3):
    """Give the optimizer real state (momentum buffers, Adam moments) before the test."""
    it = batches()
    for _ in range(steps):
        x, y = next(it)
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimizer.step()
    model.eval()  # a mode the test must restore


# ---------------------------------------------------------------- schedule


def test_exponential_and_linear_schedules():
    lrs = lr_schedule(1e-7, 10, 100, "exp")
    assert len(lrs) == 100 and lrs[0] == pytest.approx(1e-7) and lrs[-1] == pytest.approx(10)
    ratios = np.diff(np.log(lrs))
    assert np.allclose(ratios, ratios[0])  # even steps on a log scale
    lin = lr_schedule(0.1, 1.1, 11, "linear")
    assert np.allclose(lin, np.linspace(0.1, 1.1, 11))
    assert lr_schedule(1e-3, 1, 1) == [1e-3]
    for bad in [dict(start=0), dict(start=1, end=0.1), dict(iters=0), dict(mode="cosine")]:
        with pytest.raises(ValueError):
            lr_schedule(**{"start": 1e-7, "end": 10, "iters": 10, "mode": "exp", **bad})


def test_default_iterations_are_100_or_one_epoch():
    assert default_iters(None) == 100
    assert default_iters(500) == 100
    assert default_iters(37) == 37
    X, y, L, batches = least_squares()
    model = fresh_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = run_to_end(
        lr_range_test(model, opt, nn.functional.mse_loss, batches, start=1e-5, end=1e-3, iters=None, iters_per_epoch=12)
    )
    assert len(res["lrs"]) == 12 and res["stopped"] == "end"


# ---------------------------------------------------------------- range test


def test_records_smoothing_and_valley_inside_the_stable_range():
    X, y, L, batches = least_squares()
    model = nn.Linear(8, 1, bias=False)
    nn.init.zeros_(model.weight)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    records = []
    res = run_to_end(
        lr_range_test(model, opt, nn.functional.mse_loss, batches, start=1e-4, end=100, iters=100), records.append
    )
    assert [r["iteration"] for r in records] == list(range(len(records)))
    assert all(set(r) >= {"iteration", "lr", "loss", "smoothed"} for r in records)
    assert all(type(r["lr"]) is float and type(r["loss"]) is float for r in records)  # plain data, no tensors
    # debiased: the first smoothed value equals the first loss (plain EMA would be 2 % of it)
    assert records[0]["smoothed"] == pytest.approx(records[0]["loss"])
    beta, avg = 0.98, 0.0
    for i, r in enumerate(records):
        avg = beta * avg + (1 - beta) * r["loss"]
        assert r["smoothed"] == pytest.approx(avg / (1 - beta ** (i + 1)))
    # diverged well before 100 (the LR passed 2/L), and the stop rule is what ended it
    assert res["stopped"] == "diverged" and len(res["lrs"]) < 100
    sm = res["smoothed"]
    assert sm[-1] > 4 * min(sm[:-1]) and all(s <= 4 * min(sm[: i + 1]) for i, s in enumerate(sm[:-1]))
    assert res["lrs"][-1] > 2 / L
    valley = suggest_all(res["lrs"], res["smoothed"])["valley"]
    assert (2 / L) / 100 < valley < 2 / L
    assert torch.count_nonzero(model.weight) == 0  # restored


def test_without_divergence_stop_runs_all_iterations_and_non_finite_stops():
    X, y, L, batches = least_squares()
    model = nn.Linear(8, 1, bias=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    res = run_to_end(
        lr_range_test(model, opt, nn.functional.mse_loss, batches, start=1e-4, end=1e-2, iters=30, diverge=math.inf)
    )
    assert res["stopped"] == "end" and len(res["lrs"]) == 30
    # a huge LR overflows to inf/nan: the test stops and never records a non-finite loss
    res = run_to_end(
        lr_range_test(model, opt, nn.functional.mse_loss, batches, start=1e10, end=1e30, iters=50, diverge=math.inf)
    )
    assert res["stopped"] == "diverged" and len(res["lrs"]) < 50
    assert all(math.isfinite(v) for v in res["losses"])


def test_linear_mode_and_layer_group_multipliers():
    X, y, L, batches = least_squares()
    model = fresh_model()
    opt = torch.optim.SGD([{"params": model[0].parameters()}, {"params": model[3].parameters()}], lr=0.5)
    seen = []

    def loss_fn(out, target):
        seen.append([g["lr"] for g in opt.param_groups])
        return nn.functional.mse_loss(out, target)

    res = run_to_end(
        lr_range_test(model, opt, loss_fn, batches, start=0.01, end=0.1, iters=10, mode="linear", lr_mults=[0.1, 1.0])
    )
    assert np.allclose(res["lrs"], np.linspace(0.01, 0.1, 10))
    assert np.allclose([s[0] for s in seen], 0.1 * np.array(res["lrs"]))
    assert np.allclose([s[1] for s in seen], res["lrs"])
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5]  # hyper-parameters restored
    with pytest.raises(ValueError, match="multipliers"):
        run_to_end(lr_range_test(model, opt, loss_fn, batches, lr_mults=[1.0]))


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4),
        lambda p: torch.optim.AdamW(p, lr=1e-3),
    ],
    ids=["sgd-momentum", "adamw"],
)
@pytest.mark.parametrize("ending", ["done", "cancel", "error", "close"])
def test_model_and_optimizer_restored_bit_for_bit(make_opt, ending):
    X, y, L, batches = least_squares()
    model = fresh_model()
    opt = make_opt(model.parameters())
    trained_a_little(model, opt, batches)
    before = snapshot(model, opt)
    rng_before = torch.get_rng_state()
    stop = threading.Event()
    calls = []

    def loss_fn(out, target):
        calls.append(1)
        if ending == "error" and len(calls) == 7:
            raise RuntimeError("boom in the middle")
        return nn.functional.mse_loss(out, target)

    gen = lr_range_test(model, opt, loss_fn, batches, start=1e-5, end=10, iters=40, stop=stop)
    if ending == "done":
        run_to_end(gen)
        assert len(calls) > 7
    elif ending == "cancel":
        with pytest.raises(Cancelled):
            run_to_end(gen, lambda r: stop.set() if r["iteration"] == 5 else None)
        assert len(calls) == 6
    elif ending == "error":
        with pytest.raises(RuntimeError, match="boom"):
            run_to_end(gen)
    else:  # the GUI job closes the generator mid-run
        for _ in range(5):
            next(gen)
        gen.close()
    assert_identical(before, snapshot(model, opt))
    assert torch.equal(rng_before, torch.get_rng_state())
    # the optimizer still drives the same parameter tensors afterwards
    assert [id(p) for g in opt.param_groups for p in g["params"]] == [id(p) for p in model.parameters()]


def test_batches_running_out_is_a_clear_error():
    model = fresh_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    data = [(torch.randn(4, 8), torch.randn(4, 1))] * 3
    before = snapshot(model, opt)
    with pytest.raises(ValueError, match="ran out after 3 of 10"):
        run_to_end(lr_range_test(model, opt, nn.functional.mse_loss, data, iters=10))
    assert_identical(before, snapshot(model, opt))


class PreparedLearner:
    """The parts of engine.training.Learner that lr_find_job uses, on the least-squares problem."""

    def __init__(self, precompute=True):
        from engine.config import TrainConfig
        from engine.training import LRFindParts

        self.config = TrainConfig(precompute=precompute)
        self._parts_cls = LRFindParts
        self.X, self.y, self.L, self.batches = least_squares()
        self.module = fresh_model()
        self.optimizer = torch.optim.SGD(self.module.parameters(), lr=0.05, momentum=0.9)
        trained_a_little(self.module, self.optimizer, self.batches)
        self.events = []

    def prepare(self, stop=None):
        self.events.append("prepare")
        yield {"type": "precompute", "split": "train", "done": 1, "total": 1}

    def lr_find_parts(self):
        self.events.append("parts")
        return self._parts_cls(self.module, self.optimizer, [1.0], nn.functional.mse_loss, self.batches, 7)


def test_lr_find_job_prepares_then_tests_a_copy_and_suggests():
    learner = PreparedLearner()
    before = snapshot(learner.module, learner.optimizer)
    threads = torch.get_num_threads()
    seen_threads = []
    records = []
    res = run_to_end(
        lr_find_job(learner, start=1e-4, end=100, iters=60),
        lambda r: (records.append(r), seen_threads.append(torch.get_num_threads())),
    )
    assert learner.events == ["prepare", "parts"]
    assert records[0]["type"] == "precompute" and all(r["type"] == "lr_find" for r in records[1:])
    assert len(records) - 1 == len(res["lrs"]) and res["stopped"] == "diverged"
    assert set(res) >= {"lrs", "losses", "smoothed", "suggestions", "stopped", "seconds"}
    assert res["iters_per_epoch"] == 7 and res["suggestions"]["valley"] is not None
    assert 1e-4 < res["suggestions"]["valley"] < res["lrs"][-1] / 10  # well before the blow-up
    assert_identical(before, snapshot(learner.module, learner.optimizer))
    # cached activations: one thread during the test, the caller's count afterwards
    assert seen_threads[-1] == 1 and torch.get_num_threads() == threads


def test_lr_find_job_repeats_exactly_and_keeps_the_callers_rng():
    learner = PreparedLearner()  # its model has dropout
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = run_to_end(lr_find_job(learner, start=1e-4, end=10, iters=40))
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)
    b = run_to_end(lr_find_job(learner, start=1e-4, end=10, iters=40))
    assert a["losses"] == b["losses"] and a["suggestions"] == b["suggestions"]


def test_lr_find_job_cancel_leaves_the_learner_untouched():
    learner = PreparedLearner(precompute=False)
    before = snapshot(learner.module, learner.optimizer)
    stop = threading.Event()
    with pytest.raises(Cancelled):
        run_to_end(lr_find_job(learner, iters=50, stop=stop), lambda r: stop.set() if r.get("iteration") == 3 else None)
    assert_identical(before, snapshot(learner.module, learner.optimizer))


# ---------------------------------------------------------------- suggestions on hand-made curves

LRS = np.logspace(-7, 1, 100)


def u_curve(noise=0.0, seed=0):
    """Flat, then falling from 1e-4 to 1e-1, bottom near 0.3, then exploding."""
    t = np.log10(LRS)
    loss = 2.0 - 1.5 / (1 + np.exp(-(t + 2.5) * 2.2)) + np.where(t > -0.5, (t + 0.5) ** 2 * 3, 0)
    return loss + np.random.default_rng(seed).normal(0, noise, len(t))


def test_suggestions_on_a_clean_u_curve_sit_on_the_falling_side():
    loss = u_curve()
    bottom = LRS[np.argmin(loss)]
    s = suggest_all(LRS, loss)
    assert set(s) == set(SUGGESTERS)
    for name, lr in s.items():
        assert lr is not None, name
        assert 1e-5 < lr < bottom, (name, lr, bottom)  # before the minimum, where the loss still falls
    assert suggest_min_div10(LRS, loss) == pytest.approx(bottom / 10)
    steep = suggest_steepest(LRS, loss)
    assert 10**-3.2 < steep < 10**-1.8  # the sigmoid's steepest point is at 10^-2.5


def test_suggestions_on_a_noisy_curve_stay_sensible():
    for seed in range(5):
        loss = u_curve(noise=0.05, seed=seed)
        valley = suggest_valley(LRS, loss)
        assert valley is not None and 1e-5 < valley < 0.5
        for name, lr in suggest_all(LRS, loss).items():
            assert lr is None or (LRS[0] / 10 <= lr <= LRS[-1]), name


def test_suggestions_on_monotone_curves():
    rising = np.linspace(1, 5, 50)
    falling = rising[::-1].copy()
    lrs = LRS[:50]
    for fn in SUGGESTERS.values():
        assert fn(lrs, rising) is None, fn.__name__  # never falls: nothing to suggest
    v = suggest_valley(lrs, falling)
    assert v == pytest.approx(lrs[24])  # middle of the one long descent
    assert suggest_min_div10(lrs, falling) == pytest.approx(lrs[-1] / 10)
    assert suggest_steepest(lrs, falling) is not None


def test_suggestions_on_flat_and_short_and_broken_curves():
    flat = np.full(60, 0.7)
    for fn in SUGGESTERS.values():
        assert fn(LRS[:60], flat) is None
        assert fn([], []) is None
        assert fn([1e-3], [1.0]) is None
        fn([1e-3, 1e-2], [1.0, 0.5])  # two or three points: no crash
        fn([1e-3, 1e-2, 1e-1], [1.0, 0.5, 0.9])
        fn([1e-3, 1e-2, 1e-1], [1.0, float("nan"), 0.9])  # cut at the NaN
        fn(LRS[:3], [float("inf")] * 3)
    assert suggest_valley([1e-3, 1e-2], [1.0, 0.5]) == pytest.approx(1e-3)
    assert suggest_steepest([1e-3, 1e-2, 1e-1], [1.0, 0.5, 0.9]) is not None
    assert suggest_slide([1e-3, 1e-2], [1.0, 0.5]) is None  # too short for a sliding window
    assert suggest_all([], []) == {name: None for name in SUGGESTERS}
    # NaN after the valley: everything before it still counts
    loss = u_curve()
    loss[70:] = np.nan
    assert suggest_valley(LRS, loss) == suggest_valley(LRS[:70], loss[:70])


# ---------------------------------------------------------------- CLI


def cli(*argv):
    import main

    return main.main(["lr-find", *map(str, argv)])


@pytest.mark.slow
def test_cli_json_and_plot_on_the_sample(tmp_path, capsys):
    png = tmp_path / "lr.png"
    assert cli(SAMPLE, "--size", 64, "--iters", 60, "--json", "--plot", png) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["lrs"]) == len(out["losses"]) and 10 < len(out["lrs"]) <= 60
    assert out["lrs"][0] == pytest.approx(1e-7)
    assert set(out["suggestions"]) == set(SUGGESTERS)
    assert out["suggestions"]["valley"] is not None and 1e-6 < out["suggestions"]["valley"] < 10
    from PIL import Image

    with Image.open(png) as im:
        assert im.size[0] >= 600 and len(np.unique(np.asarray(im.convert("L")))) > 20
    # the text form lists every step and every suggestion (features are cached now: fast)
    assert cli(SAMPLE, "--size", 64, "--iters", 20, "--mode", "linear", "--start", 1e-4, "--end", 1e-2) == 0
    text = capsys.readouterr().out
    assert "suggested learning rates" in text and "valley" in text and "min ÷ 10" in text
    assert len([ln for ln in text.splitlines() if ln.strip()[:1].isdigit()]) >= 20


def test_cli_errors_are_one_clear_line(tmp_path, capsys):
    assert cli(tmp_path / "nope") != 0
    err = capsys.readouterr().err
    assert err.startswith("fovea: error:") and err.count("\n") == 1
    assert cli(SAMPLE, "--start", 1, "--end", 0.1) != 0
    assert "must be larger than the start" in capsys.readouterr().err
    assert cli(SAMPLE, "--plot", tmp_path / "x.jpg") != 0
    assert ".png" in capsys.readouterr().err
