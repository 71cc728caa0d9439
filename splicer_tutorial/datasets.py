"""Load MNIST and CIFAR-10 as plain numpy arrays, offline first.

The book runs on machines that cannot reach the internet, so the loaders read
``.npz`` files from one folder, :func:`data_dir`, and check every file's sha256
before trusting it. Two files are shipped with the book (the MNIST and
CIFAR-10 *test* sets, see ``../shared/data/README.md``); their checksums are in
:data:`SHIPPED_SHA256`, and a file of a shipped name is checked against them only.
Readers with internet access get the full training sets too: a missing file is
downloaded once from the official sources, its md5 is checked, it is converted to the
same ``.npz`` layout and the new file's sha256 is recorded in ``data_dir()/manifest.json``.
A test set downloaded so (where the shipped one is absent) is kept as
``<name>_test_downloaded.npz``: the shipped names hold the shipped copies only.

File layout in :func:`data_dir`::

    mnist_<split>.npz    images uint8 (N, 28, 28), labels uint8 (N,)
                         (a downloaded test set: mnist_test_downloaded.npz, likewise CIFAR-10)
    cifar10_<split>.npz  images uint8 (N, 32, 32, 3) HWC RGB, labels uint8 (N,),
                         class_names str (10,)

Environment variables:

* ``SPLICER_DATA_DIR``: the data folder (default ``~/.cache/splicer_tutorial``).
* ``SPLICER_OFFLINE=1``: never download (the ``download`` argument overrides it).

All network access goes through :func:`_fetch_url`, so tests can replace it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import tarfile
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .files import write_atomically

__all__ = [
    "ARCHIVE_MD5",
    "CIFAR10_URL",
    "DATA_DIR_ENV",
    "DataNotFoundError",
    "DataChecksumError",
    "MNIST_MIRRORS",
    "OFFLINE_ENV",
    "SHIPPED_SHA256",
    "data_dir",
    "data_problem",
    "describe_data_dir",
    "format_data_report",
    "load_cifar10",
    "load_fashion_mnist",
    "FASHION_CLASSES",
    "load_mnist",
    "read_cifar_archive",
    "read_idx",
]

DATA_DIR_ENV = "SPLICER_DATA_DIR"
OFFLINE_ENV = "SPLICER_OFFLINE"
MANIFEST_NAME = "manifest.json"
SPLITS = ("train", "test")
DOWNLOAD_TIMEOUT_S = 60.0

#: sha256 of the files shipped with the book (``../shared/data``).
SHIPPED_SHA256: dict[str, str] = {
    "mnist_test.npz": "af5595f05f0cc260498196e07655cfa443d2d96874d5ba0dcfeaea06defbda81",
    "cifar10_test.npz": "5ea6febd467a5e9bafad5da0dc40eb1b33070681ee83de8160582eb0572525c7",
}

#: Official MNIST mirrors, tried in this order.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
#: (images, labels) archive names per split.
MNIST_ARCHIVES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"

#: Published md5 of each official archive.
ARCHIVE_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    CIFAR10_ARCHIVE: "c58f30108f718f92721af3b95e74349a",
}

#: Fashion-MNIST (Xiao, Rasul and Vollgraf 2017; MIT licence): where the Debian package
#: ``dataset-fashion-mnist`` puts the archives, the official mirror, and the sha256 of each
#: archive's *decompressed* bytes (the Debian package recompresses them, so the gzip files
#: differ from the official ones while their content is the same).
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_CONTENT_SHA256: dict[str, str] = {
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
}
FASHION_CLASSES = ("T-shirt/top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle boot")

# IDX type byte -> big-endian numpy dtype.
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

# (resolved path, mtime_ns, size) -> sha256, so a file is hashed once per process.
_SHA256_CACHE: dict[tuple[str, int, int], str] = {}


class DataNotFoundError(FileNotFoundError):
    """A data file is neither in :func:`data_dir` nor could it be downloaded."""


class DataChecksumError(ValueError):
    """A data file or archive does not have the checksum it should have."""


# --------------------------------------------------------------------------- paths


def data_dir() -> Path:
    """The data folder: ``$SPLICER_DATA_DIR`` if set, else ``~/.cache/splicer_tutorial``.

    The folder is not created here; downloads create it when they need it.
    """
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "splicer_tutorial"


def _data_dir_origin() -> str:
    if os.environ.get(DATA_DIR_ENV, "").strip():
        return f"set by {DATA_DIR_ENV}"
    return f"default; set {DATA_DIR_ENV} to use another folder"


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not a known split; use one of {SPLITS}.")


def _downloads_allowed(download: bool | None) -> tuple[bool, str]:
    """Whether downloading is allowed, and a phrase saying why not."""
    if download is not None:
        return bool(download), "download=False was passed"
    flag = os.environ.get(OFFLINE_ENV, "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return False, f"downloads are off because {OFFLINE_ENV}={os.environ[OFFLINE_ENV]}"
    return True, ""


# ----------------------------------------------------------------------- checksums


def _hash_file(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _sha256_cached(path: Path) -> str:
    """sha256 of ``path``, remembered per (path, mtime, size) for this process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _SHA256_CACHE:
        _SHA256_CACHE[key] = _hash_file(path, "sha256")
    return _SHA256_CACHE[key]


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise DataChecksumError(
            f"{path} is not valid JSON ({err}); delete it and convert the data again."
        ) from err
    return manifest if isinstance(manifest, dict) else {}


