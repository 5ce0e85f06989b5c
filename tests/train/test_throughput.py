import pytest

from danlu.train.throughput import flops_per_token, gpu_peak_tflops, mfu, peak_flops


@pytest.mark.parametrize("kv_heads,tied", [(4, True), (2, False)])
def test_flops_count_every_matmul_weight_and_attention(kv_heads, tied):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=192,
                         num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=kv_heads,
                         tie_word_embeddings=tied)
    model = LlamaForCausalLM(config)
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    assert flops_per_token(config, 128) == 6 * linear + 12 * 3 * 64 * 128


def test_known_gpus_and_their_most_specific_name():
    assert gpu_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert gpu_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert gpu_peak_tflops("NVIDIA H200") == 989.0
    assert gpu_peak_tflops("NVIDIA H200 NVL") == 835.0
    assert gpu_peak_tflops("NVIDIA A100-SXM4-80GB") == 312.0
    assert gpu_peak_tflops("NVIDIA A10G") == 70.0 and gpu_peak_tflops("NVIDIA A10") == 125.0
    assert gpu_peak_tflops("NVIDIA L40S") == 362.0 and gpu_peak_tflops("NVIDIA L4") == 121.0
    assert gpu_peak_tflops("Some Future Accelerator") is None


def test_cpu_has_no_peak_unless_given():
    assert peak_flops("cpu") is None
    assert peak_flops("cpu", 1.5) == 1.5e12
    assert mfu(1000.0, 1e9, None) is None
    assert mfu(1000.0, 1e9, 4e12, devices=2) == pytest.approx(0.125)
