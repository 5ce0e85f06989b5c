"""Where training runs: the device, the CPU threads torch may use, and mixed precision."""

from __future__ import annotations


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def set_threads(threads: int) -> None:
    """`threads` CPU threads for torch; 0 = all cores, shared out among the processes torchrun
    started on this node (each taking every core ran 4 threads on 2 cores: 6.7x slower)."""
    import os

    import torch

    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // local_processes))


def autocast(device: str):
    """bf16 autocast on CUDA (any cuda:N); nothing on the CPU."""
    import contextlib

    import torch

    if device.startswith("cuda"):  # "cuda:N" under torchrun
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
