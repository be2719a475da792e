"""Our AVX2 int4 kernel against bigdl-llm's own dequantizer and kernel, on real bigdl weights."""

import platform
from pathlib import Path

import pytest
import torch
from engine_probes import count_q4_calls

from qwen_tui.engine import speed

SYM_INT4 = speed.SYM_INT4


def cpu_has_avx2() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    if platform.machine() not in ("x86_64", "AMD64") or not cpuinfo.exists():
        return False
    flags = cpuinfo.read_text()
    return all(f" {flag}" in flags for flag in ("avx2", "fma", "f16c"))


needs_kernel = pytest.mark.skipif(
    speed._q4_module() is None, reason="q4 kernel not built for this CPU"
)


def low_bit_layer(out_features: int, in_features: int, bias: bool = False, seed: int = 0):
    from bigdl.llm.transformers import low_bit_linear as lbl

    torch.manual_seed(seed)
    layer = lbl.LowBitLinear(in_features, out_features, qtype=SYM_INT4, bias=bias)
    weight = torch.randn(out_features, in_features) * 0.02
    layer.weight = lbl.FP4Params(
        data=weight, requires_grad=False, quantized=False, _shape=None, qtype=SYM_INT4
    ).to("cpu")
    if bias:
        layer.bias = torch.nn.Parameter(torch.randn(out_features), requires_grad=False)
    return layer.eval()


def dequantized(layer):
    from bigdl.llm.transformers import low_bit_linear as lbl

    return lbl.ggml_convert_fp32(
        layer.weight.data, layer.weight_shape, layer.weight_length, layer.qtype
    )


def relative_error(a, b):
    return ((a - b).norm() / b.norm()).item()


def test_the_kernel_is_built_on_avx2_machines():
    """setup.sh builds it; a silently failed build would make every reply slow."""
    if cpu_has_avx2():
        assert speed._q4_module() is not None


def reference(layer, x):
    """Exact product with the dequantized weight, and bigdl-llm's own kernel's result."""
    return x @ dequantized(layer).T, speed._bigdl_kernel(layer, x)


@needs_kernel
@pytest.mark.parametrize("shape", [(2048, 2048), (5504, 2048), (136, 320), (8, 64)])
@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 63, 64, 65, 130])
def test_q4_matches_the_dequantized_weight(shape, rows):
    layer = low_bit_layer(*shape)
    x = torch.randn(1, rows, shape[1])
    with torch.inference_mode():
        exact, bigdl = reference(layer, x)
        speed.regroup(layer)
        ours = speed._q4_matmul(layer.weight, layer.out_len, x)
    assert ours.shape == (1, rows, shape[0])
    # int8 activations in blocks of 64, like bigdl-llm's own kernel: same error, not larger
    assert relative_error(ours, exact) < 0.01
    assert relative_error(ours, exact) < 1.1 * relative_error(bigdl, exact) + 1e-4


@needs_kernel
def test_regrouped_weights_dequantize_to_the_same_values():
    layer = low_bit_layer(136, 320)
    before = dequantized(layer)
    speed.regroup(layer)
    speed.regroup(layer)  # a second call changes nothing
    after = torch.empty(136, 320)
    speed._q4_module().dequantize(layer.weight.data_ptr(), 136, 320, after.data_ptr())
    assert torch.equal(before, after)


@needs_kernel
def test_q4_rows_do_not_depend_on_batching():
    """A row's result is the same alone or in any batch: KV reuse keeps greedy output identical."""
    layer = low_bit_layer(136, 256)
    speed.regroup(layer)
    x = torch.randn(1, 110, 256)  # more than one chunk of rows, and rows left over from tiles

    def mm(rows):
        return speed._q4_matmul(layer.weight, layer.out_len, rows)

    with torch.inference_mode():
        batch = mm(x)
        for i in (0, 3, 4, 64, 97, 109):
            assert torch.equal(mm(x[:, i : i + 1])[0, 0], batch[0, i])
        assert torch.equal(mm(x[:, 60:]), batch[:, 60:])
        assert torch.equal(mm(x[:, 95:]), batch[:, 95:])


