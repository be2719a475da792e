"""The native engine's parts, each against the torch engine's own: rotary tables, the KV cache,
the repack into the arena (one tensor mapped at a time), prompts in chunks, and the checks that
stand before a pointer reaches C or a damaged store reaches the decoder."""

from __future__ import annotations

import mmap
import shutil

import numpy as np
import pytest
import torch

from qwen_tui.engine import kernels
from qwen_tui.engine.bigdl.decoder import DecoderCache
from qwen_tui.engine.bigdl.decoder.model import rotary_tables as torch_tables
from qwen_tui.engine.kernels import KernelError
from qwen_tui.engine.kernels.formats import FORMATS
from qwen_tui.engine.kernels.weights import pack_into, packed_bytes, quantize_weight
from qwen_tui.engine.native import arena, model, packed_cache
from qwen_tui.engine.native.arena import StoreDamaged, load_weights
from qwen_tui.engine.native.cache import NativeCache
from qwen_tui.engine.native.layout import NativeUnsupported, read_layout
from qwen_tui.engine.native.rotary import RotaryTables, inverse_frequencies, rotary_tables
from qwen_tui.engine.runtime.pages import HUGE_PAGE, huge_array
from qwen_tui.engine.types import ChatMessage

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many float32 steps apart (same-sign values; rotary tables cross zero between)."""
    return np.abs(a.view(np.int32).astype(np.int64) - b.view(np.int32).astype(np.int64))


# head widths and bases of the tiny models and the catalog's (Qwen2.5, Qwen3, Qwen-1)
@pytest.mark.parametrize(
    ("head_dim", "base"), [(16, 1e6), (32, 1e6), (64, 1e6), (128, 1e4), (128, 1e6)]
)
def test_rotary_tables_are_torchs_within_1_ulp(head_dim, base):
    positions = 8192
    cos_t, sin_t = (t.numpy() for t in torch_tables(head_dim, base, positions))
    inverse = (1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))).numpy()
    ours = inverse_frequencies(head_dim, base)
    differ = np.nonzero(ours != inverse)[0].tolist()
    # torch's pow (Sleef) is not correctly rounded: one power of 64, 1 ulp off
    assert differ == ([37] if (head_dim, base) == (128, 1e6) else [])
    assert ulps(ours, inverse).max() <= 1
    cos, sin = rotary_tables(head_dim, base, positions)
    for mine, theirs in ((cos, cos_t), (sin, sin_t)):
        if differ:  # that frequency's angles differ by its ulp times the position
            assert np.abs(mine - theirs).max() < 2e-6
            columns = differ + [d + head_dim // 2 for d in differ]  # cos(cat(f, f))
            mine, theirs = np.delete(mine, columns, 1), np.delete(theirs, columns, 1)
        close = np.sign(mine) == np.sign(theirs)
        assert ulps(mine[close], theirs[close]).max() <= 1
        assert np.abs(mine[~close] - theirs[~close]).max(initial=0) < 1e-7  # around zero


def test_rotary_tables_grow_with_the_positions_and_keep_their_values():
    tables = RotaryTables(64, 1e6, limit=5000)
    first = tables.covering(10)[0]
    assert first.shape == (1024, 64)
    grown = tables.covering(3000)[0]
    assert grown.shape == (3000, 64) and np.array_equal(grown[:1024], first)
    assert tables.covering(4999)[0].shape == (5000, 64)  # never past the model's limit
    assert np.array_equal(tables.covering(5000)[1], rotary_tables(64, 1e6, 5000)[1])


def test_the_cache_grows_keeping_what_it_holds_and_crops_into_a_copy():
    ours, theirs = NativeCache(2, 2, 16), DecoderCache(layers=2, kv_heads=2, head_dim=16)
    for cache in (ours, theirs):
        cache.reserve(3)
    assert ours.capacity == theirs.capacity
    values = np.arange(96, dtype=np.float16).reshape(2, 3, 16)
    ours.keys[1][:, :3], theirs.keys[1][:, :3] = values, torch.from_numpy(values)
    ours.length = theirs.length = 3
    for cache in (ours, theirs):
        cache.reserve(cache.capacity + 1)  # beyond the room: a new buffer, the used part copied
    assert ours.capacity == theirs.capacity and np.array_equal(ours.keys[1][:, :3], values)
    for length in (2, 3):
        copy = ours.cropped(length)
        copy.keys[1][:] = 0
        assert copy.length == length and copy.capacity == length
        assert np.array_equal(ours.keys[1][:, :3], values)  # the original is untouched
    assert ours.nbytes == sum(k.numel() * 2 + v.numel() * 2 for k, v in theirs)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_the_numpy_repack_is_the_torch_one(fmt):
    rows, cols = 48, 128
    values = np.random.default_rng(1).normal(0, 0.02, (rows, cols)).astype(np.float32)
    raw = quantize_weight(fmt, values, rows, cols, packed=False, threads=1)
    theirs = kernels.pack(FORMATS[fmt], torch.from_numpy(raw), rows, cols).data.numpy()
    out, _ = huge_array(packed_bytes(fmt, rows, cols))
    assert np.array_equal(pack_into(fmt, raw, rows, cols, out), theirs)
    with pytest.raises(KernelError, match="start at a multiple of 64 bytes"):
        pack_into(fmt, raw, rows, cols, huge_array(len(theirs) + 64)[0][1 : len(theirs) + 1])
    with pytest.raises(KernelError, match="must hold"):
        pack_into(fmt, raw[:-1], rows, cols, out)
    # a few rows at a time, from a multiple of 16: the same bytes as all at once
    row_bytes = raw.size // rows
    pieces, _ = huge_array(out.size)
    for first in (0, 16, 32):
        pack_into(fmt, raw[first * row_bytes : (first + 16) * row_bytes], rows, cols, pieces, first)
    assert np.array_equal(pieces, theirs)
    with pytest.raises(KernelError, match="not a multiple of 16"):
        pack_into(fmt, raw[:row_bytes], rows, cols, out, first_row=8)


def test_a_huge_array_starts_at_its_boundary():
    small, huge = huge_array(1000)
    assert not huge and small.size == 1000 and small.ctypes.data % 64 == 0
    big, _ = huge_array(HUGE_PAGE * 2)
    assert big.size == HUGE_PAGE * 2 and big.ctypes.data % 64 == 0 and not big.any()


def test_loading_maps_a_piece_at_a_time(tiny_quantized, monkeypatch):
    """The store's pages never all count at once: one mapping is open at a time, none larger
    than a piece of a tensor (and its page offset), all closed at the end; the weights packed
    a piece at a time are the weights packed whole."""
    monkeypatch.setenv(packed_cache.ENV, "off")  # packed every time, not mapped from the file
    opened, sizes, most = [], [], [0]

    class Counted(mmap.mmap):
        def __init__(self, *args, **kwargs):
            opened.append(self)
            sizes.append(len(self))
            most[0] = max(most[0], sum(not m.closed for m in opened))

    layout = read_layout(tiny_quantized.path)
    whole = load_weights(tiny_quantized.path, layout)
    monkeypatch.setattr(arena.mmap, "mmap", Counted)
    piece = 64 * 34  # bytes: the tiny model's sym_int4 rows are 34 bytes, groups of 16 rows
    monkeypatch.setattr(arena, "PIECE", piece)
    weights = load_weights(tiny_quantized.path, layout)
    assert len(opened) > len(layout.tensors) and most[0] == 1
    assert all(m.closed for m in opened)
    assert max(sizes) <= max(piece, 16 * 42 * 2) + mmap.ALLOCATIONGRANULARITY
    assert np.array_equal(weights.arena, whole.arena)


def test_a_long_prompt_in_chunks_is_the_same_prompt(engine, monkeypatch):
    ids = engine._builder.encode([ChatMessage("user", "word " * 40)])
    whole = engine.score(ids, "prompt")
    monkeypatch.setattr(model, "CHUNK", 7)
    assert np.array_equal(engine.score(ids, "prompt"), whole)
    last, cache = engine._lm.step(ids, None)
    assert np.array_equal(last[0], whole[-1]) and cache.length == len(ids)


def test_every_pointer_the_decoder_gets_is_checked_first(engine):
    native = engine.model
    decoder, s = native.decoder, native.shape
    cache = native.new_cache()
    cache.reserve(4)
    h = np.zeros((2, s.hidden), np.float32)
    good = dict(
        h=h, past=0, positions=np.arange(2, dtype=np.int64), tables=native.rotary.covering(4),
        caches=(cache.keys, cache.values), last_only=True,
        scratch=np.empty(decoder.scratch_floats(2), np.float32), threads=1,
    )  # fmt: skip
    cos = good["tables"][0]
    wrong = {
        "h must be float32": {"h": h.astype(np.float64)},
        "must be C-contiguous": {"h": np.zeros((s.hidden, 2), np.float32).T},
        "outside the": {"positions": np.array([0, cos.shape[0]], np.int64)},
        "do not fit a cache": {"past": cache.capacity - 1},
        "keys must be float16": {"caches": ([k.astype(np.float32) for k in cache.keys],
                                            cache.values)},
        "scratch is too small": {"scratch": np.empty(10, np.float32)},
        "must have 2 layers": {"caches": (cache.keys[:1], cache.values)},
    }  # fmt: skip
    for complaint, change in wrong.items():
        with pytest.raises(KernelError, match=complaint):
            decoder.decode(**{**good, **change})
    decoder.decode(**good)  # and the right arrays run


def test_a_damaged_store_is_refused_naming_the_tensor(tiny_quantized, tmp_path):
    store = shutil.copytree(tiny_quantized.path, tmp_path / "store")
    weights = store / "model.safetensors"
    data = weights.read_bytes()
    name = "model.layers.1.mlp.up_proj.weight"
    renamed = data.replace(name.encode(), b"model.layers.1.mlp.up_proj.wEIGHt", 1)
    weights.write_bytes(renamed)
    layout = read_layout(store)
    with pytest.raises(StoreDamaged, match=f"model.safetensors has no {name}"):
        load_weights(store, layout)
    (store / "qwen-tui-lowbit.json").write_text(
        (store / "qwen-tui-lowbit.json").read_text().replace('"sym_int4"', '"sym_int8"')
    )
    weights.write_bytes(data)
    with pytest.raises(StoreDamaged, match="holds model.layers.0.self_attn.q_proj.weight as U8"):
        load_weights(store, read_layout(store))
    (store / "qwen-tui-lowbit.json").write_text('{"modules": {}, "embedding": {}}')
    with pytest.raises(NativeUnsupported, match="keeps the embedding in float"):
        read_layout(store)
