"""Checking a device name before a model is loaded on it.

torch reports a misspelt device or a missing GPU with a traceback from deep inside
the model load (``Expected one of cpu, cuda, ...``, ``Torch not compiled with CUDA
enabled``); the commands check the name first and print one line instead.
"""

from __future__ import annotations

import warnings

import torch

DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def device_error(device: str) -> str | None:
    """Why ``device`` cannot be used in this process, or None when it can.

    ``auto`` and ``cpu`` always can (``auto`` is the CPU when there is no GPU); ``cuda``
    and ``cuda:N`` need a CUDA build of torch that sees that GPU.
    """
    if device in ("auto", "cpu"):
        return None
    if device != "cuda" and not (device.startswith("cuda:") and device[5:].isdigit()):
        return f"device {device!r} is not {DEVICE_CHOICES}"
    # A CUDA build on a machine without a driver may warn while it looks; the message below says it all.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        available = torch.cuda.is_available()
        count = torch.cuda.device_count() if available else 0
    if not available:
        why = (
            "no GPU is visible" if torch.backends.cuda.is_built() else f"torch {torch.__version__} is a CPU-only build"
        )
        return f"device {device!r}: CUDA is not available ({why}); use cpu or auto"
    index = int(device[5:]) if device.startswith("cuda:") else 0
    if index >= count:
        return f"device {device!r}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
    return None
