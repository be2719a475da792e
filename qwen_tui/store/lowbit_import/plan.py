"""What converting a ``save_low_bit`` folder does to each tensor, decided before a byte is
written: every tensor of the family's plan is looked up and checked, and is then either
bigdl-llm's bytes copied as they are (its layers, in the folder's format, which is one of the
store's) or a float tensor quantized (the embedding, and any layer bigdl-llm left in float) or
widened to float32 (norms and biases). Anything else is refused in one sentence naming it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ...errors import UsageError
from ...families import BY_NAME, ModelDims, Planned
from ...recipes import BLOCK_BYTES, RECIPES, Recipe
from ..source import family_of
from ..sources.base import SourceTensor, TensorSource
from ..stream import READABLE
from . import LOW_BIT_KEY

QK = 64  # values per block, every format
FLOAT_LAYER = "sym_int8"  # a layer bigdl-llm kept in float: the closest format we have
FLOAT_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "qwen.tiktoken")
_HINT = "Save it again with bigdl-llm's save_low_bit, or quantize the float model instead."


@dataclass(frozen=True)
class Step:
    tensor: Planned  # as the store keeps it (``store``: its format, or "f32")
    source: str  # its name in the folder
    rows: tuple[int, int] | None  # the rows of ``source`` it takes (Qwen-1's c_attn, unsplit)
    kept: bool  # bigdl-llm's bytes, copied as they are
    was: str  # the source's dtype ("U8": bigdl-llm's blocks)


@dataclass(frozen=True)
class Conversion:
    family: str
    low_bit: str  # bigdl-llm's format of the layers
    dims: ModelDims
    recipe: Recipe  # what the layout records
    steps: list[Step]

    @property
    def plan(self) -> list[Planned]:
        return [s.tensor for s in self.steps]

    def summary(self) -> str:
        """What converting does, in one phrase: "14 layers kept in sym_int4 as bigdl-llm
        wrote them; the float32 embedding quantized to sym_int5"."""
        kept = sum(s.kept for s in self.steps)
        parts = [f"bigdl-llm's {self.low_bit} bytes kept for its {kept} weight matrices"]
        for s in self.steps:
            if s.kept or s.tensor.store == "f32":
                continue
            what = "embedding" if s.tensor.role == "token_embd" else s.tensor.name
            parts.append(f"its {FLOAT_NAMES[s.was]} {what} quantized to {s.tensor.store}")
        return "; ".join(parts)


def plan_conversion(source: TensorSource, config: dict, where: Path) -> Conversion:
    """Each tensor of the folder's model checked and given its step; ``UsageError`` naming the
    first that is missing, of another size or type than the model needs, or not readable."""
    low_bit = str(config.get(LOW_BIT_KEY))
    if low_bit not in BLOCK_BYTES:
        raise UsageError(
            f"{where} holds its layers in bigdl-llm's {low_bit!r} format, which qwen-tui does "
            f"not run (it runs {', '.join(BLOCK_BYTES)}).",
            "Quantize the original float model with `qwen-tui quantize SOURCE --name NAME`.",
        )
    family = BY_NAME[family_of(config, where)]
    try:
        dims = family.dims(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{where}/config.json lacks {exc}.", _HINT) from None
    recipe = RECIPES.get(low_bit) or Recipe(low_bit, low_bit)
    steps = [_step(t, source, low_bit, str(where)) for t in family.plan(dims, recipe)]
    return Conversion(family.name, low_bit, dims, recipe, steps)


def _step(t: Planned, source: TensorSource, low_bit: str, where: str) -> Step:
    name, rows = t.name, None
    if source.info(name) is None and t.source != t.name:  # the name it has before bigdl's split
        name, rows = t.source, t.rows
    found = source.info(name)
    if found is None:
        raise UsageError(f"{t.name} is missing from {where}.", _HINT)
    if found.dtype == "U8" and t.store != "f32" and t.role != "token_embd":
        step = Step(dataclasses.replace(t, store=low_bit), name, rows, True, "U8")
        _check_bytes(step, found, where)
        return step
    if found.dtype not in READABLE:
        quantized = t.role == "token_embd" and found.dtype == "U8"
        raise UsageError(
            f"{name} in {where} is stored as {found.dtype}"
            + (", a quantized embedding (bigdl-llm runs those on GPUs only)" if quantized else "")
            + ", which qwen-tui does not convert.",
            _HINT,
        )
    _check_shape(t, found, rows, where)
    store = t.store if t.store == "f32" or t.role == "token_embd" else FLOAT_LAYER
    return Step(dataclasses.replace(t, store=store), name, rows, False, found.dtype)


def _check_shape(t: Planned, found: SourceTensor, rows: tuple[int, int] | None, where: str) -> None:
    if rows:  # rows of a larger tensor (Qwen-1's c_attn, not split)
        fits = found.shape[1:] == t.shape[1:] and rows[1] <= found.shape[0]
    else:
        fits = found.shape == t.shape
    if not fits:
        raise UsageError(
            f"{found.name} in {where} is {list(found.shape)}; its config.json makes it "
            f"{list(t.shape)}.",
            _HINT,
        )


def _check_bytes(step: Step, found: SourceTensor, where: str) -> None:
    """bigdl-llm's bytes of a layer: as many as its shape takes in the folder's format."""
    t = step.tensor
    if t.shape[1] % QK:
        raise UsageError(f"{t.name} in {where} is {t.shape[1]} wide, not a multiple of {QK}.",
                         _HINT)  # fmt: skip
    row_bytes = t.shape[1] // QK * BLOCK_BYTES[t.store]
    if step.rows:  # rows of a larger tensor: it holds whole rows, at least as many as taken
        fits = found.nbytes % row_bytes == 0 and step.rows[1] * row_bytes <= found.nbytes
        want = f"a multiple of {row_bytes}"
    else:
        fits = found.nbytes == t.shape[0] * row_bytes
        want = str(t.shape[0] * row_bytes)
    if not fits:
        raise UsageError(
            f"{found.name} in {where} holds {found.nbytes} bytes, not the {want} a "
            f"{list(t.shape)} weight takes in {t.store} (it is cut short, or in another format).",
            _HINT,
        )


def check_tokenizer(folder: Path) -> None:
    """save_low_bit writes no tokenizer; the original recipe saved it beside the model."""
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UsageError(
            f"{folder} has no tokenizer (bigdl-llm's save_low_bit does not write one).",
            f"Save the model's tokenizer there too: tokenizer.save_pretrained('{folder}').",
        )