def extreme_weights(first: float, rest: float) -> torch.Tensor:
    """Each block of 64: `first`, then 63 x `rest` (sym_int4 nibbles 0 and 15 for 1, -7/8)."""
    weights = torch.full((16, 256), rest)
    weights[:, ::64] = first
    return weights


@needs_kernel
@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("weights", [(-1.0, -1.0), (1.0, -0.875)])
def test_q4_is_exact_at_the_largest_block_sums(sign, weights):
    """Nibbles all 0 (-8 x scale) or almost all 15, activations all +-127: the int16 lane sums
    reach +-32512 (and 15 x 127 x 32 = 60960 before the -8 offset)."""
    from bigdl.llm.transformers import low_bit_linear as lbl

    layer = low_bit_layer(16, 256)
    layer.weight = lbl.FP4Params(
        data=extreme_weights(*weights),
        requires_grad=False,
        quantized=False,
        _shape=None,
        qtype=SYM_INT4,
    ).to("cpu")
    x = torch.full((1, 13, 256), sign)  # tiles of 8 and 4 rows, and single rows
    with torch.inference_mode():
        exact = x @ dequantized(layer).T
        speed.regroup(layer)
        ours = speed._q4_matmul(layer.weight, layer.out_len, x)
    assert torch.allclose(ours, exact, rtol=1e-3)


@needs_kernel
def test_project_computes_several_layers_in_one_call(monkeypatch):
    """q/k/v (or gate/up) share one quantized input and one call; each result is its own."""
    layers = [low_bit_layer(n, 256, bias=True, seed=n) for n in (64, 16, 16)]
    for layer in layers:
        speed.regroup(layer)
    calls = count_q4_calls(monkeypatch)
    for rows in (1, 9):
        x = torch.randn(1, rows, 256)
        with torch.inference_mode():
            together = speed.project(layers, x)
            alone = [
                speed._q4_matmul(layer.weight, layer.out_len, x) + layer.bias for layer in layers
            ]
        for a, b in zip(together, alone, strict=True):
            assert torch.equal(a, b)
    assert calls == [3, 1, 1, 1] * 2
    speed.install()  # LowBitLinear.forward as at load
    plain = low_bit_layer(16, 256)  # not regrouped: each layer takes its own path
    calls.clear()
    with torch.inference_mode():
        speed.project([layers[0], plain], x)
    assert calls == [1]


@needs_kernel
def test_gated_input_is_silu_times_up_formed_in_the_kernel():
    """down(silu(gate) * up) with the product formed as the kernel quantizes: as torch's
    product would give, SiLU's tails included, and a row's result does not depend on batching."""
    import torch.nn.functional as F

    layer = low_bit_layer(64, 256, bias=True)
    weight = dequantized(layer)
    speed.regroup(layer)
    torch.manual_seed(1)
    gate = torch.randn(1, 20, 256) * 4
    gate[0, :, :8] = torch.tensor([-100.0, -88.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 100.0])
    up = torch.randn(1, 20, 256)
    with torch.inference_mode():
        ours = speed.gated(layer, gate, up)
        product = F.silu(gate) * up
        exact = product @ weight.T + layer.bias
        unfused = speed._q4_matmul(layer.weight, layer.out_len, product, layer.bias)
        for i in (0, 7, 19):
            assert torch.equal(
                speed.gated(layer, gate[:, i : i + 1], up[:, i : i + 1])[0, 0], ours[0, i]
            )
    # the int8 blocks of the two products differ at most where a rounding flips
    assert relative_error(ours, unfused) < 1e-4
    assert relative_error(ours, exact) < 1.01 * relative_error(unfused, exact)


