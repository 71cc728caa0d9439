"""Tests of splicer_tutorial.config: the fast/full mode switch and the device."""

from __future__ import annotations

import pytest
import torch

from splicer_tutorial import config


@pytest.fixture
def no_mode(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(config.MODE_ENV, raising=False)
    return monkeypatch


@pytest.mark.parametrize("value, expected", [
    ("fast", "fast"), ("full", "full"), ("FAST", "fast"), ("Full", "full"), ("  full \n", "full"),
])
def test_mode_reads_the_environment(no_mode, value: str, expected: str) -> None:
    no_mode.setenv("SPLICER_MODE", value)
    assert config.mode() == expected


def test_bad_mode_in_environment_names_the_variable(no_mode) -> None:
    no_mode.setenv("SPLICER_MODE", "quick")
    with pytest.raises(ValueError, match=r"SPLICER_MODE.*'quick'"):
        config.mode()


def test_bad_override_names_mode(no_mode) -> None:
    with pytest.raises(ValueError, match=r"^mode is 'slow'"):
        config.mode("slow")


@pytest.mark.parametrize("env, override", [("fast", "full"), ("full", "fast"), ("nonsense", "FULL")])
def test_override_wins_over_the_environment(no_mode, env: str, override: str) -> None:
    no_mode.setenv("SPLICER_MODE", env)
    assert config.mode(override) == override.lower()


@pytest.mark.parametrize("empty", [None, "", "   "])
def test_the_default_is_fast_with_a_gpu_or_without(no_mode, empty: str | None) -> None:
    """A Colab GPU runtime must not switch itself to the hour-long full mode."""
    if empty is not None:
        no_mode.setenv("SPLICER_MODE", empty)
    no_mode.setattr(torch.cuda, "is_available", lambda: False)
    assert config.mode() == "fast"
    no_mode.setattr(torch.cuda, "is_available", lambda: True)
    assert config.mode() == "fast"
    assert config.default_device().type == "cuda"  # fast mode runs on the GPU there


def test_default_device_without_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert config.default_device() == torch.device("cpu")
    assert config.resolve_device(None) == torch.device("cpu")
    assert config.resolve_device("auto") == torch.device("cpu")


def test_default_device_with_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert config.default_device().type == "cuda"
    assert config.resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("name", ["cpu", torch.device("cpu")])
def test_resolve_device_cpu(name) -> None:
    assert config.resolve_device(name) == torch.device("cpu")


@pytest.mark.parametrize("name", ["cuda", "cuda:0", torch.device("cuda")])
def test_resolve_cuda_without_gpu_raises(monkeypatch: pytest.MonkeyPatch, name) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"^device is 'cuda.*no CUDA GPU"):
        config.resolve_device(name)


def test_resolve_device_unknown_name_is_a_value_error_naming_device() -> None:
    with pytest.raises(ValueError, match=r"device is 'gpu'"):
        config.resolve_device("gpu")


def test_mode_override_ignores_surrounding_spaces() -> None:
    assert config.mode(" Full ") == "full"


def test_a_fresh_colab_like_install_from_the_sdist_gets_fast_mode_on_its_gpu(tmp_path) -> None:
    """The package built as an sdist, installed into a fresh virtual environment with no
    checkout around it and nothing set, sees a (mocked) GPU and chooses fast mode on it."""
    import os
    import shutil
    import subprocess
    import sys
    import sysconfig
    import tarfile
    import venv
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    source = tmp_path / "source"  # built from a copy: the build writes egg-info beside the code
    shutil.copytree(root / "splicer_tutorial", source / "splicer_tutorial", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    build = ("import sys; from setuptools import build_meta as b; "
             "print(b.build_sdist(sys.argv[1]) if sys.argv[2] == 'sdist' else b.build_wheel(sys.argv[1]))")
    run = lambda *args, **kw: subprocess.run(args, capture_output=True, text=True, timeout=300, check=True, **kw)  # noqa: E731
    sdist = tmp_path / "dist" / run(sys.executable, "-c", build, str(tmp_path / "dist"), "sdist", cwd=source).stdout.split()[-1]
    with tarfile.open(sdist) as archive:  # the wheel is built from what the sdist holds, nothing else
        archive.extractall(tmp_path / "unpacked", filter="data")
    unpacked = next((tmp_path / "unpacked").iterdir())
    wheel = tmp_path / "dist" / run(sys.executable, "-c", build, str(tmp_path / "dist"), "wheel", cwd=unpacked).stdout.split()[-1]

    fresh = tmp_path / "colab"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(wheel))
    # its dependencies (torch, kornia, ...) from this environment, without a download; a
    # .pth line adds the folder but runs none of its own .pth files (this checkout's editable install)
    fresh_site = Path(run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (fresh_site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    check = ("import torch; torch.cuda.is_available = lambda: True\n"
             "import splicer_tutorial as st\n"
             "print(st.mode(), st.config.default_device().type, st.__file__)")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPLICER_")}
    mode, device, location = run(str(python), "-c", check, cwd=tmp_path, env=environment).stdout.split()
    assert (mode, device) == ("fast", "cuda")
    assert Path(location).is_relative_to(fresh) and not Path(location).is_relative_to(root)
