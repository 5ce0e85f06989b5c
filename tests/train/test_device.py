"""Where training runs: autocast on any CUDA device, CPU threads shared among ranks."""

import torch


def test_cuda_devices_by_index_get_bf16autocast():
    """Under torchrun the device is "cuda:N": autocast applies to it as to "cuda"."""
    import contextlib
    import warnings

    from danlu.train.device import autocast

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no CUDA here: torch disables the context it made
        for device in ("cuda", "cuda:3"):
            context = autocast(device)
            assert isinstance(context, torch.autocast) and context.fast_dtype == torch.bfloat16
    assert isinstance(autocast("cpu"), contextlib.nullcontext)


def test_all_cores_are_shared_among_the_processes_of_a_node(monkeypatch):
    import os

    from danlu.train.device import set_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(os, "cpu_count", lambda: 8)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
        set_threads(0)
        assert torch.get_num_threads() == 2
        set_threads(3)  # an explicit count is taken as it is
        assert torch.get_num_threads() == 3
        monkeypatch.delenv("LOCAL_WORLD_SIZE")
        set_threads(0)
        assert torch.get_num_threads() == 8
    finally:
        torch.set_num_threads(before)
