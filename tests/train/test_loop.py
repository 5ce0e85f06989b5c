from pathlib import Path

import pytest
import torch

from danlu.train.loop import LoopSettings, train, validation_loss
from danlu.tracking.tracker import NullTracker


def repeating_batches(vocab: int, seq: int = 32, batch: int = 4):
    pattern = torch.arange(5, 5 + 16) % vocab
    data = pattern.repeat(64)
    g = torch.Generator().manual_seed(0)
    while True:
        starts = torch.randint(0, len(data) - seq - 1, (batch,), generator=g)
        x = torch.stack([data[s:s + seq] for s in starts])
        y = torch.stack([data[s + 1:s + seq + 1] for s in starts])
        yield x, y


@pytest.fixture
def model(tiny_model_dir: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))


def test_loss_falls_and_metrics_are_logged_by_step(model):
    settings = LoopSettings(max_steps=30, lr=3e-3, min_lr_ratio=0.1, warmup_steps=3,
                            weight_decay=0.1, grad_clip=1.0, eval_every=10)
    vocab = model.config.vocab_size
    val = lambda: (b for _, b in zip(range(2), repeating_batches(vocab)))  # noqa: E731
    before = validation_loss(model, val, "cpu")
    tracker = NullTracker()
    history = train(model, repeating_batches(vocab), settings, device="cpu", val_batches=val,
                    tracker=tracker, prefix="pretrain")
    assert len(history.steps) == 30 and [e["step"] for e in history.evals] == [10, 20, 30]
    assert history.evals[-1]["val_loss"] < 0.5 * before
    steps = [s for s, m in tracker.metrics if "pretrain/loss" in m]
    assert steps == list(range(30))
    assert history.steps[0]["lr"] == pytest.approx(1e-3)


def test_non_finite_loss_stops_training(model):
    settings = LoopSettings(max_steps=3, lr=1e6, min_lr_ratio=1.0, warmup_steps=0,
                            weight_decay=0.0, grad_clip=0.0, eval_every=10)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="pretrain: loss is nan at step 0"):
        train(model, repeating_batches(model.config.vocab_size), settings, device="cpu",
              prefix="pretrain")


def test_saved_model_reloads_with_identical_logits(model, tmp_path: Path, tiny_tokenizer_dir):
    """The export is exact: AutoModelForCausalLM (no remote code) gives the training logits."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from danlu.model.saved import save_model

    tok = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    save_model(model, tok, tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin")) and not list(tmp_path.glob("*.pt"))
    again = AutoModelForCausalLM.from_pretrained(str(tmp_path), trust_remote_code=False)
    x = torch.randint(0, model.config.vocab_size, (2, 16))
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(input_ids=x).logits, again(input_ids=x).logits)
    end_id = tok.convert_tokens_to_ids("<|end|>")
    assert end_id in again.generation_config.eos_token_id


def test_compiled_training_gives_the_eager_losses(tiny_model_dir: Path):
    """train.compile compiles the model and its loss as one graph (inductor's C++ backend on
    the CPU); the losses, validation included, are those of eager training, and the
    compiled graph is what ran (one compile for training, one for no-grad validation)."""
    import copy

    from transformers import AutoModelForCausalLM

    torch._dynamo.reset()
    eager_model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    compiled_model = copy.deepcopy(eager_model)
    settings = LoopSettings(max_steps=4, lr=3e-3, min_lr_ratio=0.1, warmup_steps=1,
                            weight_decay=0.1, grad_clip=1.0, eval_every=2, accumulation=2)
    vocab = eager_model.config.vocab_size
    val = lambda: (b for _, b in zip(range(2), repeating_batches(vocab)))  # noqa: E731
    eager = train(eager_model, repeating_batches(vocab), settings, device="cpu", val_batches=val)
    from torch._dynamo.utils import counters

    counters.clear()
    compiled = train(compiled_model, repeating_batches(vocab), settings, device="cpu",
                     val_batches=val, compile_model=True)
    assert counters["stats"]["unique_graphs"] == 2 and not counters["graph_break"]
    assert [s["loss"] for s in compiled.steps] == pytest.approx(
        [s["loss"] for s in eager.steps], rel=1e-4)
    assert [e["val_loss"] for e in compiled.evals] == pytest.approx(
        [e["val_loss"] for e in eager.evals], rel=1e-4)


def test_throughput_leaves_out_the_first_step(model):
    """The first step compiles and warms up (seconds on a GPU, where a step takes
    milliseconds): tokens/s, the stage's figure and MFU's, count the steps after it."""
    import time

    def slow_first(batches):
        time.sleep(0.5)
        yield from batches

    settings = LoopSettings(max_steps=4, lr=1e-3, min_lr_ratio=1.0, warmup_steps=0,
                            weight_decay=0.0, grad_clip=1.0, eval_every=10)
    history = train(model, slow_first(repeating_batches(model.config.vocab_size)), settings,
                    device="cpu")
    assert history.steps[0]["step_ms"] > 500
    later = history.steps[1:]
    expected = 3 * 4 * 32 / (sum(s["step_ms"] for s in later) / 1000)
    assert history.tokens_per_s == pytest.approx(expected, rel=1e-6)
    assert history.tokens_per_s > 2 * history.tokens / history.train_seconds
    assert history.steps[-1]["tokens_per_s"] == pytest.approx(history.tokens_per_s)
