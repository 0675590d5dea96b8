"""engine.dataset_maker: managed dataset folders, names, classes, adding/removing images, the split."""

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from engine import dataset_maker as dm
from engine.config import TrainConfig
from engine.data import scan_dataset
from engine.jobs import Cancelled, run_to_end
from engine.paths import data_dir
from tests.training_data import COLOURS, make_dataset, write_image


def pictures(n: int, seed: int = 0, colour=(200, 50, 40)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = np.array(colour, dtype=np.float32)
    return [np.clip(base + rng.normal(0, 40, (24, 30, 3)), 0, 255).astype(np.uint8) for _ in range(n)]


def add(folder, name, sources) -> dm.AddResult:
    return run_to_end(dm.add_images(folder, name, sources))


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def pets():
    folder = dm.create_dataset("pets")
    dm.add_class(folder, "cat")
    dm.add_class(folder, "dog")
    return folder


def test_create_makes_a_managed_folder_and_lists_it():
    folder = dm.create_dataset("  My pets ")
    assert folder == data_dir("datasets") / "My pets"
    assert (folder / "train").is_dir() and (folder / "valid").is_dir() and (folder / dm.MARKER).is_file()
    dm.create_dataset("birds")
    assert [p.name for p in dm.list_datasets()] == ["birds", "My pets"]
    with pytest.raises(dm.MakerError, match="already exists"):
        dm.create_dataset("my PETS")  # case-insensitive disks would merge them


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "Give the dataset a name"),
        ("a/b", "can't contain '/'"),
        ("what?", "can't contain '\\?'"),
        ("tab\there", "U\\+0009"),
        (".hidden", "start with a dot"),
        ("end.", "end with a dot"),
        ("x" * 65, "at most 64"),
        ("CON", "reserved"),
        ("Thumbs.db", "reserved"),
    ],
)
def test_unsafe_names_are_refused_with_a_reason(name, why):
    with pytest.raises(dm.MakerError, match=why):
        dm.create_dataset(name)
    assert dm.list_datasets() == []


def test_images_are_copied_deduplicated_and_refused_with_reasons(pets, tmp_path):
    own = tmp_path / "mine"
    files = [write_image(own / f"red_{i}.png", COLOURS["red"], i) for i in range(3)]
    (own / "notes.jpg").write_text("just some text\n")
    (own / "page.png").write_text("<!DOCTYPE html><html><body>404</body></html>")
    before = {p: p.read_bytes() for p in own.iterdir()}
    pasted = pictures(2)

    result = add(pets, "cat", [*files, own / "notes.jpg", own / "page.png", files[0], *pasted, pasted[0].copy()])

    assert len(result.added) == 5
    assert all(Path(p).parent.parent.parent == pets.resolve() for p in result.added)
    assert [r for _, r in result.refused] == [
        "not an image: text file saved with an image extension",
        "not an image: HTML page saved with an image extension",
    ]
    assert result.duplicates == [(str(files[0]), "cat"), ("pasted image", "cat")]
    # the user's own folder is untouched
    assert {p: p.read_bytes() for p in own.iterdir()} == before
    # copies are byte-identical, named by their content hash
    copy = next(p for p in result.added if Path(p).suffix == ".png" and Path(p).read_bytes() == before[files[1]])
    assert Path(copy).stem == hashlib.sha256(before[files[1]]).hexdigest()[:20]
    # the same picture in another class is found too
    again = add(pets, "dog", [files[2]])
    assert again.added == [] and again.duplicates == [(str(files[2]), "cat")]
    assert "Added 0 images to 'dog' · 1 already there (in 'cat')" == again.message("dog")
    assert not [p for p in pets.rglob(".*")]  # no temporary files left behind


def test_a_folder_adds_its_images(pets, tmp_path):
    for i in range(3):
        write_image(tmp_path / "drop" / f"{i}.png", COLOURS["blue"], i)
    (tmp_path / "drop" / "readme.txt").write_text("not an image")
    result = add(pets, "dog", [tmp_path / "drop"])
    assert len(result.added) == 3 and not result.refused


def test_split_first_train_then_valid_then_by_hash_and_adding_never_moves_images(pets):
    first = add(pets, "cat", pictures(2, seed=1))
    assert [Path(p).parent.parent.name for p in first.added] == ["train", "valid"]
    placed = files_under(pets)
    more = add(pets, "cat", pictures(60, seed=2))
    assert placed <= files_under(pets)  # nothing that was there moved
    for path in map(Path, more.added):
        score = int(path.stem[:8], 16) / 2**32
        assert path.parent.parent.name == ("valid" if score < dm.VALID_FRACTION else "train")
    counts = dm.read_dataset(pets).counts()["cat"]
    assert counts["train"] + counts["valid"] == 62
    assert 5 <= counts["valid"] <= 25  # about 20 %