@needs_kernel
@pytest.mark.parametrize("mode", ["q4", "dequant"])
def test_regrouped_layer_forward_adds_the_bias_and_takes_other_dtypes(mode, monkeypatch):
    layer = low_bit_layer(64, 128, bias=True)
    x = torch.randn(2, 3, 128)
    exact = x @ dequantized(layer).T + layer.bias
    speed.install()
    plan = speed.plan_for(layer, mode)
    monkeypatch.setitem(speed._plans, SYM_INT4, plan)
    speed.regroup(layer)
    with torch.inference_mode():
        ours = layer(x.to(torch.bfloat16))
    assert ours.shape == (2, 3, 64) and ours.dtype == torch.float32
    assert relative_error(ours, exact) < 0.02


def test_only_sym_int4_in_whole_groups_uses_q4():
    layer = low_bit_layer(64, 128)
    assert speed.q4_fits(layer) == (speed._q4_module() is not None)
    assert not speed.q4_fits(low_bit_layer(60, 128))  # not a multiple of 8 rows
    layer.qtype = 3  # asym_int4: another byte layout
    assert not speed.q4_fits(layer)


def test_forced_modes_give_their_plans():
    layer = low_bit_layer(64, 128)
    q4 = "q4" if speed.q4_fits(layer) else "bigdl"
    assert speed.plan_for(layer, "bigdl") == speed.Plan("bigdl")
    assert speed.plan_for(layer, "q4") == speed.Plan(q4)
    assert speed.plan_for(layer, "dequant") == speed.Plan(q4, dequant_from=2)
    measured = speed.plan_for(layer, "auto")
    assert measured.kernel in ("bigdl", "q4")
    assert measured.dequant_from in (None, *speed.CANDIDATE_ROWS)