def _record_in_manifest(folder: Path, filename: str, sha256: str, sources: list[str]) -> None:
    manifest = _read_manifest(folder)
    manifest[filename] = {"sha256": sha256, "sources": sources}
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    write_atomically(folder / MANIFEST_NAME, lambda temporary: temporary.write_text(text))


def _known_sha256(path: Path) -> dict[str, str]:
    """Accepted sha256 values for ``path``: {origin: sha256}. A shipped name has its built-in
    sha256 only: the manifest never approves a damaged shipped copy."""
    if path.name in SHIPPED_SHA256:
        return {"shipped copy": SHIPPED_SHA256[path.name]}
    entry = _read_manifest(path.parent).get(path.name)
    if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
        return {MANIFEST_NAME: entry["sha256"]}
    return {}


def _check_npz(path: Path) -> tuple[bool, str]:
    """(verified, sha256) for an existing npz file."""
    actual = _sha256_cached(path)
    return actual in _known_sha256(path).values(), actual


def _downloaded_name(filename: str) -> str:
    """The name a download of ``filename`` is kept under: its own, but a shipped file's
    download goes beside it (``mnist_test_downloaded.npz``), as the shipped name holds the
    shipped copy only."""
    return filename.removesuffix(".npz") + "_downloaded.npz" if filename in SHIPPED_SHA256 else filename


def _local_file(name: str, split: str) -> Path:
    """The file a loader reads: ``<name>_<split>.npz``; where that is a shipped name and
    absent, its download if there is one."""
    path = data_dir() / f"{name}_{split}.npz"
    downloaded = path.with_name(_downloaded_name(path.name))
    return downloaded if not path.exists() and downloaded.exists() else path


def _fix(path: Path) -> str:
    """How to replace a bad data file, offline first."""
    if path.name in SHIPPED_SHA256:
        return (f"Copy the shipped {path.name} over it (the book's ../shared/data holds it), or point "
                f"{DATA_DIR_ENV} at a folder with a good copy; or delete it, and a run with downloads allowed "
                f"(online, {OFFLINE_ENV} unset) downloads the official test set as {_downloaded_name(path.name)}.")
    return (f"Delete {path}: the next run converts the official archives again, from {path.parent} if they are "
            f"there (offline), else downloaded (online, {OFFLINE_ENV} unset); or point {DATA_DIR_ENV} at a folder "
            "with a good copy.")


