"""The run store: every training run, its per-epoch metrics and its models, kept under the per-user
data folder (``engine.paths.data_dir("store")``).

Layout: ``runs/<id>/run.json`` (the record: dataset path, name and fingerprint, classes, configs,
epochs, which checkpoint is the last and which the best, state), ``runs/<id>/curves.json`` (batch
loss and LR, for the charts' overlays) and ``runs/<id>/epoch-NNN.pth`` (model files, at most two: the
last epoch's and the best epoch's by validation loss). Every file is written whole or not at all
(``atomic_file``); a new checkpoint is written before the record that names it, and a replaced one is
removed only after, so a kill at any moment loses at most the epoch in progress. Run ids come from
``mkdir`` under a lock: two processes never share one, and each writes only its own folder.

Torch is imported only to load or write models. ``state.json`` (current model, opened files, cap) is
``engine.store_state``; the recording job is ``engine.run_training``.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

from engine.paths import data_dir
from engine.run_records import (
    CURVES,
    FORMAT,
    INTERRUPTED,
    METRICS,
    RECORD,
    STATES,
    beats,
    dataset_fingerprint,
    now,
    process_alive,
    process_token,
    read_json,
    record_problem,
    thin_values,
    write_json,
)
from engine.store_state import Cap, StoreState

NEW_FOLDER_SECONDS = 60  # a run folder without a record, younger than this, is a run being created


class Run:
    """One run being recorded. A failed write (read-only or full disk) stops the recording, never the
    training: ``error`` then says why, and the run goes on in memory only."""

    def __init__(self, store: RunStore, record: dict, folder: Path | None, error: str | None = None):
        self.store, self.record, self.folder, self.error = store, record, folder, error
        self._curves: dict[str, list] = {"iteration": [], "loss": [], "lr": []}

    @property
    def id(self) -> int | None:
        return self.record["id"]

    @property
    def saved(self) -> bool:
        return self.folder is not None and self.error is None

    def record_batch(self, batch: dict) -> None:
        for key in self._curves:
            self._curves[key].append(batch[key])

    def weights_info(self, entry: dict) -> dict:
        """What a model holding this epoch's weights is (``ModelMeta.run``, ``Learner.weights_from``)."""
        rec = self.record
        info = {"run": self.id, "epoch": entry["epoch"], "state": rec["state"], "arch": rec["arch"]}
        info.update({k: entry.get(k) for k in METRICS}, dataset=rec["dataset"].get("name", ""))
        return info

    def record_epoch(self, epoch: dict, model, config: dict) -> dict:
        """Add a finished epoch (``epoch["epoch"]`` counts from the run's start), write its checkpoint and
        the record; returns the weights info now true for ``model``."""
        entry = {"epoch": int(epoch["epoch"]), "seconds": float(epoch.get("seconds", 0.0))}
        entry.update({k: float(epoch[k]) for k in METRICS}, stage=len(self.record["configs"]) - 1)
        self.record["epochs"].append(entry)
        info = self.weights_info(entry)
        if not self.saved:
            return info
        try:
            file = f"epoch-{entry['epoch']:03d}.pth"
            self._write_checkpoint(model, self.folder / file, info, config)
            point = {"epoch": entry["epoch"], "file": file, "accuracy": entry["accuracy"]}
            point["valid_loss"] = entry["valid_loss"]
            self.record["last"] = point
            if beats(point, self.record.get("best")):
                self.record["best"] = point
            self._write()
            self._remove_unreferenced()
        except OSError as exc:
            self._storage_failed(exc)
        return info

    def set_config(self, config: dict) -> None:
        """The config the next epochs train with (a run may have stages: precompute, then images)."""
        if self.record["configs"][-1] != config:
            self.record["configs"].append(config)

    def finish(self, state: str, message: str = "", result: dict | None = None) -> None:
        """Record how the run ended: done, cancelled, diverged or failed (with a message)."""
        if state not in STATES[1:]:
            raise ValueError(f"a run ends done, cancelled, diverged or failed (got {state!r})")
        self.record.update(state=state, message=message, ended=now())
        if result is not None:
            self.record["result"] = {k: v for k, v in result.items() if isinstance(v, (int, float, bool))}
        if self.saved:
            try:
                self._write()
            except OSError as exc:
                self._storage_failed(exc)

    # ------------------------------------------------------------ files

    def _write_checkpoint(self, model, path: Path, info: dict, config: dict) -> None:
        from engine.models import save_model

        meta = model.meta
        meta.run = dict(info)
        meta.metrics = {**{k: info[k] for k in METRICS}, "epochs": info["epoch"]}
        meta.settings, meta.dataset, meta.created = dict(config), self.record["dataset"]["path"], now()
        save_model(model, path)

    def _write(self) -> None:
        self.record["updated"] = now()
        write_json(self.folder / CURVES, {k: thin_values(v) for k, v in self._curves.items()})
        write_json(self.folder / RECORD, self.record)

    def _remove_unreferenced(self) -> None:
        keep = {e["file"] for e in (self.record.get("last"), self.record.get("best")) if e}
        for path in self.folder.glob("epoch-*.pth"):
            if path.name not in keep:
                path.unlink(missing_ok=True)

    def _storage_failed(self, exc: OSError) -> None:
        self.error = storage_message(self.store.root, exc)


