"""The bundled sample: the pipeline's default input, built from offline stdlib text and shipped as sample.tar.gz."""

from danlu.sample.bundle import DEFAULT_ARCHIVE, pack, restore

__all__ = ["DEFAULT_ARCHIVE", "pack", "restore"]
