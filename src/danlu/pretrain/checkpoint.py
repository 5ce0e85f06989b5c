"""Training checkpoints: resume a killed run exactly where its last checkpoint left it.

    <folder>/step-000400/model.safetensors   weights (safetensors; tied weights handled)
    <folder>/step-000400/optimizer.pt        optimizer state and torch's RNG state: tensors and
                                             plain values only, read with weights_only=True
    <folder>/step-000400/state.json          step, loader position, history so far, identity

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

    def save(self, step: int, model, optimizer, loader, history) -> Path:
        import torch
        from safetensors.torch import save_model

        final = self.folder / f"step-{step:06d}"
        with atomic_dir(final) as tmp:
            save_model(model, str(tmp / "model.safetensors"))
            torch.save({"optimizer": optimizer.state_dict(), "rng": torch.get_rng_state()},
                       tmp / "optimizer.pt")
            state = {"identity": self.identity, "step": step, "history": asdict(history),
                     "loader": loader.state_dict() if loader is not None else None}
            (tmp / "state.json").write_text(json.dumps(state, sort_keys=True))
        for old in self._steps()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
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

    def restore(self, path: Path, model, optimizer, loader):
        """Load the checkpoint into model, optimizer and loader; return (step, history dict)."""
        import torch
        from safetensors.torch import load_model

        load_model(model, str(path / "model.safetensors"))
        saved = torch.load(path / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        state = json.loads((path / "state.json").read_text())
        if loader is not None:
            loader.load_state_dict(state["loader"])
        log.info("resumed from %s (step %d)", path, state["step"])
        return state["step"], state["history"]

    def clear(self) -> None:
        """After a finished run: its checkpoints would only make a forced re-run resume."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def _steps(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if STEP_DIR.match(p.name))
