"""Our float kernels (attention over the KV cache, rotary) against PyTorch and transformers."""

import pytest
import torch

from qwen_tui.engine import kernels

needs_kernel = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the float kernels need AVX2, which this CPU lacks"
)


@needs_kernel
@pytest.mark.parametrize("heads,kv_heads", [(16, 16), (12, 2)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_one_token_attention_reads_the_strided_cache(heads, kv_heads, dtype):
    """Matches SDPA over repeated key/value heads, on bigdl-llm's cache with spare room."""
    import torch.nn.functional as F
    from bigdl.llm.transformers.models.llama import repeat_kv
    from bigdl.llm.transformers.models.utils import init_kv_cache

    from qwen_tui.engine.bigdl.patches.layer_kv import attend_one, cache_fits

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
    from qwen_tui.engine.bigdl.patches.layer_kv import attend_rows
    from qwen_tui.engine.bigdl.patches.qwen1_attention import _sdpa

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

    from qwen_tui.engine.bigdl.patches.layer_kv import attend_rows, cache_fits, is_causal

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
    from qwen_tui.engine.bigdl.patches.layer_kv import attend_one, attend_rows

    key, value = strided_cache(2, 23, dim, torch.float16)
    query = torch.randn(1, 8, 23, dim)
    prompt = attend_rows(query, key, value).view(23, 8, dim)
    for i in (0, 3, 4, 19, 22):  # first and last of a block, and the rows after the blocks
        one = attend_one(query[:, :, i : i + 1], key[:, :, : i + 1], value[:, :, : i + 1])
        assert torch.equal(one.view(8, dim), prompt[i])
    later = attend_rows(query[:, :, 10:], key, value).view(13, 8, dim)  # 10 positions kept
    assert torch.equal(later, prompt[10:])


def test_only_the_plain_causal_mask_goes_to_the_kernel():
    from qwen_tui.engine.bigdl.patches.layer_kv import is_causal

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

    from qwen_tui.engine.bigdl.patches import rotary

    projected = torch.randn(1, rows, heads * dim)
    x = projected.view(1, rows, heads, dim).transpose(1, 2)  # as the attention forward has it
    cos, sin = Qwen2RotaryEmbedding(dim, max_position_embeddings=64)(x, seq_len=40 + rows)
    positions = torch.arange(40, 40 + rows)[None]  # after 40 cached positions
    ours = rotary.apply(x, x, cos, sin, positions)
    theirs = apply_rotary_pos_emb(x, x, cos, sin, positions)
    for a, b in zip(ours, theirs, strict=True):
        assert a.is_contiguous() and torch.equal(a, b)