def test_scan_dataset_opens_it_and_tiny_cnn_trains_on_it(pets):
    from engine.training import Learner

    add(pets, "cat", pictures(8, seed=3, colour=COLOURS["red"]))
    add(pets, "dog", pictures(8, seed=4, colour=COLOURS["blue"]))
    made = dm.read_dataset(pets)
    ds = scan_dataset(pets)
    assert ds.classes == ["cat", "dog"] and not ds.problems and not ds.valid_is_auto
    assert ds.counts() == made.counts()
    learner = Learner(ds, TrainConfig(arch="tiny_cnn", size=32, epochs=1, precompute=True, device="cpu", bs=4))
    result = run_to_end(learner.fit())
    assert len(result["history"]) == 1 and 0.0 <= result["accuracy"] <= 1.0


def test_rename_and_delete_classes(pets):
    add(pets, "cat", pictures(3, seed=5))
    assert dm.rename_class(pets, "cat", "kitten") == "kitten"
    assert [c.name for c in dm.read_dataset(pets).classes] == ["dog", "kitten"]
    assert dm.read_dataset(pets).counts()["kitten"] == {"train": 2, "valid": 1}
    assert dm.rename_class(pets, "kitten", "Kitten") == "Kitten"  # only the case changes
    assert (pets / "valid" / "Kitten").is_dir() and not (pets / "valid" / "kitten").exists()
    with pytest.raises(dm.MakerError, match="already a class 'dog'"):
        dm.rename_class(pets, "Kitten", "DOG")
    with pytest.raises(dm.MakerError, match="already a class"):
        dm.add_class(pets, "dog")
    dm.delete_class(pets, "Kitten")
    assert [c.name for c in dm.read_dataset(pets).classes] == ["dog"]
    assert not (pets / "valid" / "Kitten").exists()
    with pytest.raises(dm.MakerError, match="no class"):
        dm.delete_class(pets, "Kitten")


def test_removing_keeps_a_train_and_a_valid_image_per_class(pets):
    add(pets, "cat", pictures(4, seed=6))
    cat = dm.read_dataset(pets).class_named("cat")
    left = 4 - len(cat.valid)
    assert dm.remove_images(pets, cat.valid) == len(cat.valid)
    cat = dm.read_dataset(pets).class_named("cat")
    assert len(cat.valid) == 1 and len(cat.train) + len(cat.valid) == left  # a training image moved to valid
    assert dm.remove_images(pets, cat.train) == len(cat.train)
    cat = dm.read_dataset(pets).class_named("cat")
    assert len(cat.train) == 1 and cat.valid == ()  # the last image trains
    assert not (pets / "valid" / "cat").exists()  # no empty valid/cat/ for scan_dataset to report


def test_user_folders_are_never_changed(tmp_path):
    theirs = make_dataset(tmp_path / "theirs", n_train=2, n_valid=1)
    before = files_under(theirs)
    for action, args in (
        (dm.add_class, ("new",)),
        (dm.rename_class, ("red", "green")),
        (dm.delete_class, ("red",)),
        (dm.remove_images, ([theirs / "train" / "red" / "red_000.png"],)),
        (dm.delete_dataset, ()),
    ):
        with pytest.raises(dm.MakerError, match="never changes your own folders"):
            action(theirs, *args)
    with pytest.raises(dm.MakerError, match="never changes your own folders"):
        run_to_end(dm.add_images(theirs, "red", pictures(1)))
    assert files_under(theirs) == before


def test_remove_refuses_files_outside_the_dataset(pets, tmp_path):
    outside = write_image(tmp_path / "keep.png", COLOURS["red"], 1)
    with pytest.raises(dm.MakerError, match="not an image of this dataset"):
        dm.remove_images(pets, [outside])
    assert outside.exists()


def test_adding_stops_when_cancelled(pets):
    import threading

    stop = threading.Event()
    gen = dm.add_images(pets, "cat", pictures(5, seed=7), stop=stop)
    next(gen)
    stop.set()
    with pytest.raises(Cancelled):
        next(gen)
    assert dm.read_dataset(pets).image_count() == 1
    assert not [n for n in os.listdir(pets / "train" / "cat") if n.startswith(".")]
