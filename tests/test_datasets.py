"""Tests of splicer_tutorial.datasets: parsers, checksums, offline errors, the download path.

Nothing here touches the network: every test runs with SPLICER_OFFLINE=1, a temporary
data folder, and a network function that fails unless a test replaces it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import shutil
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from splicer_tutorial import datasets
from splicer_tutorial.datasets import DataChecksumError, DataNotFoundError



def _no_network(url: str, dest: Path, timeout: float = 0) -> None:
    raise AssertionError(f"a test tried to download {url}")


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test: an empty data folder, downloads off, and no network function."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("SPLICER_DATA_DIR", str(folder))
    monkeypatch.setenv("SPLICER_OFFLINE", "1")
    monkeypatch.setattr(datasets, "_fetch_url", _no_network)
    return folder




# ------------------------------------------------------------------ official formats


def idx_bytes(array: np.ndarray) -> bytes:
    """An uint8 array in the IDX format: magic 0x0000 08 ndim, big-endian dims, data."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def cifar_batch(images: np.ndarray, labels: np.ndarray) -> bytes:
    """A pickled batch in the official layout from HWC images."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)  # CHW-flattened
    return pickle.dumps({b"batch_label": b"test", b"labels": [int(y) for y in labels], b"data": rows},
                        protocol=2)


def write_cifar_tar(path: Path, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                    names: list[str]) -> None:
    members = {"batches.meta": pickle.dumps({b"label_names": [n.encode() for n in names]}, protocol=2)}
    for i, (x, y) in enumerate(zip(np.array_split(train[0], 5), np.array_split(train[1], 5)), start=1):
        members[f"data_batch_{i}"] = cifar_batch(x, y)
    members["test_batch"] = cifar_batch(*test)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def tiny_mnist(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def tiny_cifar(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), (np.arange(n) % 10).astype(np.uint8)


NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# ---------------------------------------------------------------------------- parsers


@pytest.mark.parametrize("gzipped", [False, True])
def test_read_idx_parses_images_and_labels(tmp_path: Path, gzipped: bool) -> None:
    images, labels = tiny_mnist(7, seed=1)
    for array, magic in ((images, 2051), (labels, 2049)):
        raw = idx_bytes(array)
        assert int.from_bytes(raw[:4], "big") == magic
        path = tmp_path / f"a{array.ndim}.idx"
        path.write_bytes(gzip.compress(raw) if gzipped else raw)
        for source in (path, path.read_bytes()):
            out = datasets.read_idx(source)
            assert out.dtype == np.uint8
            np.testing.assert_array_equal(out, array)


def test_read_idx_rejects_bad_magic_and_truncation(tmp_path: Path) -> None:
    raw = bytearray(idx_bytes(np.zeros((2, 3), np.uint8)))
    raw[2] = 0x07  # unknown type byte
    with pytest.raises(ValueError, match="magic"):
        datasets.read_idx(bytes(raw))
    with pytest.raises(ValueError, match="magic"):
        datasets.read_idx(b"\x01\x00\x08\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="truncated"):
        datasets.read_idx(idx_bytes(np.zeros((2, 3), np.uint8))[:-1])


def test_read_cifar_archive_returns_hwc_images(tmp_path: Path) -> None:
    train, test = tiny_cifar(10, seed=2), tiny_cifar(4, seed=3)
    path = tmp_path / "cifar-10-python.tar.gz"
    write_cifar_tar(path, train, test, NAMES)
    content = datasets.read_cifar_archive(path)
    assert content["class_names"] == NAMES
    for split, (x, y) in (("train", train), ("test", test)):
        images, labels = content[split]
        assert images.shape == x.shape and images.dtype == np.uint8
        np.testing.assert_array_equal(images, x)
        np.testing.assert_array_equal(labels, y)


def test_read_cifar_archive_refuses_foreign_pickles(tmp_path: Path) -> None:
    path = tmp_path / "evil.tar.gz"
    write_cifar_tar(path, tiny_cifar(5, 0), tiny_cifar(2, 1), NAMES)
    with tarfile.open(path, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    members["cifar-10-batches-py/test_batch"] = pickle.dumps({b"data": Path("x")}, protocol=2)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        datasets.read_cifar_archive(path)


# ----------------------------------------------------------------------- paths, errors


def test_data_dir_from_env_or_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPLICER_DATA_DIR", str(tmp_path / "x"))
    assert datasets.data_dir() == tmp_path / "x"
    monkeypatch.delenv("SPLICER_DATA_DIR")
    assert datasets.data_dir() == Path.home() / ".cache" / "splicer_tutorial"


def test_bad_split_is_rejected() -> None:
    with pytest.raises(ValueError, match="split='val'.*'train', 'test'"):
        datasets.load_mnist("val")
    with pytest.raises(ValueError, match="split"):
        datasets.load_cifar10("validation")


def test_missing_file_offline_says_what_to_do(offline: Path) -> None:
    with pytest.raises(DataNotFoundError) as info:
        datasets.load_mnist("train")
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert str(offline / "mnist_train.npz") in message
    assert "SPLICER_DATA_DIR" in message and "SPLICER_OFFLINE" in message
    assert "train-images-idx3-ubyte.gz" in message
    with pytest.raises(DataNotFoundError, match="download=False"):
        datasets.load_cifar10("train", download=False)


def test_failed_download_is_reported(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(url: str, dest: Path, timeout: float = 0) -> None:
        raise OSError("no route to host")

    monkeypatch.setattr(datasets, "_fetch_url", refuse)
    with pytest.raises(DataNotFoundError) as info:
        datasets.load_mnist("test", download=True)
    message = str(info.value)
    assert "no route to host" in message
    assert all(mirror in message for mirror in datasets.MNIST_MIRRORS)  # both mirrors tried
    assert str(offline) in message
    assert not list(offline.glob("*.part"))


def test_unknown_file_is_rejected(offline: Path) -> None:
    path = offline / "mnist_train.npz"
    np.savez_compressed(path, images=np.zeros((2, 28, 28), np.uint8), labels=np.zeros(2, np.uint8))
    with pytest.raises(DataChecksumError, match="corrupt or unknown") as info:
        datasets.load_mnist("train")
    assert str(path) in str(info.value) and "Delete" in str(info.value)


# ----------------------------------------------------------------------- shipped data


def test_shipped_mnist(shipped_dir: Path) -> None:
    images, labels = datasets.load_mnist()
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_shipped_cifar10(shipped_dir: Path) -> None:
    images, labels, names = datasets.load_cifar10("test")
    assert images.shape == (10000, 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [1000] * 10
    assert names == NAMES


def test_verification_is_cached(shipped_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    datasets.load_mnist()
    monkeypatch.setattr(datasets, "_hash_file", lambda *a: pytest.fail("file hashed twice"))
    datasets.load_mnist()


def test_corrupted_copy_is_rejected(shipped_source: Path, offline: Path) -> None:
    path = offline / "mnist_test.npz"
    raw = bytearray((shipped_source / "mnist_test.npz").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataChecksumError) as info:
        datasets.load_mnist("test")
    assert str(path) in str(info.value)
    assert datasets.SHIPPED_SHA256["mnist_test.npz"] in str(info.value)
    # The intact copy loads from the same folder.
    shutil.copyfile(shipped_source / "mnist_test.npz", path)
    assert datasets.load_mnist("test")[0].shape == (10000, 28, 28)


# ---------------------------------------------------------------------- download path


@pytest.fixture
def fake_web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Tiny official-format archives served by a fake network function; md5s patched."""
    mnist = {"train": tiny_mnist(12, seed=4), "test": tiny_mnist(5, seed=5)}
    cifar = {"train": tiny_cifar(20, seed=6), "test": tiny_cifar(10, seed=7)}
    files = {}
    for split, (x, y) in mnist.items():
        images_gz, labels_gz = datasets.MNIST_ARCHIVES[split]
        files[images_gz] = gzip.compress(idx_bytes(x))
        files[labels_gz] = gzip.compress(idx_bytes(y))
    tar = tmp_path / "cifar.tar.gz"
    write_cifar_tar(tar, cifar["train"], cifar["test"], NAMES)
    files[datasets.CIFAR10_ARCHIVE] = tar.read_bytes()
    for name, payload in files.items():
        monkeypatch.setitem(datasets.ARCHIVE_MD5, name, hashlib.md5(payload).hexdigest())

    served: list[str] = []

    def fetch(url: str, dest: Path, timeout: float = 0) -> None:
        if url.startswith(datasets.MNIST_MIRRORS[0]):
            raise OSError("first mirror is down")  # forces the second mirror
        served.append(url)
        dest.write_bytes(files[url.rsplit("/", 1)[-1]])

    monkeypatch.setattr(datasets, "_fetch_url", fetch)
    monkeypatch.delenv("SPLICER_OFFLINE")
    return {"mnist": mnist, "cifar": cifar, "served": served}


