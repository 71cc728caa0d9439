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