def storage_message(root: Path, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    return (
        f"Could not write to the run store ({root}): {why}. Training goes on, but this run and its "
        "models are not being kept — save the model yourself, or free space / fix permissions."
    )


class RunStore:
    """Every run and its models, under ``root`` (default: the per-user data folder's ``store``)."""

    def __init__(self, root: str | Path | None = None):
        # made by the first write: a read-only disk shows up as a message then, not as a crash here
        self.root = Path(root) if root is not None else data_dir("store", create=False)
        self.state = StoreState(self.root)
        self.problems: list[str] = []  # damaged records/checkpoints found, one line each

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def folder(self, run_id: int) -> Path:
        return self.runs_dir / str(int(run_id))

    # ------------------------------------------------------------ recording

    def start_run(self, dataset, config: dict, parent: dict | None = None, device: str = "") -> Run:
        """A new run, its record written; on a read-only or full disk an unsaved run (``run.error``)."""
        record = {
            "format": FORMAT,
            "id": None,
            "created": now(),
            "state": "running",
            "message": "",
            "process": {"pid": os.getpid(), "host": socket.gethostname(), "token": process_token(os.getpid())},
            "dataset": {"path": str(dataset.root), "name": Path(dataset.root).name},
            "classes": list(dataset.classes),
            "arch": config.get("arch", ""),
            "device": device,
            "configs": [dict(config)],
            "parent": dict(parent) if parent else None,
            "epochs": [],
            "best": None,
            "last": None,
        }
        try:
            record["dataset"]["fingerprint"] = dataset_fingerprint(dataset)
            record["id"] = self._new_id()
            run = Run(self, record, self.folder(record["id"]))
            run._write()
        except OSError as exc:
            return Run(self, record, None, storage_message(self.root, exc))
        return run

    def _new_id(self) -> int:
        """The next run id, its folder made (mkdir is atomic: never shared, never reused)."""

        def allocate(state):
            n = max([state["last_id"]] + self._ids()) + 1
            while True:
                try:
                    self.folder(n).mkdir(parents=True)
                    break
                except FileExistsError:
                    n += 1
            state["last_id"] = n
            return n

        return self.state.update(allocate)

    # ------------------------------------------------------------ reading

    def _ids(self) -> list[int]:
        try:
            return sorted(int(p.name) for p in self.runs_dir.iterdir() if p.name.isdigit())
        except OSError:
            return []

    def _read(self, run_id: int) -> tuple[dict | None, str | None]:
        """(record with its current state, None) or (None, why it is unusable; "" while being created)."""
        folder = self.folder(run_id)
        try:
            rec = read_json(folder / RECORD)
        except FileNotFoundError:
            if not folder.is_dir():
                return None, f"there is no run {run_id} in the store ({self.runs_dir})"
            try:
                young = time.time() - folder.stat().st_mtime < NEW_FOLDER_SECONDS
            except OSError:
                young = True  # deleted meanwhile
            return None, "" if young else f"run {run_id} has no record ({folder / RECORD} is missing)"
        except (OSError, ValueError) as exc:
            return None, f"run {run_id}'s record is damaged ({getattr(exc, 'strerror', None) or exc})"
        why = record_problem(rec, run_id)
        if why:
            return None, f"run {run_id}'s record is damaged: {why}"
        if rec["state"] == "running" and not process_alive(rec):
            rec["state"] = INTERRUPTED
        return rec, None

    def report(self, message: str) -> None:
        if message and message not in self.problems:
            self.problems.append(message)

    def get(self, run_id: int) -> dict:
        """Run ``run_id``'s record; ValueError (one line) when it is missing or damaged."""
        rec, why = self._read(int(run_id))
        if rec is None:
            raise ValueError(why or f"run {run_id} is still being created")
        return rec

    def list_runs(self, dataset=None) -> list[dict]:
        """Run records, newest first; only ``dataset``'s (a Dataset or a folder) when given. Damaged
        records are skipped and reported in ``problems``."""
        want = None if dataset is None else os.path.realpath(getattr(dataset, "root", dataset))
        out = []
        for run_id in reversed(self._ids()):
            rec, why = self._read(run_id)
            if rec is None:
                self.report(why)
            elif want is None or os.path.realpath(rec["dataset"].get("path", "")) == want:
                out.append(rec)
        return out

    def curves(self, run_id: int) -> dict:
        """The run's batch curves {"iteration", "loss", "lr"} (empty lists when unreadable)."""
        try:
            data = read_json(self.folder(run_id) / CURVES)
            if isinstance(data, dict) and all(isinstance(data.get(k), list) for k in ("iteration", "loss", "lr")):
                return data
        except (OSError, ValueError):
            pass
        return {"iteration": [], "loss": [], "lr": []}

    def load_model(self, run_id: int, which: str = "best", device="cpu"):
        """The run's best or last model (engine.models.FoveaModel); ValueError when it has none or
        its checkpoint is damaged or does not match the record (never a wrong model)."""
        from engine.models import load_model

        if which not in ("best", "last"):
            raise ValueError(f"a run's model is its 'best' or 'last' epoch (got {which!r})")
        rec = self.get(run_id)
        entry = rec.get(which)
        if entry is None:
            raise ValueError(f"run {run_id} has no stored model: it ended before its first epoch finished")
        path = self.folder(run_id) / entry["file"]
        try:
            model = load_model(path, device)
        except ValueError as exc:
            raise ValueError(f"run {run_id}'s {which} model is damaged: {exc}") from None
        info = model.meta.run
        if info.get("run") != rec["id"] or info.get("epoch") != entry["epoch"]:
            raise ValueError(
                f"run {run_id}'s {which} model is damaged: {path.name} holds run {info.get('run')} "
                f"epoch {info.get('epoch')}, the record says epoch {entry['epoch']}"
            )
        model.meta.run = {**info, "state": rec["state"], "which": which}
        return model

    # ------------------------------------------------------------ deleting, disk, cap

    def delete(self, run_id: int) -> int:
        """Remove a run with its models; returns the bytes freed. Refused while it trains."""
        rec, why = self._read(int(run_id))
        if rec is None and why.startswith("there is no run"):
            raise ValueError(why)
        if rec is not None and rec["state"] == "running":
            raise ValueError(f"run {run_id} is still training (process {rec['process'].get('pid')}): cancel it first")
        freed = self.disk_usage(run_id)
        shutil.rmtree(self.folder(run_id))
        cur = self.state.current()
        if cur and cur.get("run") == int(run_id):
            self.state.set_current(None)
        return freed

    def disk_usage(self, run_id: int | None = None) -> int:
        """Bytes used by one run, or by the whole store."""
        top = self.folder(run_id) if run_id is not None else self.root
        total = 0
        for dirpath, _dirs, files in os.walk(top):
            for name in files:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
        return total

    def cap(self) -> Cap:
        return self.state.cap()

    def set_cap(self, keep_per_dataset: int | None = None, max_bytes: int | None = None) -> Cap:
        """Keep the newest N runs per dataset and/or at most so many bytes (None: no such limit)."""
        cap = Cap(keep_per_dataset, max_bytes).check()
        self.state.set_cap(cap)
        return cap

    def enforce_cap(self, protect=()) -> list[int]:
        """Delete the oldest runs beyond the cap; never ``protect``ed ids, the current model's run or runs
        still training. Returns the ids deleted."""
        cap, runs = self.cap(), self.list_runs()
        current = (self.state.current() or {}).get("run")
        safe = {int(i) for i in protect if i is not None} | {current}
        safe |= {r["id"] for r in runs if r["state"] == "running"}
        doomed: list[int] = []
        if cap.keep_per_dataset is not None:
            seen: dict[str, int] = {}
            for r in runs:  # newest first
                key = os.path.realpath(r["dataset"].get("path", ""))
                seen[key] = seen.get(key, 0) + 1
                if seen[key] > cap.keep_per_dataset and r["id"] not in safe:
                    doomed.append(r["id"])
        if cap.max_bytes is not None:
            sizes = {r["id"]: self.disk_usage(r["id"]) for r in runs if r["id"] not in doomed}
            total = sum(sizes.values())
            for r in reversed(runs):  # oldest first
                if total <= cap.max_bytes:
                    break
                if r["id"] in sizes and r["id"] not in safe:
                    doomed.append(r["id"])
                    total -= sizes[r["id"]]
        for run_id in doomed:
            shutil.rmtree(self.folder(run_id), ignore_errors=True)
        for r in runs:
            if r["state"] != "running" and r["id"] not in doomed:
                self._tidy(r)
        return doomed

    def _tidy(self, rec: dict) -> None:
        """Remove what a killed process left in a finished run's folder: a checkpoint written but never
        named by the record, half-written temporary files."""
        keep = {e["file"] for e in (rec.get("last"), rec.get("best")) if e}
        folder = self.folder(rec["id"])
        for path in list(folder.glob("epoch-*.pth")) + list(folder.glob(".fovea-*")):
            if path.name not in keep:
                path.unlink(missing_ok=True)


class UnrecordedStore(RunStore):
    """Keeps nothing: the processes of a data-parallel run other than rank 0 take the same steps (and
    the same divergence checks) as rank 0, which alone records the run."""

    def __init__(self):
        super().__init__(root=os.devnull)

    def start_run(self, dataset, config: dict, parent: dict | None = None, device: str = "") -> Run:
        record = {"id": None, "state": "running", "arch": config.get("arch", ""), "configs": [dict(config)]}
        record.update(epochs=[], best=None, last=None, dataset={"path": str(dataset.root), "name": ""})
        return Run(self, record, None)