@needs_kernel
@pytest.mark.parametrize("heads,kv_heads", [(16, 16), (12, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_one_token_attention_reads_the_strided_cache(heads, kv_heads, dtype):
    """Matches SDPA over repeated key/value heads, on bigdl-llm's cache with spare room."""
    import torch.nn.functional as F
    from bigdl.llm.transformers.models.llama import repeat_kv
    from bigdl.llm.transformers.models.utils import init_kv_cache

    from qwen_tui.engine.attend import attend_one, cache_fits

    torch.manual_seed(0)
    length, dim = 300, 128
    key, value = init_kv_cache(1, kv_heads, dim, length, length + 256, dtype, "cpu")
    key[:] = torch.randn(1, kv_heads, length, dim)
    value[:] = torch.randn(1, kv_heads, length, dim)
    query = torch.randn(1, heads, 1, dim)
    assert cache_fits(key, value, 1) and not key.is_contiguous()
    groups = heads // kv_heads
    expected = F.scaled_dot_product_attention(
        query, repeat_kv(key.float(), groups), repeat_kv(value.float(), groups)
    )
    assert torch.allclose(attend_one(query, key, value), expected, atol=1e-5)


def strided_cache(kv_heads, length, dim, dtype, seed=0):
    """bigdl-llm's cache layout: room for 256 more positions after the used ones."""
    from bigdl.llm.transformers.models.utils import init_kv_cache

    torch.manual_seed(seed)
    key, value = init_kv_cache(1, kv_heads, dim, length, length + 256, dtype, "cpu")
    key[:] = torch.randn(1, kv_heads, length, dim)
    value[:] = torch.randn(1, kv_heads, length, dim)
    return key, value


@needs_kernel
@pytest.mark.parametrize("rows,past", [(1, 40), (6, 0), (6, 40)])
def test_qwen1_fallback_attention_is_the_kernels(rows, past):
    """For a cache the kernel cannot read in place, Qwen-1's forward uses SDPA with the same
    causal rule: the last rows of the cache."""
    from qwen_tui.engine.attend import attend_rows
    from qwen_tui.engine.qwen1_attention import _sdpa

    key, value = strided_cache(4, past + rows, 64, torch.float32)
    query = torch.randn(1, 4, rows, 64)
    assert torch.allclose(_sdpa(query, key, value), attend_rows(query, key, value), atol=2e-5)


@needs_kernel
@pytest.mark.parametrize("heads,kv_heads", [(16, 16), (12, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("rows,past", [(1, 0), (5, 0), (37, 0), (9, 30), (4, 300)])
@pytest.mark.parametrize("dim", [128, 16])
def test_prompt_attention_is_causal_over_the_cache(heads, kv_heads, dtype, rows, past, dim):
    """New rows after `past` cached positions: SDPA with the causal mask bigdl-llm would use."""
    import torch.nn.functional as F
    from bigdl.llm.transformers.models.llama import repeat_kv

    from qwen_tui.engine.attend import attend_rows, cache_fits, is_causal

    length = past + rows
    key, value = strided_cache(kv_heads, length, dim, dtype)
    query = torch.randn(1, heads, rows, dim)
    mask = torch.full((rows, length), torch.finfo(torch.float32).min).triu(past + 1)
    assert cache_fits(key, value, 1) and is_causal(mask[None, None], rows, length)
    groups = heads // kv_heads
    expected = F.scaled_dot_product_attention(
        query, repeat_kv(key.float(), groups), repeat_kv(value.float(), groups), mask
    )
    ours = attend_rows(query, key, value)
    assert ours.shape == (1, rows, heads * dim)
    assert torch.allclose(ours, expected.transpose(1, 2).reshape(1, rows, -1), atol=2e-5)


@needs_kernel
@pytest.mark.parametrize("dim", [128, 16])
def test_a_prompt_row_equals_the_same_position_decoded(dim):
    """Rows in blocks of four or alone, prompt or decoded token: bit-identical results."""
    from qwen_tui.engine.attend import attend_one, attend_rows

    key, value = strided_cache(2, 23, dim, torch.float16)
    query = torch.randn(1, 8, 23, dim)
    prompt = attend_rows(query, key, value).view(23, 8, dim)
    for i in (0, 3, 4, 19, 22):  # first and last of a block, and the rows after the blocks
        one = attend_one(query[:, :, i : i + 1], key[:, :, : i + 1], value[:, :, : i + 1])
        assert torch.equal(one.view(8, dim), prompt[i])
    later = attend_rows(query[:, :, 10:], key, value).view(13, 8, dim)  # 10 positions kept
    assert torch.equal(later, prompt[10:])


def test_only_the_plain_causal_mask_goes_to_the_kernel():
    from qwen_tui.engine.attend import is_causal

    low = torch.finfo(torch.float32).min
    causal = torch.full((3, 5), low).triu(3)[None, None]
    assert is_causal(None, 3, 5) and is_causal(causal, 3, 5)
    padded = causal.clone()
    padded[..., 0] = low  # a padded first position
    assert not is_causal(padded, 3, 5)
    assert not is_causal(causal, 3, 6)
    seen = torch.ones(5, 5, dtype=torch.bool).tril()[None, None, 2:]  # Qwen-1's boolean mask
    assert is_causal(seen, 3, 5) and not is_causal(~seen, 3, 5)


@needs_kernel
@pytest.mark.parametrize("heads,dim,rows", [(16, 128, 1), (2, 128, 9), (4, 16, 33)])
def test_rotary_is_transformers_own(heads, dim, rows):
    """The same products and sums as apply_rotary_pos_emb, on a projection's strided view."""
    from transformers.models.qwen2.modeling_qwen2 import (
        Qwen2RotaryEmbedding,
        apply_rotary_pos_emb,
    )

    from qwen_tui.engine import rotary

    projected = torch.randn(1, rows, heads * dim)
    x = projected.view(1, rows, heads, dim).transpose(1, 2)  # as the attention forward has it
    cos, sin = Qwen2RotaryEmbedding(dim, max_position_embeddings=64)(x, seq_len=40 + rows)
    positions = torch.arange(40, 40 + rows)[None]  # after 40 cached positions
    ours = rotary.apply(x, x, cos, sin, positions)
    theirs = apply_rotary_pos_emb(x, x, cos, sin, positions)
    for a, b in zip(ours, theirs, strict=True):
        assert a.is_contiguous() and torch.equal(a, b)
