"""The one mode switch of the book, and the device it runs on.

Every chapter runs in two modes:

* ``fast``: a CPU run of a minute or two, used by the tests and by readers on a laptop;
* ``full``: the real experiment, on a GPU.

The mode comes from the environment variable ``SPLICER_MODE`` (``fast`` or ``full``).
When it is not set the book runs ``fast``, GPU or not: on a GPU fast mode runs there and
takes seconds, and ``full`` (an hour or more per chapter) runs only when asked for. Read
the mode only through :func:`mode`, so there is one place to change it.
"""

from __future__ import annotations

import os

import torch

MODES = ("fast", "full")
MODE_ENV = "SPLICER_MODE"


def mode(override: str | None = None) -> str:
    """Return ``"fast"`` or ``"full"``.

    ``override`` wins when given; otherwise ``$SPLICER_MODE``; otherwise ``"fast"``, with a
    GPU or without (the device is :func:`default_device`'s choice either way).
    """
    value = (override if override is not None else os.environ.get(MODE_ENV, "")).strip()
    if not value:
        return "fast"
    value = value.lower()
    if value not in MODES:
        source = "mode" if override is not None else f"${MODE_ENV}"
        raise ValueError(
            f"{source} is {value!r}, but it must be one of {MODES}; "
            f"set {MODE_ENV}=fast for a CPU run or {MODE_ENV}=full for the GPU experiment."
        )
    return value


def default_device() -> torch.device:
    """The device to train on: the first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``None``, ``"auto"``, ``"cpu"``, ``"cuda"`` ... into a usable ``torch.device``."""
    if device is None or device == "auto":
        return default_device()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device is {device!r}, which torch does not know ({error}); use 'cpu', 'cuda', "
            "'cuda:0', ... or leave it out to choose automatically."
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device is {str(device)!r}, but this machine has no CUDA GPU; "
            "pass device='cpu' or leave it out to choose automatically."
        )
    return device
