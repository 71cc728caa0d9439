"""Tests of splicer_tutorial.multispectral: synthetic Sentinel-2 tiles and the EuroSAT-MS loader."""

from __future__ import annotations

import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from splicer_tutorial import channels, datasets, multispectral
from splicer_tutorial.multispectral import (
    BAND_GROUPS,
    BANDS,
    EUROSAT_CLASSES,
    EUROSAT_URL,
    LAND_USE,
    dn_to_uint8,
    load_eurosat_ms,
    make_multispectral,
    to_uint8,
)

RED_EDGE = ("B5", "B6", "B7", "B8A")
VISIBLE = ("B2", "B3", "B4")


@pytest.fixture(scope="module")
def tiles():
    """An independent set (visible cue drawn apart from land use), the one the stats are read on."""
    return make_multispectral(1200, correlation=0.0, size=16, seed=0)


@pytest.fixture(scope="module")
def held_out():
    return make_multispectral(600, correlation=0.0, size=16, seed=1)


def band_means(s, bands) -> torch.Tensor:
    """(N, len(bands)) mean digital number of each tile in each band."""
    return s.images[:, [BANDS.index(b) for b in bands]].float().mean(dim=(2, 3))


def texture(s, band: str) -> torch.Tensor:
    """(N, 2): each tile's sd and kurtosis in ``band`` around the tile's mean."""
    r = s.images[:, BANDS.index(band)].float()
    r = r - r.mean(dim=(1, 2), keepdim=True)
    sd = r.pow(2).mean(dim=(1, 2)).sqrt()
    return torch.stack([sd, r.pow(4).mean(dim=(1, 2)) / sd.pow(4).clamp_min(1e-6)], dim=1)


def class_means(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[y == k].mean(0) for k in range(4)])


