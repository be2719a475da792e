"""A corpus of hostile GGUF files, each with the words its refusal must hold.

Written byte by byte here (a raw writer that can lie about counts, lengths, dimensions, types
and offsets, independent of the reader under test), or as a real tiny model by gguf_fixture
with a lie in its metadata, or as a real file cut short.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

from gguf_fixture import write_gguf

U32, U64, STRING, ARRAY = 4, 10, 8, 9
F32, Q8_0 = 0, 8


def u32(n: int) -> bytes:
    return struct.pack("<I", n)


def u64(n: int) -> bytes:
    return struct.pack("<Q", n % (1 << 64))  # a negative number as the file would hold it


def string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return u64(len(data)) + data


def entry(key: str, kind: int, payload: bytes) -> bytes:
    return string(key) + u32(kind) + payload


def tensor(name: str, dims: tuple[int, ...], kind: int = F32, offset: int = 0) -> bytes:
    return string(name) + u32(len(dims)) + b"".join(u64(d) for d in dims) + u32(kind) + u64(offset)


ARCH = entry("general.architecture", STRING, string("qwen2"))
WEIGHT = tensor("token_embd.weight", (8, 4))  # 128 bytes of F32


def raw_gguf(
    path: Path,
    entries: list[bytes] | None = None,
    tensors: list[bytes] | None = None,
    data: bytes = bytes(128),
    *,
    version: bytes = u32(3),
    counts: tuple[int, int] | None = None,
) -> Path:
    """A GGUF file of the given parts (by default a valid one: one 8x4 F32 tensor); ``counts``
    (tensors, metadata entries) are written instead of the real ones."""
    entries = [ARCH] if entries is None else entries
    tensors = [WEIGHT] if tensors is None else tensors
    n_tensors, n_entries = counts or (len(tensors), len(entries))
    head = b"GGUF" + version + u64(n_tensors) + u64(n_entries) + b"".join(entries + tensors)
    path.write_bytes(head + bytes(-len(head) % 32) + data)
    return path


Maker = Callable[[Path], Path]


def corpus(source: Path, good: Path) -> dict[str, tuple[Maker, str]]:
    """{id: (write the file into a folder, words its one-sentence refusal holds)}; ``source``
    is a tiny model folder and ``good`` a valid GGUF file of it."""

    def cut(size: int) -> Maker:
        return lambda d: _written(d / "cut.gguf", good.read_bytes()[:size])

    def model(**lie: int) -> Maker:
        def make(d: Path) -> Path:
            write_gguf(source, d / "model.gguf", {}, lie=lie)
            return d / "model.gguf"

        return make

    def raw(**kw: object) -> Maker:
        return lambda d: raw_gguf(d / "raw.gguf", **kw)

    big = 1 << 40
    return {
        "header cut short": (cut(20), "it is 20 bytes long, shorter than a GGUF header"),
        "metadata cut short": (cut(3000), "the file is cut short or damaged"),
        "tensor data cut short": (
            lambda d: _written(d / "cut.gguf", good.read_bytes()[:-1000]),
            "ends past the end of the file",
        ),
        "version 1": (raw(version=u32(1)), "it is GGUF version 1; qwen-tui reads versions 2 and 3"),
        "big-endian": (raw(version=struct.pack(">I", 3)), "it is a big-endian GGUF file"),
        "2^40 tensors": (raw(counts=(big, 1)), "it says it holds 1,099,511,627,776 tensors"),
        "2^40 metadata entries": (
            raw(counts=(1, big)),
            "it says it holds 1,099,511,627,776 metadata entries",
        ),
        "2^40 tokens": (
            raw(entries=[ARCH, entry("tokenizer.ggml.tokens", ARRAY, u32(STRING) + u64(big))]),
            "it says it holds 1,099,511,627,776 entries in metadata 'tokenizer.ggml.tokens'",
        ),
        "2^28 numbers": (
            raw(entries=[ARCH, entry("x", ARRAY, u32(U32) + u64(1 << 28))]),
            "it says it holds 268,435,456 entries in metadata 'x'",
        ),
        "2^40-byte key": (
            raw(entries=[u64(big) + b"k"]),
            "it ends in the middle of a metadata key",
        ),
        "text not UTF-8": (
            raw(entries=[ARCH, entry("x", STRING, string(b"\xff\xfe"))]),
            "the value of metadata 'x' is not UTF-8 text",
        ),
        "unknown value type": (raw(entries=[ARCH, entry("x", 42, u32(0))]), "has value type 42"),
        "array of arrays": (
            raw(entries=[ARCH, entry("x", ARRAY, u32(ARRAY) + u64(1))]),
            "metadata 'x' is an array of arrays",
        ),
        "alignment 3": (
            raw(entries=[ARCH, entry("general.alignment", U32, u32(3))]),
            "its general.alignment is 3, not a power of two",
        ),
        "offset past the end": (
            raw(tensors=[tensor("token_embd.weight", (8, 4), offset=1 << 20)]),
            "tensor 'token_embd.weight' (128 bytes at 1,048,704) ends past the end of the file "
            "(256 bytes)",
        ),
        "misaligned offset": (
            raw(tensors=[tensor("token_embd.weight", (8, 4), offset=4)]),
            "tensor 'token_embd.weight' starts at 4, not a multiple of 32",
        ),
        "negative dimension": (
            raw(tensors=[tensor("token_embd.weight", (8, -1))]),
            "tensor 'token_embd.weight' has a dimension of -1",
        ),
        "zero dimension": (raw(tensors=[tensor("w", (8, 0))]), "tensor 'w' has a dimension of 0"),
        "huge dimensions": (
            raw(tensors=[tensor("token_embd.weight", (1 << 31, 1 << 31))]),
            "tensor 'token_embd.weight' (18,446,744,073,709,551,616 bytes at 128) ends past",
        ),
        "7 dimensions": (raw(tensors=[tensor("w", (1,) * 7)]), "tensor 'w' has 7 dimensions"),
        "unknown tensor type": (
            raw(tensors=[tensor("w", (8, 4), kind=99)]),
            "tensor 'w' has type 99, which is not a ggml type",
        ),
        "partial quant block": (
            raw(tensors=[tensor("w", (100, 1), kind=Q8_0)]),
            "tensor 'w' has rows of 100 values, not a whole number of Q8_0 blocks",
        ),
        "two tensors, one name": (raw(tensors=[WEIGHT, WEIGHT]), "two tensors named"),
        "context length 2^31": (
            model(context_length=1 << 31),
            "its qwen2.context_length is 2,147,483,648; qwen-tui takes 1 to 16,777,215",
        ),
        "vocabulary shorter than the embedding": (
            model(tokens=300),
            "its vocabulary (tokenizer.ggml.tokens) has 300 tokens but its token_embd.weight has",
        ),
        "embedding width not the metadata's": (
            model(embedding_length=32),
            "its token_embd.weight has rows of 64 values but its qwen2.embedding_length is 32",
        ),
        "layers the file does not hold": (
            model(block_count=1000),
            "its qwen2.block_count is 1,000 but it holds tensors for 2 layers",
        ),
    }


def _written(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
