"""What every trainer shares: the loop (loop.py: AdamW, accumulation, clipping, validation,
metrics by step), learning-rate schedules, the losses, the device and mixed precision, data
parallelism under torchrun (DDP, FSDP2), resumable checkpoints, throughput and MFU, and the
published output folder. Stages import it; it imports no stage."""
