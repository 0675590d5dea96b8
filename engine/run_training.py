"""Training as a recorded run: the job the window and the CLI start instead of ``Learner.fit``.

``train_run(learner, store, configs)`` fits the learner with each config in turn (one stage each) and
keeps the whole as one run in the store (engine.runs): every finished epoch's checkpoint and record,
written before the epoch's record is passed on. What the model in memory is afterwards:
- done: the last epoch;
- cancelled: the last finished epoch (a half-trained epoch is dropped, so the model, its metadata and
  the stored checkpoint agree), or the model from before the run when no epoch finished;
- diverged (engine.run_rules): the model from before the run, optimizer state included — the previous
  model stays current; the error says to lower the LR or use the LR finder;
- failed: the last finished epoch, as for cancel.
``learner.weights_from`` always says which run and epoch the weights are, and ``Learner.save`` writes it.
A store that cannot be written (read-only, full) stops the recording, not the training: a
``{"type": "run", "error": …}`` record says so and the result carries ``store_error``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Generator
from dataclasses import dataclass

from engine.config import TrainConfig, config_dict, config_from_dict
from engine.jobs import Cancelled, describe_error
from engine.run_rules import Diverged
from engine.runs import Run, RunStore
from engine.state_copy import clone_state, cpu_state


@dataclass
class _Snapshot:
    """Everything a restore puts back: weights (on the CPU), optimizer state, and what they are."""

    weights: dict
    optimizer: object
    optimizer_state: dict | None
    history_len: int
    weights_from: dict
    metrics: dict


def _snapshot(learner) -> _Snapshot:
    opt = learner.optimizer
    return _Snapshot(
        cpu_state(learner.model),
        opt,
        clone_state(opt.state_dict()) if opt is not None else None,
        len(learner.history),
        dict(learner.weights_from),
        dict(learner.metrics),
    )


def _restore(learner, snap: _Snapshot) -> None:
    learner.model.load_state_dict(snap.weights)
    learner.model.eval()
    if snap.optimizer is not None and learner.optimizer is snap.optimizer:
        learner.optimizer.load_state_dict(snap.optimizer_state)
    else:
        learner.optimizer = None  # made afresh by the next fit
    del learner.history[snap.history_len :]
    learner.weights_from, learner.metrics = dict(snap.weights_from), dict(snap.metrics)


def train_run(
    learner, store: RunStore, configs: list[TrainConfig] | None = None, stop: threading.Event | None = None
) -> Generator[dict, None, dict]:
    """Job: train ``learner`` with each of ``configs`` (default: its config) as one recorded run.

    Yields ``{"type": "run", "run": id | None, "error": str}`` first (and again if the store fails later),
    then ``Learner.fit``'s records with ``epoch`` and ``iteration`` counted from the run's start.
    Returns the last fit's result with ``run``, ``epochs`` (the run's), ``history`` (all its epochs) and
    ``store_error``. Raises Diverged, Cancelled or the error that stopped it, after the restore above.
    """
    configs = list(configs) if configs else [learner.config]
    learner.config = configs[0]
    yield from learner.prepare(stop)
    before = _snapshot(learner)
    run = store.start_run(
        learner.dataset, config_dict(configs[0]), parent=learner.weights_from or None, device=str(learner.device)
    )
    progress = _RunProgress(learner, run, before)
    try:
        yield {"type": "run", "run": run.id, "error": run.error or ""}
        for config in configs:
            learner.config = config
            run.set_config(config_dict(config))
            yield from progress.fit(stop)
    except Diverged as exc:
        progress.end(before, "diverged", str(exc))
        raise
    except (Cancelled, GeneratorExit, KeyboardInterrupt):
        progress.end(progress.last_good, "cancelled", "cancelled by the user")
        raise
    except BaseException as exc:
        progress.end(progress.last_good, "failed", describe_error(exc))
        raise
    return progress.done(store)


class _RunProgress:
    """The bookkeeping of one recorded run: epoch numbering, checkpoints, the last good snapshot."""

    def __init__(self, learner, run: Run, before: _Snapshot):
        self.learner, self.run, self.last_good = learner, run, before
        self.epochs = self.iterations = 0
        self.history: list[dict] = []
        self.result: dict = {}
        self._reported = run.error

    def fit(self, stop) -> Generator[dict, None, None]:
        learner, gen = self.learner, self.learner.fit(stop)
        try:
            while True:
                try:
                    rec = next(gen)
                except StopIteration as end:
                    self.result = end.value
                    break
                rec = self._record(rec)
                yield rec
                if self.run.error != self._reported:
                    self._reported = self.run.error
                    yield {"type": "run", "run": self.run.id, "error": self.run.error or ""}
        finally:
            gen.close()  # on a cancel at our yield: the fit's own finally runs before the restore
        self.epochs += self.result["epochs"]
        self.iterations += self.result["iterations"]
        learner.metrics["epochs"] = self.epochs

    def _record(self, rec: dict) -> dict:
        kind = rec.get("type")
        if kind == "batch":
            rec = {**rec, "epoch": rec["epoch"] + self.epochs, "iteration": rec["iteration"] + self.iterations}
            self.run.record_batch(rec)
        elif kind == "epoch":
            rec = {**rec, "epoch": rec["epoch"] + self.epochs}
            learner = self.learner
            learner.weights_from = self.run.record_epoch(rec, learner.model, config_dict(learner.config))
            learner.metrics = {k: rec[k] for k in ("accuracy", "valid_loss", "train_loss")}
            learner.metrics["epochs"] = rec["epoch"]
            self.history.append(rec)
            self.last_good = _snapshot(learner)
        return rec

    def end(self, snap: _Snapshot, state: str, message: str) -> None:
        """A run that stopped early: restore ``snap``, record the state."""
        try:
            _restore(self.learner, snap)
        finally:
            self.run.finish(state, message)
            if self.learner.weights_from.get("run", False) == self.run.id:
                self.learner.weights_from["state"] = state

    def done(self, store: RunStore) -> dict:
        result = {k: v for k, v in self.result.items() if k != "history"}
        self.run.finish("done", result=result)
        self.learner.weights_from["state"] = "done"
        if self.run.saved:
            try:
                store.enforce_cap(protect={self.run.id})
            except OSError as exc:
                self.run.error = f"Could not apply the run store's cap: {exc.strerror or exc}"
        result.update(run=self.run.id, epochs=self.epochs, history=self.history, store_error=self.run.error)
        return result


def learner_from_run(store: RunStore, run_id: int, dataset, config: TrainConfig | None = None, which="best"):
    """A Learner on ``dataset`` holding run ``run_id``'s best or last model, ready to continue
    (``config`` default: the run's last config, on this computer's default device)."""
    from engine.training import Learner

    rec = store.get(run_id)
    if config is None:
        config = dataclasses.replace(config_from_dict(rec["configs"][-1]), device=None)
    learner = Learner(dataset, config)
    learner.use_model(store.load_model(run_id, which))
    return learner


def untrained_copy(learner):
    """A new Learner with ``learner``'s dataset and config, fresh from the pretrained weights (the LR
    finder's test on an already trained model); ``learner`` itself is not touched."""
    from engine.training import Learner

    return Learner(learner.dataset, learner.config)


def revert_to_best(learner, store: RunStore) -> dict:
    """Put the best epoch of the run ``learner``'s weights come from back into it (Revert to best
    epoch); returns the new ``weights_from``. ValueError when they come from no stored run."""
    run_id = learner.weights_from.get("run")
    if run_id is None:
        raise ValueError("this model does not come from a stored run: there is no best epoch to go back to")
    learner.use_model(store.load_model(run_id, "best"))
    return learner.weights_from