def test_mnist_download_converts_and_records_manifest(offline: Path, fake_web: dict,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels = datasets.load_mnist("train")
    x, y = fake_web["mnist"]["train"]
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(labels, y)
    assert labels.dtype == np.int64
    assert fake_web["served"] == [datasets.MNIST_MIRRORS[1] + n for n in datasets.MNIST_ARCHIVES["train"]]

    manifest = json.loads((offline / "manifest.json").read_text())
    sha = hashlib.sha256((offline / "mnist_train.npz").read_bytes()).hexdigest()
    assert manifest["mnist_train.npz"]["sha256"] == sha

    # Second load: verified through the manifest, no network, also in a fresh process.
    monkeypatch.setattr(datasets, "_fetch_url", _no_network)
    monkeypatch.setattr(datasets, "_SHA256_CACHE", {})
    np.testing.assert_array_equal(datasets.load_mnist("train", download=False)[0], x)
    rows = {row["name"]: row for row in datasets.describe_data_dir()}
    assert rows["mnist_train"]["status"] == "verified"
    assert rows["mnist_train"]["verified_by"] == "manifest.json"

    # With the npz gone, the archives already in the folder are converted offline.
    (offline / "mnist_train.npz").unlink()
    np.testing.assert_array_equal(datasets.load_mnist("train", download=False)[1], y)


def test_cifar_download_converts_both_splits(offline: Path, fake_web: dict,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    images, labels, names = datasets.load_cifar10("train")
    x, y = fake_web["cifar"]["train"]
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(labels, y)
    assert names == NAMES
    assert fake_web["served"] == [datasets.CIFAR10_URL]
    manifest = json.loads((offline / "manifest.json").read_text())
    # the test set goes beside its shipped name, which holds the shipped copy only
    assert set(manifest) == {"cifar10_train.npz", "cifar10_test_downloaded.npz"}
    assert not (offline / "cifar10_test.npz").exists()

    monkeypatch.setattr(datasets, "_fetch_url", _no_network)
    test_images, _, _ = datasets.load_cifar10("test")
    np.testing.assert_array_equal(test_images, fake_web["cifar"]["test"][0])


def test_download_with_wrong_md5_is_rejected(offline: Path, fake_web: dict,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(datasets.ARCHIVE_MD5, datasets.CIFAR10_ARCHIVE, "0" * 32)
    with pytest.raises(DataNotFoundError, match="md5"):
        datasets.load_cifar10("test")
    assert not (offline / datasets.CIFAR10_ARCHIVE).exists()
    assert not (offline / "cifar10_test.npz").exists()
    assert not (offline / "cifar10_test_downloaded.npz").exists()
    assert sorted(p.name for p in offline.iterdir()) == []


# ------------------------------------------------------------------------------ report


def test_describe_and_report(offline: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = offline / "mnist_train.npz"
    np.savez_compressed(good, images=np.zeros((1, 28, 28), np.uint8), labels=np.zeros(1, np.uint8))
    (offline / "manifest.json").write_text(json.dumps(
        {"mnist_train.npz": {"sha256": hashlib.sha256(good.read_bytes()).hexdigest()}}))
    (offline / "cifar10_test.npz").write_bytes(b"not the shipped file")

    rows = datasets.describe_data_dir()
    assert [row["name"] for row in rows] == ["mnist_train", "mnist_test", "cifar10_train", "cifar10_test"]
    status = {row["name"]: row["status"] for row in rows}
    assert status == {"mnist_train": "verified", "mnist_test": "missing",
                      "cifar10_train": "missing", "cifar10_test": "checksum mismatch"}
    assert rows[0]["path"] == str(good)

    report = datasets.format_data_report(rows)
    assert str(offline) in report and "set by SPLICER_DATA_DIR" in report
    assert "checksum mismatch" in report and "SPLICER_OFFLINE=1" in report
    monkeypatch.delenv("SPLICER_DATA_DIR")
    assert "default; set SPLICER_DATA_DIR" in datasets.format_data_report([])


def test_fashion_mnist_missing_offline_names_the_debian_package(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPLICER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SPLICER_OFFLINE", "1")
    monkeypatch.setattr(datasets, "FASHION_DEBIAN_DIR", tmp_path / "nowhere")
    with pytest.raises(datasets.DataNotFoundError, match="apt-get install dataset-fashion-mnist"):
        datasets.load_fashion_mnist("test")


def test_fashion_mnist_archive_with_wrong_content_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SPLICER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SPLICER_OFFLINE", "1")
    monkeypatch.setattr(datasets, "FASHION_DEBIAN_DIR", tmp_path / "nowhere")
    (tmp_path / "fashion-t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"not the archive"))
    with pytest.raises(datasets.DataNotFoundError, match="wrong content: delete it"):
        datasets.load_fashion_mnist("test")


def test_fashion_mnist_from_the_debian_package() -> None:
    if not datasets.FASHION_DEBIAN_DIR.exists():
        pytest.skip("the Debian package dataset-fashion-mnist is not installed")
    images, labels = datasets.load_fashion_mnist("test", download=False)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1000] * 10


# ------------------------------------------------------------ a data check that cannot be fooled


def test_manifest_never_approves_a_shipped_name(shipped_source: Path, offline: Path) -> None:
    path = offline / "mnist_test.npz"
    path.write_bytes((shipped_source / "mnist_test.npz").read_bytes()[:-100])  # truncated
    (offline / "manifest.json").write_text(json.dumps(
        {"mnist_test.npz": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}))
    row = next(r for r in datasets.describe_data_dir() if r["name"] == "mnist_test")
    assert row["status"] == "checksum mismatch" and row["verified_by"] is None
    with pytest.raises(DataChecksumError, match="Copy the shipped mnist_test.npz over it") as info:
        datasets.load_mnist("test")
    assert "../shared/data" in str(info.value) and "call load_mnist" not in str(info.value)
    assert "corrupt or unknown" in datasets.data_problem()


def test_a_damaged_file_its_manifest_approves_is_a_data_error(offline: Path) -> None:
    path = offline / "mnist_train.npz"
    np.savez_compressed(path, images=np.zeros((50, 28, 28), np.uint8), labels=np.zeros(50, np.uint8))
    path.write_bytes(path.read_bytes()[:-40])  # truncated: the zip directory is gone
    (offline / "manifest.json").write_text(json.dumps(
        {"mnist_train.npz": {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}}))
    with pytest.raises(DataChecksumError, match="cannot be read as a data file.*Delete"):
        datasets.load_mnist("train")


def test_data_problem_names_missing_test_sets_offline_only(offline: Path, monkeypatch) -> None:
    assert "mnist_test.npz and cifar10_test.npz are missing" in datasets.data_problem()
    monkeypatch.delenv("SPLICER_OFFLINE")
    assert datasets.data_problem() is None  # they are downloaded when a run needs them


def test_data_problem_is_none_for_the_shipped_folder(shipped_dir: Path) -> None:
    assert datasets.data_problem() is None


def test_an_unreadable_file_is_reported_not_raised(offline: Path, monkeypatch) -> None:
    (offline / "mnist_test.npz").write_bytes(b"x")

    def denied(path, algorithm):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(datasets, "_hash_file", denied)
    row = next(r for r in datasets.describe_data_dir() if r["name"] == "mnist_test")
    assert row["status"] == "unreadable" and row["error"] == "Permission denied"
    assert "unreadable (Permission denied)" in datasets.format_data_report()
    assert "cannot be read (Permission denied)" in datasets.data_problem()


def test_a_downloaded_test_set_is_used_where_the_shipped_one_is_absent(offline: Path, fake_web: dict,
                                                                       monkeypatch) -> None:
    images, _ = datasets.load_mnist("test")
    np.testing.assert_array_equal(images, fake_web["mnist"]["test"][0])
    assert (offline / "mnist_test_downloaded.npz").is_file() and not (offline / "mnist_test.npz").exists()
    monkeypatch.setattr(datasets, "_fetch_url", _no_network)
    row = next(r for r in datasets.describe_data_dir() if r["name"] == "mnist_test")
    assert row["status"] == "verified" and row["verified_by"] == "manifest.json"
    assert row["path"] == str(offline / "mnist_test_downloaded.npz")


def test_a_failed_download_removes_the_folders_it_made(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "new" / "data"
    monkeypatch.setenv("SPLICER_DATA_DIR", str(folder))

    def refuse(url: str, dest: Path, timeout: float = 0) -> None:
        dest.write_bytes(b"half")
        raise OSError("connection reset")

    monkeypatch.setattr(datasets, "_fetch_url", refuse)
    with pytest.raises(DataNotFoundError, match="connection reset"):
        datasets.load_mnist("train", download=True)
    assert not (tmp_path / "new").exists()
    monkeypatch.setattr(datasets, "FASHION_DEBIAN_DIR", tmp_path / "nowhere")
    with pytest.raises(DataNotFoundError, match="connection reset"):
        datasets.load_fashion_mnist("test", download=True)
    assert not (tmp_path / "new").exists()
