"""Training checkpoints: resume a killed run exactly where its last checkpoint left it.

    <folder>/step-000400/model.safetensors   weights (safetensors; tied weights handled)
    <folder>/step-000400/optimizer.pt        optimizer state and torch's RNG state: tensors and
                                             plain values only, read with weights_only=True
    <folder>/step-000400/state.json          step, every rank's loader position, history so
                                             far, identity

Each checkpoint appears whole (written to a temporary folder, then renamed), the last `keep`
are kept, and one is resumed only when its identity (the settings that shape the run) equals
the new run's, so a changed config starts afresh instead of continuing the wrong run.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict
from pathlib import Path

from danlu.atomic import atomic_dir
from danlu.train.distributed import (
    Dist,
    barrier,
    gather_objects,
    load_model_state,
    load_optimizer_state,
    model_state,
    optimizer_state,
)

log = logging.getLogger("danlu.train")

STEP_DIR = re.compile(r"^step-(\d{6,})$")
FORMAT = 1


class Checkpointer:
    def __init__(self, folder: Path, every: int, keep: int, identity: dict):
        self.folder = Path(folder)
        self.every = every
        self.keep = keep
        self.identity = {"format": FORMAT, **identity}

    def due(self, step: int, max_steps: int) -> bool:
        """After `step` optimizer steps: save unless it is the last (the model is published)."""
        return self.every > 0 and step % self.every == 0 and step < max_steps

    def save(self, step: int, model, optimizer, loader, history, dist: Dist | None = None) -> Path:
        """Every rank calls it (under FSDP the full state is gathered from all); rank 0 writes."""
        import torch
        from safetensors.torch import save_file

        dist = dist or Dist()
        weights = model_state(model, dist)
        optim = optimizer_state(model, optimizer, dist)
        # each rank reads its own rows: every rank's position, restored to the same rank
        loaders = gather_objects(loader.state_dict() if loader is not None else None, dist)
        final = self.folder / f"step-{step:06d}"
        if dist.is_main:
            with atomic_dir(final) as tmp:
                save_file(_untied(weights), str(tmp / "model.safetensors"))
                torch.save({"optimizer": optim, "rng": torch.get_rng_state()}, tmp / "optimizer.pt")
                state = {"identity": self.identity, "step": step, "history": asdict(history),
                         "loaders": loaders}
                (tmp / "state.json").write_text(json.dumps(state, sort_keys=True))
            for old in self._steps()[: -self.keep]:
                shutil.rmtree(old, ignore_errors=True)
        barrier(dist)
        return final

    def latest(self) -> Path | None:
        """The newest checkpoint of this same run, or None."""
        for path in reversed(self._steps()):
            try:
                state = json.loads((path / "state.json").read_text())
            except (OSError, ValueError):
                continue
            if state.get("identity") == self.identity:
                return path
            log.warning("checkpoint %s belongs to another configuration: not resumed", path)
            return None
        return None

    def restore(self, path: Path, model, optimizer, loader, dist: Dist | None = None):
        """Load the checkpoint into model, optimizer and loader; return (step, history dict)."""
        import torch
        from safetensors.torch import load_file

        dist = dist or Dist()
        load_model_state(model, load_file(str(path / "model.safetensors")), dist)
        saved = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        load_optimizer_state(model, optimizer, saved["optimizer"], dist)
        torch.set_rng_state(saved["rng"])
        state = json.loads((path / "state.json").read_text())
        if loader is not None:
            loaders = state.get("loaders") or [state.get("loader")]
            if len(loaders) != dist.world_size:
                raise ValueError(f"{path}: saved by {len(loaders)} processes, resumed by "
                                 f"{dist.world_size}")
            loader.load_state_dict(loaders[dist.rank])
        log.info("resumed from %s (step %d)", path, state["step"])
        return state["step"], state["history"]

    def clear(self) -> None:
        """After a finished run: its checkpoints would only make a forced re-run resume."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def _steps(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if STEP_DIR.match(p.name))


def _untied(weights: dict) -> dict:
    """One copy of each tensor: safetensors refuses shared storage (tied embeddings), and the
    model re-ties on load."""
    seen: dict[int, str] = {}
    out = {}
    for name, tensor in weights.items():
        key = tensor.data_ptr()
        if key in seen and tensor.numel():
            continue
        seen[key] = name
        out[name] = tensor.contiguous()
    return out
