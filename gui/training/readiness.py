"""What the Train tab says before a run: the dataset's usable counts, leaving out files found unreadable."""

from __future__ import annotations

NO_DATASET = "No dataset yet. Next: open one (File ▸ Open), then find a learning rate, then Train."


def bad_files(verified: set[str], learner, dataset) -> set[str]:
    """Files found unreadable (by the Data tab's verification, or while training ``learner``): not counted."""
    bad = set(verified)
    if learner is not None and learner.dataset is dataset:
        for fs in learner.features.values():
            bad.update(path for path, _ in fs.errors)
        for loader in learner.image_loaders():
            bad.update(loader.errors)
    return bad


def ready_text(dataset, bad: set[str]) -> str:
    if dataset is None:
        return NO_DATASET
    usable = dataset.without(bad)
    return (
        f"Ready to train on {dataset.root.name}: {len(dataset.classes)} classes, {len(usable.train)} training and "
        f"{len(usable.valid)} validation images."
    )