def separation(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Range of the 4 class means of each column of x (N, D), in standard errors of a class mean.

    Without a class effect this is the range of 4 normal draws: below 5 in 99% of cases.
    """
    means = class_means(x, y)
    within = torch.cat([x[y == k] - means[k] for k in range(4)]).std(0)
    return (means.amax(0) - means.amin(0)) / (within / (len(x) / 4) ** 0.5)


def nearest_centroid(train_x, train_y, test_x, test_y) -> float:
    """Accuracy of a nearest-centroid classifier on standardised features."""
    mu, sd = train_x.mean(0), train_x.std(0) + 1e-6
    centroids = class_means((train_x - mu) / sd, train_y)
    return (torch.cdist((test_x - mu) / sd, centroids).argmin(1) == test_y).float().mean().item()


def infrared_features(s) -> torch.Tensor:
    """Red-edge shape (each band over B8, so illumination cancels) and the SWIR textures."""
    m = band_means(s, RED_EDGE + ("B8",))
    return torch.cat([m[:, :4] / m[:, 4:], texture(s, "B11"), texture(s, "B12")], dim=1)


# ------------------------------------------------------------------------- generator


def test_shapes_names_and_balanced_labels(tiles) -> None:
    assert tiles.images.shape == (1200, 13, 16, 16) and tiles.images.dtype == torch.uint8
    assert tiles.channel_names == BANDS and set(tiles.factors) == set(multispectral.FACTORS)
    for factor in multispectral.FACTORS:
        counts = torch.bincount(tiles.labels(factor), minlength=4).float() / len(tiles)
        assert len(counts) == multispectral.NUM_CLASSES and torch.all((counts - 0.25).abs() < 0.05), factor


def test_band_groups_are_disjoint_and_skip_the_atmospheric_bands() -> None:
    grouped = [b for group in BAND_GROUPS.values() for b in group]
    assert len(grouped) == len(set(grouped)) and set(grouped) <= set(BANDS)
    assert set(BANDS) - set(grouped) == {"B1", "B9", "B10"}
    assert set(LAND_USE) <= set(EUROSAT_CLASSES)


def test_dataset_entry_for_the_shared_run() -> None:
    dataset = channels.get("multispectral")
    assert dataset is multispectral.DATASET and dataset.channels == BANDS and dataset.num_classes == 4
    assert dataset.groups == tuple(BAND_GROUPS.values()) and set(dataset.factors) == {"land_use", "visible_cue"}
    assert dataset.load is multispectral.load_multispectral


def test_reflectance_maps_linearly_to_uint8() -> None:
    assert to_uint8(torch.tensor([-0.1, 0.0, 0.1, 0.5, 0.9])).tolist() == [0, 0, 51, 255, 255]
    dn = np.array([0, 1000, 5000, 12000], dtype=np.uint16)  # reflectance x 10,000
    assert dn_to_uint8(dn).tolist() == to_uint8(torch.tensor(dn / 10_000)).tolist() == [0, 51, 255, 255]


def test_the_vegetation_spectrum_is_on_the_documented_scale(tiles) -> None:
    means = band_means(tiles, BANDS).mean(0)
    assert abs(means[BANDS.index("B8")] - 0.32 * 510) < 4  # NIR plateau, reflectance 0.32
    assert abs(means[BANDS.index("B11")] - 0.18 * 510) < 4
    red_edge = [means[BANDS.index(b)] for b in ("B4", "B5", "B6", "B7", "B8")]
    assert all(a < b for a, b in zip(red_edge, red_edge[1:]))  # rising from red to NIR


def test_same_seed_same_tiles() -> None:
    a, b = make_multispectral(20, 0.5, 16, seed=7), make_multispectral(20, 0.5, 16, seed=7)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels("visible_cue"), b.labels("visible_cue"))
    assert not torch.equal(a.images, make_multispectral(20, 0.5, 16, seed=8).images)


@pytest.mark.parametrize("correlation", [0.0, 0.6, 1.0])
def test_visible_cue_follows_the_land_use_at_the_correlation_rate(correlation: float) -> None:
    s = make_multispectral(4000, correlation, 12, seed=1)
    same = (s.labels("visible_cue") == s.labels("land_use")).float().mean().item()
    assert abs(same - (correlation + (1 - correlation) / 4)) < 0.03


def test_the_visible_cue_is_in_b2_to_b4_only(tiles) -> None:
    cue = separation(band_means(tiles, BANDS), tiles.labels("visible_cue"))
    for band, value in zip(BANDS, cue.tolist()):
        if band in VISIBLE:
            assert value > 60, band
        else:
            assert value < 6, band  # B8 and every infrared and atmospheric band: no cue


def test_land_use_is_in_the_infrared_only(tiles) -> None:
    land = separation(band_means(tiles, BANDS), tiles.labels("land_use"))
    assert max(land[BANDS.index(b)] for b in RED_EDGE) > 15
    for band, value in zip(BANDS, land.tolist()):
        if band not in RED_EDGE:
            assert value < 6, band  # the SWIR textures have mean 0: they do not move the means
    # the SWIR textures: none for Pasture; stripes flatter than blobs, dots peaky
    land_use = tiles.labels("land_use")
    sd, kurtosis = class_means(texture(tiles, "B11"), land_use).T
    pasture = LAND_USE.index("Pasture")
    assert all(sd[pasture] < 0.5 * sd[k] for k in range(4) if k != pasture)
    stripes, blobs, dots = (LAND_USE.index(c) for c in ("AnnualCrop", "HerbaceousVegetation", "PermanentCrop"))
    assert kurtosis[stripes] + 0.3 < kurtosis[blobs] and kurtosis[blobs] + 1 < kurtosis[dots]
    for band in ("B3", "B8"):  # no texture anywhere else
        spread = class_means(texture(tiles, band), land_use)[:, 0]
        assert spread.max() - spread.min() < 0.3, band


def test_the_land_use_cue_is_dim_and_the_visible_cue_bright(tiles, held_out) -> None:
    land_range = class_means(band_means(tiles, RED_EDGE), tiles.labels("land_use"))
    cue_range = class_means(band_means(tiles, VISIBLE), tiles.labels("visible_cue"))
    land_range, cue_range = land_range.amax(0) - land_range.amin(0), cue_range.amax(0) - cue_range.amin(0)
    assert land_range.max() < 0.25 * cue_range.min()  # digital numbers: about 10 against 55-77
    # no single band's brightness gives the land use away; one visible band gives the cue
    for band in BANDS:
        accuracy = nearest_centroid(band_means(tiles, (band,)), tiles.labels("land_use"),
                                    band_means(held_out, (band,)), held_out.labels("land_use"))
        assert accuracy < 0.42, band
    assert nearest_centroid(band_means(tiles, ("B2",)), tiles.labels("visible_cue"),
                            band_means(held_out, ("B2",)), held_out.labels("visible_cue")) > 0.7


def test_land_use_is_learnable_from_the_infrared_and_the_cue_from_the_visible(tiles, held_out) -> None:
    def accuracy(features, factor: str) -> float:
        return nearest_centroid(features(tiles), tiles.labels(factor), features(held_out), held_out.labels(factor))

    visible = lambda s: band_means(s, VISIBLE)  # noqa: E731
    assert accuracy(infrared_features, "land_use") > 0.85
    assert accuracy(visible, "visible_cue") > 0.95
    assert accuracy(visible, "land_use") < 0.35  # chance is 0.25
    assert accuracy(infrared_features, "visible_cue") < 0.35


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="correlation must be in"):
        make_multispectral(4, 1.5)
    with pytest.raises(ValueError, match="correlation must be in"):
        make_multispectral(4, -0.1)
    with pytest.raises(ValueError, match="size must be an int of at least 12"):
        make_multispectral(4, 0.0, size=8)
    with pytest.raises(ValueError, match="n must be a positive int"):
        make_multispectral(0, 0.0)
    with pytest.raises(ValueError, match="max_per_class must be None"):
        load_eurosat_ms(max_per_class=0, download=False)
    with pytest.raises(ValueError, match=r"test_fraction must be in \(0, 1\)"):
        load_eurosat_ms(test_fraction=1.0, download=False)


def test_load_multispectral_splits_and_variants() -> None:
    data = multispectral.load_multispectral("fast", correlation=1.0, n_train=40, n_test=20, size=12)
    assert set(data) == {"train", "test"} and all(set(data[s]) == set(multispectral.VARIANTS) for s in data)
    correlated = data["train"]["correlated"]
    assert torch.equal(correlated.labels("visible_cue"), correlated.labels("land_use"))
    assert correlated.name == "train/correlated" and correlated.images.shape == (40, 13, 12, 12)
    assert len(data["test"]["independent"]) == 20
    assert not torch.equal(data["train"]["independent"].images[:20], data["test"]["independent"].images)
    assert not torch.equal(data["train"]["independent"].images, data["train"]["correlated"].images)


# ------------------------------------------------------------------------ EuroSAT-MS


def fake_tile(label: int, j: int) -> np.ndarray:
    """A (13, 64, 64) uint16 tile, band b = 100 b + 400 label + 300 j + 3 x (all below 5000)."""
    bands = 100 * np.arange(13)[:, None, None] + 400 * label + 300 * j
    return (bands + 3 * np.arange(64)[None, None, :] + np.zeros((13, 64, 1))).astype(np.uint16)


def write_fake_tree(base: Path, tifffile, layouts=("chw", "chw", "hwc")) -> dict[bytes, int]:
    """Two classes x 3 tiles under base/download/EuroSAT_MS (nested, as in the zip), plus a
    file that is no tile and a folder that is no class. Returns {uint8 tile bytes: label}."""
    tree = base / "download" / "EuroSAT_MS"
    sources = {}
    for cls in ("AnnualCrop", "Pasture"):
        (tree / cls).mkdir(parents=True)
        label = EUROSAT_CLASSES.index(cls)
        for j, layout in enumerate(layouts):
            tile = fake_tile(label, j)
            tifffile.imwrite(tree / cls / f"{cls}_{j + 1}.tif", tile if layout == "chw" else tile.transpose(1, 2, 0))
            sources[dn_to_uint8(tile).tobytes()] = label
        (tree / cls / "notes.txt").write_text("not a tile")
    (tree / "previews").mkdir()
    tifffile.imwrite(tree / "previews" / "x.tif", np.zeros((4, 4), np.uint16))
    return sources


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data folder; any download attempt fails the test."""
    monkeypatch.setenv("SPLICER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(datasets, "_fetch_url", lambda *a, **k: pytest.fail("download attempted"))
    return tmp_path / "data"


def test_eurosat_loader_reads_both_layouts_and_splits_per_class(tmp_path: Path, offline: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    sources = write_fake_tree(tmp_path, tifffile)
    data = load_eurosat_ms(tmp_path, download=False, test_fraction=0.34, seed=3)
    train, test = data["train"]["all"], data["test"]["all"]
    assert set(data) == {"train", "test"} and set(data["train"]) == {"all"}
    assert train.images.shape == (4, 13, 64, 64) and test.images.shape == (2, 13, 64, 64)
    assert train.images.dtype == torch.uint8 and train.channel_names == BANDS and train.name == "train/all"
    annual, pasture = EUROSAT_CLASSES.index("AnnualCrop"), EUROSAT_CLASSES.index("Pasture")
    assert sorted(test.labels("land_use").tolist()) == [annual, pasture]  # one test tile per class
    seen = []
    for split in (train, test):
        for image, label in zip(split.images.numpy(), split.labels("land_use").tolist()):
            assert sources[image.tobytes()] == label  # a source tile, bands in order (both layouts)
            seen.append(image.tobytes())
    assert len(set(seen)) == 6  # every tile once, none in both splits
    again = load_eurosat_ms(tmp_path, download=False, test_fraction=0.34, seed=3)
    assert torch.equal(again["test"]["all"].images, test.images)
    splits = {load_eurosat_ms(tmp_path, download=False, seed=s)["test"]["all"].images.numpy().tobytes()
              for s in range(6)}
    assert len(splits) > 1  # the seed moves the split


def test_eurosat_max_per_class_and_uint8_mapping(tmp_path: Path, offline: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    sources = write_fake_tree(tmp_path, tifffile)
    data = load_eurosat_ms(tmp_path / "download", download=False, max_per_class=2, test_fraction=0.5)
    assert len(data["train"]["all"]) == 2 and len(data["test"]["all"]) == 2
    for split in ("train", "test"):
        assert sorted(data[split]["all"].labels("land_use").tolist()) == [0, 5]  # one per class
    image, label = data["train"]["all"].images[0], int(data["train"]["all"].labels("land_use")[0])
    assert sources[image.numpy().tobytes()] == label
    # reflectance = DN / 10,000, mapped 0..0.5 -> 0..255 (as the generator): DN 5000 -> 255
    candidates = [np.rint(fake_tile(label, j) / 10_000 / 0.5 * 255) for j in range(3)]
    assert any(np.array_equal(image.numpy(), c) for c in candidates)


def test_eurosat_missing_says_where_and_how(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(datasets.DataNotFoundError) as info:
        load_eurosat_ms(download=False)
    message = str(info.value)
    assert EUROSAT_URL in message and str(offline / "EuroSAT_MS") in message and "download=False" in message
    monkeypatch.setenv("SPLICER_OFFLINE", "1")
    with pytest.raises(datasets.DataNotFoundError, match="SPLICER_OFFLINE"):
        load_eurosat_ms()


def test_eurosat_download_is_unzipped_and_read(tmp_path: Path, offline: Path, monkeypatch) -> None:
    """The download is faked: _fetch_url copies a zip of a fake tree."""
    tifffile = pytest.importorskip("tifffile")
    write_fake_tree(tmp_path / "src", tifffile)
    archive = tmp_path / "fake.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in (tmp_path / "src" / "download").rglob("*"):
            z.write(path, path.relative_to(tmp_path / "src" / "download"))
    fetched = []
    monkeypatch.setattr(datasets, "_fetch_url", lambda url, dest, *a: (fetched.append(url),
                                                                       dest.write_bytes(archive.read_bytes())))
    data = load_eurosat_ms(download=True)
    assert fetched == [EUROSAT_URL] and len(data["train"]["all"]) + len(data["test"]["all"]) == 6
    assert (offline / "EuroSAT_MS.zip").is_file() and not list(offline.glob("*.part"))
    assert not (offline / "EuroSAT_MS.extracting").exists()
    load_eurosat_ms(download=False)  # now found on disk, no second download
    shutil.rmtree(offline / "EuroSAT_MS")
    load_eurosat_ms(download=False)  # the zip is still there: unzipped again, offline
    assert fetched == [EUROSAT_URL]


def test_eurosat_without_tifffile_says_how_to_install(tmp_path: Path, offline, monkeypatch) -> None:
    folder = tmp_path / "AnnualCrop"
    folder.mkdir()
    (folder / "AnnualCrop_1.tif").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "tifffile", None)  # import tifffile now raises ImportError
    with pytest.raises(ImportError, match="pip install tifffile"):
        load_eurosat_ms(tmp_path, download=False)


def test_eurosat_tile_of_the_wrong_shape_is_named(tmp_path: Path, offline: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    (tmp_path / "Forest").mkdir()
    tifffile.imwrite(tmp_path / "Forest" / "Forest_1.tif", np.zeros((5, 64, 64), np.uint16))
    with pytest.raises(ValueError, match="Forest_1.tif has shape"):
        load_eurosat_ms(tmp_path, download=False)


def test_eurosat_tiles_of_different_sizes_are_named(tmp_path: Path, offline: Path) -> None:
    tifffile = pytest.importorskip("tifffile")
    (tmp_path / "River").mkdir()
    tifffile.imwrite(tmp_path / "River" / "River_1.tif", np.zeros((13, 64, 64), np.uint16))
    tifffile.imwrite(tmp_path / "River" / "River_2.tif", np.zeros((13, 32, 32), np.uint16))
    with pytest.raises(ValueError, match="must have the same size"):
        load_eurosat_ms(tmp_path, download=False, test_fraction=0.5)


def test_eurosat_runs_through_the_shared_run(tmp_path: Path, offline: Path) -> None:
    """run --dataset eurosat_ms: trained and probed on the real tiles' single variant."""
    from splicer_tutorial import channels

    tifffile = pytest.importorskip("tifffile")
    write_fake_tree(tmp_path, tifffile, layouts=("chw",) * 4)
    spec = channels.get("eurosat_ms")
    data = spec.load("fast", root=tmp_path, download=False, test_fraction=0.5)
    config = channels.train_config(spec, "fast", "splicer", backbone="convnet", width=4, epochs=1, batch_size=4)
    result = channels.run(spec, config, "fast", data=data, device="cpu", progress=False)
    assert set(result["probes"]) == {"all"} and set(result["probes"]["all"]) == {"land_use"}
    assert result["chance"] == 0.1 and list(result["missing"]) == ["none", "B2+B3+B4+B8", "B5+B6+B7+B8A", "B11+B12"]
    with pytest.raises(ValueError, match="no planted shortcut"):
        spec.load("fast", correlation=0.5)
