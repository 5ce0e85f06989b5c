"""The model, shared by every stage, the registry and `danlu chat`: the Llama-family
architecture by preset (llama.py, presets.py), a model folder saved and loaded as safetensors
with its tokenizer and never with remote code (saved.py), and generation (generate.py)."""
