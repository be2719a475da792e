"""The packed weights kept after a model's first load: the next load maps them instead of
packing (the same bytes, the same logits), and anything that makes them stale or unreadable
makes the load pack again; nothing about the cache can stop a model from loading."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from qwen_tui import paths
from qwen_tui.engine import kernels
from qwen_tui.engine.native import arena, packed_cache
from qwen_tui.engine.native.arena import load_weights
from qwen_tui.engine.native.layout import WEIGHTS, read_layout
from qwen_tui.engine.native.model import NativeModel
from qwen_tui.manifest import read_manifest
from qwen_tui.recipes import RECIPES
from qwen_tui.sizes import packed_file_bytes
from qwen_tui.store import local

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)


@pytest.fixture
def folder(tiny_quantized, tmp_path):
    """A copy of the tiny store model of this test's own (its cache file is its own too)."""
    copy = tmp_path / "models" / tiny_quantized.path.name
    shutil.copytree(tiny_quantized.path, copy)
    return copy


@pytest.fixture
def packs(monkeypatch):
    """How many tensors were packed (not mapped) by each load."""
    calls = [0]
    real = arena.pack_into

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(arena, "pack_into", counted)
    return calls


def logits(folder) -> np.ndarray:
    model = NativeModel(folder, threads=2)
    cache = model.new_cache()
    return model.logits(model.hidden([3, 17, 5, 42, 9], cache, last_only=False))


def test_the_second_load_maps_what_the_first_packed(folder, packs):
    layout = read_layout(folder)
    first = load_weights(folder, layout)
    assert packs[0] > 0 and not first.mapped
    assert paths.packed_file(folder).is_file()
    packs[0] = 0
    second = load_weights(folder, layout)
    assert packs[0] == 0 and second.mapped  # nothing packed: the file was mapped
    assert np.array_equal(second.arena, first.arena)
    assert not second.arena.flags.writeable
    assert np.array_equal(logits(folder), logits(folder))


def test_the_mapped_arena_gives_the_packed_arenas_logits(folder, monkeypatch):
    monkeypatch.setenv(packed_cache.ENV, "off")
    packed = logits(folder)
    assert not paths.packed_file(folder).exists()  # off: nothing written
    monkeypatch.delenv(packed_cache.ENV)
    logits(folder)  # writes the file
    assert np.array_equal(logits(folder), packed)


def test_a_changed_store_is_packed_again(folder, packs):
    layout = read_layout(folder)
    load_weights(folder, layout)
    weights = folder / WEIGHTS
    data = weights.read_bytes()
    weights.unlink()
    weights.write_bytes(data)  # the same bytes, but another file: the cache may be stale
    packs[0] = 0
    again = load_weights(folder, layout)
    assert packs[0] > 0 and not again.mapped
    packs[0] = 0
    assert load_weights(folder, layout).mapped and packs[0] == 0  # rewritten for it


@pytest.mark.parametrize("damage", ["truncated", "header", "version", "empty"])
def test_a_damaged_cache_file_is_packed_over(folder, packs, damage, monkeypatch):
    layout = read_layout(folder)
    whole = load_weights(folder, layout).arena.copy()
    cached = paths.packed_file(folder)
    data = cached.read_bytes()
    if damage == "truncated":
        cached.write_bytes(data[:-100])
    elif damage == "header":
        cached.write_bytes(data[:16] + b"{not json" + data[25:])
    elif damage == "version":
        monkeypatch.setattr(packed_cache, "PACKED_VERSION", packed_cache.PACKED_VERSION + 1)
    else:
        cached.write_bytes(b"")
    packs[0] = 0
    again = load_weights(folder, layout)
    assert packs[0] > 0 and not again.mapped
    assert np.array_equal(again.arena, whole)
    assert cached.stat().st_size == packed_cache.HEADER + whole.nbytes  # written whole again


def test_a_cache_that_cannot_be_written_leaves_the_load_alone(folder, packs):
    cache = paths.packed_file(folder).parent
    cache.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(cache, ignore_errors=True)
    cache.write_text("a file where the folder should be")  # mkdir fails, as on a full disk
    layout = read_layout(folder)
    first = load_weights(folder, layout)
    assert not first.mapped and packs[0] > 0
    assert not load_weights(folder, layout).mapped  # packed again: nothing was kept
    assert not list(paths.cache_dir().rglob("*.partial"))  # no partial file left


def test_removing_a_model_removes_its_packed_file(installed_model):
    folder = installed_model
    NativeModel(folder, threads=1)
    cached = paths.packed_file(folder)
    assert cached.is_file()
    local.remove(folder.name)
    assert not cached.exists() and not folder.exists()


def test_a_model_elsewhere_has_a_file_of_its_own(folder, tmp_path):
    """Two copies of a model never share a cache file (each is keyed by its own path)."""
    other = tmp_path / "elsewhere" / folder.name
    shutil.copytree(folder, other)
    assert paths.packed_file(other) != paths.packed_file(folder)
    assert paths.packed_file(other).name.startswith(folder.name)


def test_the_file_is_as_large_as_the_estimates_say(folder):
    """The wizard's and quantize's disk needs count the packed file: to the byte."""
    layout = read_layout(folder)
    load_weights(folder, layout)
    recipe = RECIPES[read_manifest(folder).low_bit]
    expected = packed_file_bytes(layout.family, layout.dims, recipe)
    assert paths.packed_file(folder).stat().st_size == expected


def test_a_partial_file_of_a_stopped_writer_is_swept(folder):
    cached = paths.packed_file(folder)
    cached.parent.mkdir(parents=True, exist_ok=True)
    gone = cached.with_name(f".{cached.name}.999999999.partial")  # no such process
    gone.write_bytes(b"half")
    alive = cached.with_name(f".other.qtw.{os.getpid()}.partial")  # still being written
    alive.write_bytes(b"half")
    load_weights(folder, read_layout(folder))
    assert not gone.exists() and alive.exists() and cached.is_file()


def test_the_file_of_a_model_deleted_by_hand_is_swept(folder, tmp_path):
    """Not only `rm` removes models: a folder deleted by hand (or a temporary copy) leaves its
    packed file, which the next write of any model's file removes."""
    gone = tmp_path / "gone" / folder.name
    shutil.copytree(folder, gone)
    load_weights(gone, read_layout(gone))
    orphan = paths.packed_file(gone)
    assert orphan.is_file()
    shutil.rmtree(gone)
    load_weights(folder, read_layout(folder))  # writes this model's file, sweeping
    assert not orphan.exists() and paths.packed_file(folder).is_file()
