"""Data-parallel training under torchrun: DDP, or FSDP2 (`fully_shard`, parameters, gradients
and optimizer state sharded across the devices). The model itself stays a plain
LlamaForCausalLM; parallelism is applied from outside (torchtitan's separation).

    torchrun --nproc_per_node=8 -m danlu.pretrain.launch --params params.yaml
    # several nodes: the same command on each, with torchrun's rendezvous arguments
    torchrun --nnodes=2 --node_rank=R --rdzv_backend=c10d --rdzv_endpoint=HOST:29400 \\
        --nproc_per_node=8 -m danlu.pretrain.launch --params params.yaml

A single process (no WORLD_SIZE in the environment) is the same code with world_size 1. Rank 0
alone logs, tracks and writes; the state dicts it writes are full (unsharded) tensors on the
CPU, so a model saved under FSDP loads anywhere. Checkpoints are read by every rank: on several
nodes, the output folder must be on a filesystem they share.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger("danlu.train")

Strategy = Literal["ddp", "fsdp"]


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: str = "cpu"
    strategy: Strategy = "ddp"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def sharded(self) -> bool:
        return self.enabled and self.strategy == "fsdp"


def init_distributed(strategy: Strategy = "ddp") -> Dist:
    """The process group from torchrun's environment (NCCL on GPUs, gloo on the CPU), or a
    single-process Dist when there is none."""
    import torch

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(device="cuda" if torch.cuda.is_available() else "cpu", strategy=strategy)
    import torch.distributed as td

    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device, backend = f"cuda:{local}", "nccl"
    else:
        device, backend = "cpu", "gloo"
    if not td.is_initialized():  # NCCL bound to this rank's GPU from the start
        td.init_process_group(backend, device_id=torch.device(device) if backend == "nccl" else None)
    if rank != 0:  # only rank 0 speaks; the others say only what goes wrong
        logging.getLogger("danlu").setLevel(logging.WARNING)
    return Dist(rank, local, world, device, strategy)


def shutdown(dist: Dist) -> None:
    if dist.enabled:
        import torch.distributed as td

        if td.is_initialized():
            td.destroy_process_group()


def parallelize(model, dist: Dist):
    """The model wrapped for data parallelism: DDP, or FSDP2 with one unit per decoder layer
    plus the root (embeddings, final norm, output projection). On GPUs, FSDP2 gathers the
    parameters in bf16 (what autocast would cast them to) and reduces gradients in fp32:
    half the all-gather traffic of fp32 weights, the same arithmetic."""
    if not dist.enabled:
        return model
    if dist.strategy == "fsdp":
        import torch
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = (MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
                  if dist.device.startswith("cuda") else MixedPrecisionPolicy())
        for layer in model.model.layers:
            fully_shard(layer, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [dist.local_rank] if dist.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model):
    """The module itself (DDP holds it as .module; FSDP2 shards it in place)."""
    return getattr(model, "module", model)


def mean_over_ranks(value: float, dist: Dist) -> float:
    if not dist.enabled:
        return value
    import torch
    import torch.distributed as td

    t = torch.tensor([value], dtype=torch.float64, device=dist.device)
    td.all_reduce(t)
    return float(t.item()) / dist.world_size


def gather_objects(obj, dist: Dist) -> list:
    """One picklable object from every rank, in rank order (on every rank)."""
    if not dist.enabled:
        return [obj]
    import torch.distributed as td

    out = [None] * dist.world_size
    td.all_gather_object(out, obj)
    return out


def barrier(dist: Dist) -> None:
    if dist.enabled:
        import torch.distributed as td

        td.barrier()


def no_sync(model, dist: Dist, sync: bool):
    """A context in which backward does not all-reduce gradients (gradient accumulation's
    micro-steps before the last one)."""
    import contextlib

    if sync or not dist.enabled:
        return contextlib.nullcontext()
    if dist.strategy == "fsdp":
        model.set_requires_gradient_sync(False)
        return _ResyncAfter(model)
    return model.no_sync()


class _ResyncAfter:
    def __init__(self, model):
        self.model = model

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.model.set_requires_gradient_sync(True)


def model_state(model, dist: Dist) -> dict:
    """Full weights on the CPU (every rank must call it; only rank 0's result is complete)."""
    if not dist.sharded:
        return _to_cpu(unwrap(model).state_dict())
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True,
                                                                cpu_offload=True))


def optimizer_state(model, optimizer, dist: Dist) -> dict:
    """The optimizer's full state on the CPU (every rank must call it under FSDP)."""
    if not dist.sharded:
        return _to_cpu(optimizer.state_dict())
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=StateDictOptions(
        full_state_dict=True, cpu_offload=True))


def _to_cpu(obj):
    """A state dict's tensors on the CPU (saved from cuda:0, they would load back there on
    every rank)."""
    if hasattr(obj, "detach"):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def load_model_state(model, state: dict, dist: Dist) -> None:
    """Load full weights; a tied output projection may be absent (it is the embedding)."""
    module = unwrap(model)
    tied = {"lm_head.weight"} if getattr(module.config, "tie_word_embeddings", False) else set()
    expected = set(module.state_dict())
    missing, unexpected = expected - set(state) - tied, set(state) - expected
    if missing or unexpected:
        raise ValueError(f"checkpoint weights do not fit the model: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}")
    if not dist.sharded:
        module.load_state_dict(state, strict=False)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    set_model_state_dict(model, state, options=StateDictOptions(full_state_dict=True, strict=False))


def load_optimizer_state(model, optimizer, state: dict, dist: Dist) -> None:
    if not dist.sharded:
        optimizer.load_state_dict(state)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state,
                             options=StateDictOptions(full_state_dict=True))
