"""Which model is current, and the models to choose from — stored runs (with their datasets' names)
and the model files the user opened — kept across restarts in the run store's ``state.json``.

A reference is ``{"run": 7, "which": "best"|"last"}``, ``{"path": "/abs/model.pth"}``, or None for
the pretrained ImageNet model. Torch is imported only to load a model.
"""

from __future__ import annotations

import os
from pathlib import Path

from engine.run_records import model_label
from engine.runs import RunStore


def current_model(store: RunStore) -> dict | None:
    """The current model's reference; one whose run was deleted or damaged, or whose file is gone,
    reads as None (the pretrained model) and is reported in ``store.problems``."""
    ref = store.state.current()
    for p in store.state.problems:
        store.report(p)
    if ref is None:
        return None
    if "path" in ref:
        if os.path.isfile(ref["path"]):
            return ref
        store.report(f"the current model file {ref['path']} is gone: using the pretrained model")
        return None
    try:
        rec = store.get(ref["run"])
    except ValueError as exc:
        store.report(f"the current model is unavailable ({exc}): using the pretrained model")
        return None
    if rec.get(ref["which"]) is None:
        store.report(f"run {ref['run']} has no stored model: using the pretrained model")
        return None
    return ref


def set_current_model(store: RunStore, ref: dict | None) -> None:
    """Make ``ref`` the current model (kept across restarts); OSError when the store cannot be written."""
    store.state.set_current(ref)


def load_model_ref(store: RunStore, ref: dict, device="cpu"):
    """The model a reference names (engine.models.FoveaModel); ValueError (one line) when it cannot load."""
    if "path" in ref:
        from engine.models import load_model

        return load_model(ref["path"], device)
    return store.load_model(ref["run"], ref.get("which", "best"), device)


def load_current_model(store: RunStore):
    """The current model, or None for the pretrained one (also when it cannot load: reported in
    ``store.problems``, never a wrong model). Synchronous: current_model_job on this thread."""
    from engine.jobs import run_to_end

    return run_to_end(current_model_job(store, warm_up=False))[1]


def load_current_model_job(store_root=None, stop=None):
    """Job: (the current model or None, the problems met: one line each), for the window at start-up.
    It reads a store of its own, so its problems are this job's; torch loads here, on the job's thread."""
    store = RunStore(store_root)
    _ref, model = yield from current_model_job(store, warm_up=False, stop=stop)
    return model, list(store.problems)


def open_model_file(store: RunStore, path: str | Path, device="cpu"):
    """Load a model file the user chose and remember it in the model list (if the store is writable)."""
    from engine.models import load_model

    model = load_model(path, device)
    try:
        store.state.add_opened(path)
    except OSError as exc:
        store.report(f"could not remember {path} in the model list: {exc.strerror or exc}")
    return model


def model_choices(store: RunStore, dataset=None) -> list[dict]:
    """Every model the user can pick: stored runs with a model (newest first; only ``dataset``'s when
    given), then the opened files that still exist. Each: {"ref", "label", "dataset", "state"}."""
    out = []
    for rec in store.list_runs(dataset):
        entry = rec.get("best") or rec.get("last")
        if entry is None:
            continue
        which = "best" if rec.get("best") else "last"
        info = {"run": rec["id"], "epoch": entry["epoch"], "arch": rec.get("arch", ""), "which": which}
        info.update(dataset=rec["dataset"].get("name", ""), state=rec["state"])
        choice = {"ref": {"run": rec["id"], "which": which}, "label": model_label(info)}
        out.append({**choice, "dataset": info["dataset"], "state": rec["state"]})
    for path in store.state.opened():
        if os.path.isfile(path):
            out.append({"ref": {"path": path}, "label": Path(path).name, "dataset": "", "state": "file"})
    return out


def load_choice_job(store: RunStore, ref: dict, opened: bool = False, warm_up: bool = True, stop=None):
    """Job: the model ``ref`` names, ready to predict (Classify's model list). ``opened``: a file the user
    just chose, remembered in the model list. ValueError (one line) when it cannot load."""
    from engine.inference import warm_up_model
    from engine.jobs import check

    yield {"type": "loading", "what": ref.get("path") or f"run {ref.get('run')}"}
    model = open_model_file(store, ref["path"]) if opened else load_model_ref(store, ref)
    check(stop)
    if warm_up:
        warm_up_model(model, None)
    return model


def current_model_job(store: RunStore, warm_up: bool = True, stop=None):
    """Job: (the current model's reference, its model) at start-up, or (None, None) for the pretrained
    model — also when the current one is gone or damaged (reported in ``store.problems``)."""
    yield {"type": "loading", "what": "current model"}
    ref = current_model(store)
    if ref is None:
        return None, None
    try:
        model = yield from load_choice_job(store, ref, warm_up=warm_up, stop=stop)
    except ValueError as exc:
        store.report(f"{exc}: using the pretrained model")
        return None, None
    return ref, model