def _verify_npz(path: Path) -> None:
    ok, actual = _check_npz(path)
    if ok:
        return
    known = _known_sha256(path)
    expected = (
        ", ".join(f"{origin} {value}" for origin, value in known.items())
        if known
        else f"none: the file is neither shipped nor listed in {path.parent / MANIFEST_NAME}"
    )
    raise DataChecksumError(f"{path} is corrupt or unknown: its sha256 is {actual}, expected {expected}. {_fix(path)}")


def _read_npz(path: Path, *keys: str) -> tuple[np.ndarray, ...]:
    """The arrays ``keys`` of a verified npz file; a :class:`DataChecksumError` with the fix
    when it cannot be read as one (a damaged file that its manifest entry approves)."""
    try:
        with np.load(path, allow_pickle=False) as d:
            return tuple(d[key] for key in keys)
    except (zipfile.BadZipFile, zlib.error, EOFError, KeyError, ValueError) as err:
        raise DataChecksumError(f"{path} cannot be read as a data file ({type(err).__name__}: {err}). "
                                f"{_fix(path)}") from err


def _make_folder(folder: Path) -> list[Path]:
    """Make ``folder`` and its missing parents; return those it made, deepest first."""
    made, current = [], folder
    while not current.exists():
        made.append(current)
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    return made


def _remove_folders(made: list[Path]) -> None:
    """Remove the folders :func:`_make_folder` made, as far as they are empty."""
    for folder in made:
        try:
            folder.rmdir()
        except OSError:  # something else is in it now
            return


# ------------------------------------------------------------------------- network


