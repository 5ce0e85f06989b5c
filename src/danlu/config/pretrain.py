"""params.yaml `model` (the architecture, by preset) and `train` (pretraining)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from danlu.config.section import Section


class ModelConfig(Section):
    preset: Literal["tiny", "d6", "d12", "d24"]
    context_length: int = Field(ge=8)
    n_kv_head: int | None = Field(ge=1, description="key/value heads (grouped-query "
                                  "attention); null = the preset's (as many as query heads)")
    tie_embeddings: bool | None = Field(description="null = the preset's")


class TrainConfig(Section):
    seed: int | None = Field(description="pretraining's seed (initial weights, data order, "
                             "samples); null = the top-level seed. `danlu ablate` varies it")
    max_steps: int = Field(ge=1)
    batch_size: int = Field(ge=1, description="rows per micro-batch on each device")
    batch_tokens: int | None = Field(ge=1, description="tokens per optimizer step "
                                     "over all devices (gradient accumulation); null = the preset's")
    lr: float | None = Field(gt=0, description="peak learning rate; null = the preset's")
    schedule: Literal["cosine", "wsd"]
    decay_fraction: float = Field(gt=0, le=1, description="wsd: share of the steps "
                                  "spent decaying")
    min_lr_ratio: float = Field(ge=0, le=1)
    warmup_steps: int = Field(ge=0)
    weight_decay: float = Field(ge=0)
    grad_clip: float = Field(ge=0)
    eval_every: int = Field(ge=1)
    eval_batches: int = Field(ge=1)
    heldout: str | None = Field(description="held-out text (JSONL with a text field, or "
                                "plain text) scored in bits per byte at every validation: "
                                "tokenizer-independent, so runs on other data compare; null = none")
    sample_tokens: int = Field(ge=0, description="tokens generated at each validation "
                               "(logged); 0 = none")
    threads: int = Field(ge=0, description="CPU threads; 0 = all cores")
    packing: Literal["random", "bos"] = Field(
        description="random windows, or rows that start at a document's BOS")
    compile: bool | Literal["auto"] = Field(description="torch.compile; auto = on CUDA, "
                                            "and on the CPU for long runs")
    compile_cpu_min_steps: int = Field(ge=1, description="auto compiles on the CPU for runs "
                                       "of at least this many steps")
    peak_tflops: float | None = Field(gt=0, description="dense bf16 peak of one "
                                      "device for MFU; null = the detected GPU's")
    nproc_per_node: int = Field(ge=0, description="processes (GPUs) per node; >1 runs "
                                "under torchrun; 0 = one per visible GPU")
    distributed: Literal["ddp", "fsdp"] = Field(description="data parallel: "
                                                "DDP, or FSDP2 (fully_shard) to shard the model")
    work_pool: str | None = Field(description="Prefect work pool whose workers run the training "
                                  "stages (pretrain, sft, reward, dpo: a GPU machine's; "
                                  "`danlu deploy`); null = the flow's own process")
    checkpoint_every: int = Field(ge=0, description="steps between checkpoints; 0 = none")
    keep_checkpoints: int = Field(ge=1)
    resume: Literal["auto", "never"] = Field(
        description="auto: continue from the latest checkpoint of the same configuration")
