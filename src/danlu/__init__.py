"""danlu: from raw web crawl to a trained, fine-tuned, evaluated and registered language model."""

__version__ = "0.1.0"