def _fetch_url(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Download ``url`` into ``dest``. The only function here that uses the network."""
    request = urllib.request.Request(url, headers={"User-Agent": "splicer-tutorial"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(dest, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, leave=False)
        except ImportError:  # tqdm is optional
            bar = None
        try:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                if bar is not None:
                    bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()


def _obtain_archive(filename: str, urls: list[str], allowed: bool, why_not: str) -> Path:
    """Path of a verified official archive in data_dir(), downloading it if allowed.

    Raises:
        DataNotFoundError: the archive is absent and could not be downloaded; the
            message lists what was tried.
        DataChecksumError: an archive already in the folder has the wrong md5.
    """
    folder = data_dir()
    dest = folder / filename
    expected = ARCHIVE_MD5[filename]
    if dest.is_file():
        actual = _hash_file(dest, "md5")
        if actual == expected:
            return dest
        raise DataChecksumError(
            f"{dest} is corrupt or incomplete: its md5 is {actual}, expected {expected}. "
            f"Delete {dest} and try again."
        )
    if not allowed:
        raise DataNotFoundError(f"{dest} is missing and {why_not}.")
    made = _make_folder(folder)
    part = dest.with_name(dest.name + ".part")
    failures = []
    try:
        for url in urls:
            try:
                _fetch_url(url, part)
            except Exception as err:  # any network error: try the next mirror
                failures.append(f"{url}: {type(err).__name__}: {err}")
                continue
            actual = _hash_file(part, "md5")
            if actual != expected:
                failures.append(f"{url}: md5 of the download is {actual}, expected {expected}")
                continue
            os.replace(part, dest)
            return dest
        raise DataNotFoundError("the download failed: " + "; ".join(failures))
    finally:  # a failed download leaves nothing behind: no partial file, no folder it made
        part.unlink(missing_ok=True)
        if not dest.exists():
            _remove_folders(made)


# ------------------------------------------------------------------------- parsers


def read_idx(path_or_bytes: str | os.PathLike[str] | bytes) -> np.ndarray:
    """Parse an IDX file (the MNIST format), gzipped or not.

    The header is big-endian: two zero bytes, a type byte (0x08 = uint8), the number
    of dimensions, then one uint32 per dimension. MNIST images have magic 2051
    (``0x00000803``), labels 2049 (``0x00000801``).

    Args:
        path_or_bytes: a file path, or the file's raw bytes.

    Returns:
        The array in native byte order, e.g. images (N, 28, 28) uint8 or labels (N,) uint8.

    Raises:
        ValueError: bad magic number, unknown type byte or wrong data length.
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        raw, source = bytes(path_or_bytes), "the given bytes"
    else:
        raw, source = Path(path_or_bytes).read_bytes(), str(path_or_bytes)
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4:
        raise ValueError(f"read_idx: {source} is too short ({len(raw)} bytes) to be an IDX file.")
    magic = int.from_bytes(raw[:4], "big")
    type_byte, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or type_byte not in _IDX_DTYPES or ndim == 0:
        raise ValueError(
            f"read_idx: {source} has bad magic number {magic} (0x{magic:08x}); an IDX file "
            f"starts with 0x0000, a type byte (0x08 for uint8) and the number of "
            f"dimensions, e.g. 2051 for MNIST images and 2049 for labels."
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(f"read_idx: {source} ends inside its header.")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[type_byte])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header_len != expected:
        raise ValueError(
            f"read_idx: {source} declares shape {shape} ({expected} data bytes) but holds "
            f"{len(raw) - header_len}; the file is truncated or corrupt."
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only builds numpy arrays, lists, dicts, numbers and bytes."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from a CIFAR-10 batch; the file is not "
                f"the official cifar-10-python archive."
            )
        return super().find_class(module, name)


def _load_batch(tar: tarfile.TarFile, member: tarfile.TarInfo) -> dict[bytes, Any]:
    f = tar.extractfile(member)
    if f is None:
        raise ValueError(f"read_cifar_archive: member {member.name} is not a file.")
    with f:
        return _ArrayUnpickler(io.BytesIO(f.read()), encoding="bytes").load()


def _batch_arrays(batch: dict[bytes, Any], name: str) -> tuple[np.ndarray, np.ndarray]:
    """CHW-flattened rows (N, 3072) -> images (N, 32, 32, 3) uint8, labels (N,) uint8."""
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.uint8)
    except KeyError as err:
        raise ValueError(f"read_cifar_archive: batch {name} lacks key {err}.") from err
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise ValueError(
            f"read_cifar_archive: batch {name} has data {data.shape} and {len(labels)} labels; "
            f"expected (N, 3072) and N."
        )
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def read_cifar_archive(tar_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the official ``cifar-10-python.tar.gz``.

    The members ``cifar-10-batches-py/data_batch_1..5`` and ``test_batch`` are
    pickled dicts with bytes keys: ``b"data"`` (N, 3072) uint8, each row the R, G
    and B planes of a 32x32 image, and ``b"labels"``; ``batches.meta`` holds
    ``b"label_names"``. Only numpy arrays and plain values are unpickled.

    Returns:
        ``{"train": (images, labels), "test": (images, labels), "class_names": [...]}``
        with images (N, 32, 32, 3) uint8 HWC and labels (N,) uint8; train is the
        five data batches in order (50,000 images in the official archive).
    """
    wanted = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    with tarfile.open(tar_path, "r:*") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        missing = [name for name in wanted if name not in members]
        if missing:
            raise ValueError(
                f"read_cifar_archive: {tar_path} lacks {missing}; it is not the official "
                f"cifar-10-python archive from {CIFAR10_URL}."
            )
        batches = {name: _load_batch(tar, members[name]) for name in wanted}
    train = [_batch_arrays(batches[f"data_batch_{i}"], f"data_batch_{i}") for i in range(1, 6)]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in batches["batches.meta"][b"label_names"]]
    return {
        "train": (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])),
        "test": _batch_arrays(batches["test_batch"], "test_batch"),
        "class_names": names,
    }


# ---------------------------------------------------------------------- conversion


def _save_npz(path: Path, sources: list[str], **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` atomically and record its sha256 in the manifest."""
    def write(temporary: Path) -> None:
        with open(temporary, "wb") as f:  # a file object: numpy adds no ".npz" to the name
            np.savez_compressed(f, **arrays)

    write_atomically(path, write)
    _record_in_manifest(path.parent, path.name, _sha256_cached(path), sources)


def _convert_mnist(split: str, allowed: bool, why_not: str) -> None:
    images_gz, labels_gz = MNIST_ARCHIVES[split]
    paths = [_obtain_archive(name, [m + name for m in MNIST_MIRRORS], allowed, why_not)
             for name in (images_gz, labels_gz)]
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise ValueError(
            f"MNIST archives {paths} hold images {images.shape} and labels {labels.shape}; "
            f"expected (N, 28, 28) and (N,). Delete them and try again."
        )
    _save_npz(data_dir() / _downloaded_name(f"mnist_{split}.npz"), [MNIST_MIRRORS[0] + n for n in (images_gz, labels_gz)],
              images=images.astype(np.uint8), labels=labels.astype(np.uint8))


def _convert_cifar10(split: str, allowed: bool, why_not: str) -> None:
    archive = _obtain_archive(CIFAR10_ARCHIVE, [CIFAR10_URL], allowed, why_not)
    content = read_cifar_archive(archive)
    names = np.array(content["class_names"])
    # Write the requested split, and the other one too if it is missing (same archive).
    for s in SPLITS:
        if s == split or not _local_file("cifar10", s).exists():
            images, labels = content[s]
            _save_npz(data_dir() / _downloaded_name(f"cifar10_{s}.npz"), [CIFAR10_URL], images=images,
                      labels=labels, class_names=names)


def _not_found_message(name: str, split: str, reason: str, urls: list[str]) -> str:
    folder = data_dir()
    path = folder / f"{name}_{split}.npz"
    hand = " and ".join(urls)
    return (
        f"No {name} {split} data: {path} does not exist, and {reason}.\n"
        f"Looked in {folder} ({_data_dir_origin()}).\n"
        f"To fix it, do one of:\n"
        f"  * set {DATA_DIR_ENV} to a folder that contains {path.name} "
        f"(the book's ../shared/data holds mnist_test.npz and cifar10_test.npz);\n"
        f"  * download {hand} by hand into {folder}; the next call checks and converts what it finds there;\n"
        f"  * on a machine with internet access, unset {OFFLINE_ENV} (or pass download=True)."
    )


def _resolve(name: str, split: str, download: bool | None) -> Path:
    """Path of a verified ``<name>_<split>.npz`` (:func:`_local_file`), converting or downloading if needed."""
    _check_split(split)
    path = _local_file(name, split)
    if not path.exists():
        allowed, why_not = _downloads_allowed(download)
        if name == "mnist":
            urls = [MNIST_MIRRORS[0] + n for n in MNIST_ARCHIVES[split]]
            convert = _convert_mnist
        else:
            urls = [CIFAR10_URL]
            convert = _convert_cifar10
        try:
            convert(split, allowed, why_not)
        except DataNotFoundError as err:
            raise DataNotFoundError(_not_found_message(name, split, str(err).rstrip("."), urls)) from err
        path = _local_file(name, split)
    _verify_npz(path)
    return path


def _check_arrays(path: Path, images: np.ndarray, labels: np.ndarray, image_shape: tuple[int, ...]) -> None:
    if images.dtype != np.uint8 or images.shape[1:] != image_shape or labels.shape != images.shape[:1]:
        raise ValueError(
            f"{path} holds images {images.dtype} {images.shape} and labels {labels.shape}; "
            f"expected uint8 (N, {', '.join(map(str, image_shape))}) and (N,). Delete it and try again."
        )


# -------------------------------------------------------------------------- loaders


def load_mnist(split: str = "test", download: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST digits (white on black, 0-255).

    Args:
        split: ``"train"`` (60,000, downloaded when missing) or ``"test"`` (10,000, shipped).
        download: allow a download when the file is missing; ``None`` means allowed
            unless ``SPLICER_OFFLINE=1``.

    Returns:
        images: (N, 28, 28) uint8; labels: (N,) int64.

    Raises:
        ValueError: unknown ``split``.
        DataNotFoundError: the file is missing and could not be downloaded.
        DataChecksumError: the file's checksum is wrong.
    """
    path = _resolve("mnist", split, download)
    images, labels = _read_npz(path, "images", "labels")
    _check_arrays(path, images, labels, (28, 28))
    return images, labels.astype(np.int64)


def load_cifar10(split: str = "test", download: bool | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Load CIFAR-10 images (RGB, 0-255).

    The shipped test set was decoded from JPEG copies (quality 75), so it is slightly
    softer than the original; a downloaded set is the lossless original.

    Args:
        split: ``"train"`` (50,000, downloaded when missing) or ``"test"`` (10,000, shipped).
        download: allow a download when the file is missing; ``None`` means allowed
            unless ``SPLICER_OFFLINE=1``.

    Returns:
        images: (N, 32, 32, 3) uint8 HWC; labels: (N,) int64; class_names: 10 names.

    Raises:
        ValueError: unknown ``split``.
        DataNotFoundError: the file is missing and could not be downloaded.
        DataChecksumError: the file's checksum is wrong.
    """
    path = _resolve("cifar10", split, download)
    images, labels, names = _read_npz(path, "images", "labels", "class_names")
    _check_arrays(path, images, labels, (32, 32, 3))
    return images, labels.astype(np.int64), [str(n) for n in names]


# -------------------------------------------------------------------------- report


def _fashion_archive(name: str, download: bool | None) -> bytes:
    """The decompressed bytes of one Fashion-MNIST archive, content-verified.

    Looked for in ``data_dir()`` (as ``fashion-<name>``), then in the Debian package's
    folder, then downloaded into ``data_dir()`` when allowed.
    """
    expected = FASHION_CONTENT_SHA256[name]
    local = data_dir() / f"fashion-{name}"
    tried = []
    for path in (local, FASHION_DEBIAN_DIR / name):
        if path.is_file():
            content = gzip.decompress(path.read_bytes())
            if hashlib.sha256(content).hexdigest() == expected:
                return content
            tried.append(f"{path} (wrong content: delete it)")
        else:
            tried.append(f"{path} (missing)")
    allowed, why_not = _downloads_allowed(download)
    if not allowed:
        raise DataNotFoundError(
            f"No Fashion-MNIST archive {name}: tried {', '.join(tried)}, and {why_not}. To fix it, install the "
            f"Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or put {name} from "
            f"{FASHION_URL} into {data_dir()} as fashion-{name}, or allow downloads (unset {OFFLINE_ENV})."
        )
    made = _make_folder(data_dir())
    part = local.with_name(local.name + ".part")
    try:
        try:
            _fetch_url(FASHION_URL + name, part)
            content = gzip.decompress(part.read_bytes())
        except Exception as err:
            raise DataNotFoundError(f"the download of {FASHION_URL + name} failed: {type(err).__name__}: {err}") from err
        if hashlib.sha256(content).hexdigest() != expected:
            raise DataChecksumError(f"the download of {FASHION_URL + name} does not hold the expected content.")
        os.replace(part, local)
        return content
    finally:  # a failed download leaves nothing behind: no partial file, no folder it made
        part.unlink(missing_ok=True)
        if not local.exists():
            _remove_folders(made)


def load_fashion_mnist(split: str = "test", download: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load Fashion-MNIST items (28x28 greyscale, 0-255; classes :data:`FASHION_CLASSES`).

    Offline it reads the Debian package ``dataset-fashion-mnist``; online it downloads the
    official archives into :func:`data_dir` once. Every archive's content is checked
    against its sha256.

    Returns:
        images: (N, 28, 28) uint8; labels: (N,) int64 (60,000 train or 10,000 test).
    """
    _check_split(split)
    images_gz, labels_gz = MNIST_ARCHIVES[split]  # Fashion-MNIST uses MNIST's file names
    images = read_idx(_fashion_archive(images_gz, download))
    labels = read_idx(_fashion_archive(labels_gz, download))
    _check_arrays(FASHION_DEBIAN_DIR / images_gz, images, labels, (28, 28))
    return images, labels.astype(np.int64)


def describe_data_dir() -> list[dict[str, Any]]:
    """Check every expected file in :func:`data_dir` without downloading anything.

    Returns:
        One dict per file (mnist_train, mnist_test, cifar10_train, cifar10_test) with
        keys ``name``, ``path`` (a test set's download where the shipped copy is absent),
        ``status`` (``"verified"``, ``"missing"``, ``"checksum mismatch"`` or
        ``"unreadable"``), ``size_bytes`` (None when missing), ``verified_by``
        (``"shipped copy"``, ``"manifest.json"`` or None) and ``error`` (why an unreadable
        file cannot be read, else None).
    """
    rows = []
    for name in ("mnist", "cifar10"):
        for split in SPLITS:
            row: dict[str, Any] = {"name": f"{name}_{split}", "path": str(data_dir() / f"{name}_{split}.npz"),
                                   "status": "missing", "size_bytes": None, "verified_by": None, "error": None}
            try:
                path = _local_file(name, split)
                row["path"] = str(path)
                if path.is_file():
                    ok, actual = _check_npz(path)
                    row["size_bytes"] = path.stat().st_size
                    row["status"] = "verified" if ok else "checksum mismatch"
                    if ok:
                        row["verified_by"] = next(o for o, v in _known_sha256(path).items() if v == actual)
            except OSError as err:  # an unreadable folder or file
                row["status"], row["error"] = "unreadable", err.strerror or str(err)
            rows.append(row)
    return rows


def data_problem(rows: list[dict[str, Any]] | None = None) -> str | None:
    """What keeps :func:`describe_data_dir`'s files from being used, in one line, or None:
    a corrupt or unreadable file, or a shipped test set (every dominoes run needs both)
    missing while downloads are off."""
    if rows is None:
        rows = describe_data_dir()
    for row in rows:
        if row["status"] == "checksum mismatch":
            return f"{row['path']} is corrupt or unknown (its sha256 does not match). {_fix(Path(row['path']))}"
        if row["status"] == "unreadable":
            return (f"{row['path']} cannot be read ({row['error']}); give this user read access to it and its "
                    f"folder, or point {DATA_DIR_ENV} at a readable folder.")
    allowed, why_not = _downloads_allowed(None)
    missing = [f"{row['name']}.npz" for row in rows
               if row["status"] == "missing" and f"{row['name']}.npz" in SHIPPED_SHA256]
    if missing and not allowed:
        return (f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing from {data_dir()} and "
                f"{why_not}; every dominoes run needs them. Set {DATA_DIR_ENV} to a folder that holds them (the "
                f"book's ../shared/data), or unset {OFFLINE_ENV} to download them.")
    return None


def format_data_report(rows: list[dict[str, Any]] | None = None) -> str:
    """A readable table of :func:`describe_data_dir` rows (computed when not given)."""
    if rows is None:
        rows = describe_data_dir()
    allowed, why_not = _downloads_allowed(None)
    lines = [
        f"Data folder: {data_dir()} ({_data_dir_origin()})",
        f"Downloads:   {'allowed when a file is missing' if allowed else why_not}",
        "",
        f"{'file':<15} {'status':<26} {'size':>9}  path",
    ]
    for row in rows:
        size = "" if row["size_bytes"] is None else f"{row['size_bytes'] / 1e6:.1f} MB"
        status = row["status"] + (f" ({row['verified_by']})" if row.get("verified_by") == MANIFEST_NAME else "")
        status += f" ({row['error']})" if row.get("error") else ""
        lines.append(f"{row['name']:<15} {status:<26} {size:>9}  {row['path']}")
    if any(row["status"] == "checksum mismatch" for row in rows):
        lines += ["", "A file with a checksum mismatch is corrupt or unknown: copy the shipped file over it (the "
                      "test sets), or delete it so that it is downloaded afresh when downloads are allowed."]
    if any(row["status"] == "missing" for row in rows):
        lines += ["", "Missing files are downloaded by load_mnist/load_cifar10 when downloads are allowed; "
                      f"or set {DATA_DIR_ENV} to a folder that holds them."]
    return "\n".join(lines)
