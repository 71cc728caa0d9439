"""Tests of splicer_tutorial.owndata: your own images from an .npz or a folder of TIFF files,
written here by the tests themselves, from files to probes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from splicer_tutorial import cli, owndata, runs


def cells(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """uint16 images (n, 3, 12, 12) whose channel 1 is bright in proportion to a 3-class label."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = (rng.random((n, 3, 12, 12)) * 1000).astype(np.uint16)
    images[:, 1] += (labels[:, None, None] * 900).astype(np.uint16)
    return images, labels


@pytest.fixture()
def npz(tmp_path: Path) -> Path:
    images, labels = cells()
    path = tmp_path / "cells.npz"
    np.savez(path, images=images, channel_names=np.array(["DAPI", "CD3", "noise"]),
             labels_kind=np.array(["B", "T", "NK"])[labels])
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    tifffile = pytest.importorskip("tifffile")
    images, labels = cells()
    root = tmp_path / "panel"
    (root / "masks").mkdir(parents=True)
    rows = ["file,kind"]
    for i, (image, label) in enumerate(zip(images, labels)):
        tifffile.imwrite(root / f"cell{i:02d}.tif", image, photometric="minisblack")
        mask = np.zeros((12, 12), np.int32)
        mask[3:9, 3:9] = 1
        tifffile.imwrite(root / "masks" / f"cell{i:02d}.tif", mask)
        rows.append(f"cell{i:02d}.tif,{label}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    (root / "dataset.json").write_text(json.dumps({"channel_names": ["DAPI", "CD3", "noise"]}))
    return root


@pytest.fixture(autouse=True)
def fresh_reads():
    """Each test writes its own files: forget what earlier tests read."""
    owndata.read.cache_clear()
    owndata.dataset.cache_clear()
    runs.own_family.cache_clear()
    yield


def test_npz_loads_scaled_split_and_labelled(npz: Path) -> None:
    data = owndata.load(f"npz:{npz}", seed=0)
    train, test = data["train"]["all"], data["test"]["all"]
    assert len(train) == 32 and len(test) == 8 and train.images.dtype == torch.uint8
    assert train.channel_names == ("DAPI", "CD3", "noise") and set(train.factors) == {"kind"}
    assert sorted(set(train.names) | set(test.names)) == sorted(str(i) for i in range(40))
    assert not set(train.names) & set(test.names)
    # names as labels: indices of the sorted class names
    raw = owndata.read(f"npz:{npz}")
    assert raw.class_names["kind"] == ["B", "NK", "T"]
    # each channel spans 0-255 after scaling from its percentiles
    everything = torch.cat([train.images, test.images])
    assert everything.amax(dim=(0, 2, 3)).tolist() == [255, 255, 255] and everything.amin() == 0
    again = owndata.load(f"npz:{npz}", seed=0)
    assert torch.equal(again["train"]["all"].images, train.images)
    assert owndata.load(f"npz:{npz}", seed=1)["train"]["all"].names != train.names


def test_uint8_images_are_kept_as_they_are() -> None:
    images = np.random.default_rng(0).integers(0, 200, (4, 2, 3, 3), dtype=np.uint8)
    assert owndata.to_uint8(images) is images
    scaled = owndata.to_uint8(np.stack([images[:, 0].astype(float) * 7, np.ones((4, 3, 3))], 1))
    assert scaled[:, 1].max() == 0, "a constant channel becomes 0"


def test_folder_with_sidecar_labels_and_masks(folder: Path) -> None:
    spec = owndata.dataset(f"folder:{folder}")
    assert spec.channels == ("DAPI", "CD3", "noise") and spec.factors == ("kind",) and spec.mask_labels == 2
    data = owndata.load(f"folder:{folder}", seed=0)
    train = data["train"]["all"]
    assert train.masks is not None and train.masks.shape == (32, 12, 12) and train.names[0].endswith(".tif")
    resized = owndata.load(f"folder:{folder}", seed=0, size=(8, 10))["train"]["all"]
    assert resized.images.shape == (32, 3, 8, 10) and resized.masks.shape == (32, 8, 10)
    assert set(resized.masks.unique().tolist()) == {0, 1}, "masks resized nearest-neighbour"


def test_an_own_folder_runs_end_to_end_from_the_command_line(folder: Path, tmp_path: Path, capsys) -> None:
    out, embeddings = tmp_path / "run.json", tmp_path / "z.npz"
    assert cli.main(["run", "--dataset", f"folder:{folder}", "--variant", "splicer", "--epochs", "2", "--width", "4",
                     "--save-embeddings", str(embeddings), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["dataset"] == f"folder:{folder}" and result["components"]["kind"] == "masks"
    assert 0 <= result["probes"]["all"]["kind"] <= 1 and result["embeddings"] == str(embeddings)
    saved = np.load(embeddings)
    assert saved["features"].shape[0] == saved["embeddings"].shape[0] == 40 and saved["labels_kind"].shape == (40,)
    assert sorted(set(saved["split"].tolist())) == ["test", "train"] and saved["names"][0].endswith(".tif")
    # channel groups by name instead of the masks
    assert cli.main(["run", "--dataset", f"folder:{folder}", "--variant", "splicer", "--groups", "DAPI,CD3+noise",
                     "--epochs", "1", "--width", "4", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["components"]["groups"] == [["DAPI"], ["CD3", "noise"]]


def test_without_labels_nothing_is_probed_and_the_embeddings_are_kept(tmp_path: Path) -> None:
    images, _ = cells(20)
    path = tmp_path / "plain.npz"
    np.savez(path, images=images)
    config = runs.train_config(f"npz:{path}", "fast", epochs=1, width=4)
    result = runs.run(f"npz:{path}", config, "fast", progress=False, save_embeddings=str(tmp_path / "e.npz"))
    assert result["probes"] == {} or all(not v for v in result["probes"].values())
    assert set(np.load(tmp_path / "e.npz")) == {"features", "embeddings", "names", "split"}


@pytest.mark.parametrize("arrays, message", [
    ({"pictures": np.zeros((4, 1, 4, 4))}, "no array 'images'"),
    ({"images": np.zeros((4, 4, 4))}, r"\(N, C, H, W\) array"),
    ({"images": np.zeros((4, 2, 4, 4)), "channel_names": np.array(["a"])}, "1 names for 2 channels"),
    ({"images": np.zeros((4, 2, 4, 4)), "labels": np.zeros(3)}, r"one label per image, shape \(4,\)"),
    ({"images": np.zeros((4, 2, 4, 4)), "masks": np.zeros((4, 5, 5), int)}, "'masks' must be integer label maps"),
    ({"images": np.zeros((4, 2, 4, 4)), "extra": np.zeros(4)}, "unknown array 'extra'"),
    ({"images": np.zeros((4, 2, 4, 4)), "labels": np.array([0, -1, 1, 2])}, "negative labels"),
])
def test_bad_npz_is_one_line_naming_the_array(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        owndata.read(f"npz:{path}")


def test_bad_folders_are_one_line_naming_the_file(folder: Path, tmp_path: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    tifffile.imwrite(folder / "wide.tif", np.zeros((3, 12, 20), np.uint16), photometric="minisblack")
    with pytest.raises(ValueError, match="no row for 1 images"):
        owndata.read(f"folder:{folder}")
    (folder / "labels.csv").write_text((folder / "labels.csv").read_text() + "wide.tif,0\n")
    (folder / "masks" / "cell00.tif").rename(folder / "masks" / "wide.tif")
    owndata.read.cache_clear()
    with pytest.raises(ValueError, match="no mask 'cell00.tif'"):
        owndata.read(f"folder:{folder}")
    (folder / "masks" / "wide.tif").rename(folder / "masks" / "cell00.tif")
    tifffile.imwrite(folder / "masks" / "wide.tif", np.zeros((12, 20), np.int32))
    owndata.read.cache_clear()
    with pytest.raises(ValueError, match=r"2 sizes .*--image-size HxW"):
        owndata.load(f"folder:{folder}")
    assert owndata.load(f"folder:{folder}", size=(12, 12))["train"]["all"].images.shape[1:] == (3, 12, 12)
    (folder / "dataset.json").write_text('{"channel_names": ["a", "b"]}')
    owndata.read.cache_clear()
    with pytest.raises(ValueError, match="names 2 channels but the images have 3"):
        owndata.read(f"folder:{folder}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds 0 .tif files"):
        owndata.read(f"folder:{empty}")
    with pytest.raises(ValueError, match="no such folder"):
        owndata.read(f"folder:{tmp_path / 'nowhere'}")


def test_command_line_errors_name_the_option(npz: Path, tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "x.json")
    for argv, message in ((["--dataset", f"npz:{npz}", "--correlation", "0.5"], "--correlation only applies"),
                          (["--dataset", f"npz:{npz}", "--variant", "splicer", "--groups", "DAPI,CD8"],
                           "groups[1] names 'CD8', which is not a channel"),
                          (["--dataset", f"npz:{npz}", "--save-embeddings", "z.csv"], "must end in .npz"),
                          (["--image-size", "8x8"], "--image-size only applies to --dataset folder:PATH or npz:PATH")):
        assert cli.main(["run", *argv, "--epochs", "1", "--out", out]) == 1
        assert message in capsys.readouterr().err
