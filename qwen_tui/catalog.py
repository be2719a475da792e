"""The known models: repo id, pinned commit, family, licence, dimensions, download size.

Every entry is pinned to a hub commit: ``pull`` downloads exactly that commit and records it
(``store/pin.py`` says when the repo has moved on, or lost it). The dimensions are the model's
config.json values, read by its family (``families``) as quantizing reads them; they give the
stored size of each recipe and the RAM needed (``sizes.py``); the download size is the weight
files' bytes. Where each value was read is in ``catalog_sources.md`` beside this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .families import BY_NAME, FamilySpec, ModelDims
from .recipes import DEFAULT_RECIPE, RECIPES, Recipe
from .sizes import chat_ram, disk_bytes, quantize_ram, stored_bytes, unique_params

GB = 1024**3
LOW_BIT_FORMATS = tuple(RECIPES)  # the default first
DEFAULT_LOW_BIT = DEFAULT_RECIPE


@dataclass(frozen=True)
class CatalogEntry:
    key: str  # short name used on the command line and as the folder prefix
    repo_id: str
    family: str  # "qwen" (Qwen-1), "qwen2", "qwen3" or "qwen35": each runs on our own model code
    revision: str  # the pinned hub commit (40 hex digits)
    licence: str
    good_for: str  # one line
    dims: ModelDims  # from the config.json values below, as the family reads them
    download_bytes: int  # the weight files at the pinned commit
    download_measured: bool = True  # False: computed from the config's tensor shapes and dtype
    gguf_file: str | None = None  # a GGUF repo: the file this entry pulls

    def recipe(self, low_bit: str) -> Recipe:
        return RECIPES.get(low_bit, RECIPES[DEFAULT_LOW_BIT])

    @property
    def licence_short(self) -> str:
        """The licence in at most 14 characters, for tables."""
        return "Tongyi Qianwen" if self.licence == TONGYI else self.licence[:14]

    @property
    def spec(self) -> FamilySpec:
        return BY_NAME[self.family]

    @property
    def params(self) -> int:
        return unique_params(self.spec, self.dims)

    @property
    def params_b(self) -> float:
        return round(self.params / 1e9, 2)

    @property
    def download_gb(self) -> float:
        return round(self.download_bytes / GB, 2)

    def stored_bytes(self, low_bit: str = DEFAULT_LOW_BIT) -> int:
        return stored_bytes(self.spec, self.dims, self.recipe(low_bit))

    def disk_bytes(self, low_bit: str = DEFAULT_LOW_BIT) -> int:
        """The stored weights and the packed copy the first load keeps beside them."""
        return disk_bytes(self.spec, self.dims, self.recipe(low_bit))

    def stored_gb(self, low_bit: str = DEFAULT_LOW_BIT) -> float:
        """The quantized model's size in GB (1024^3 bytes, as the store reports sizes)."""
        return round(self.stored_bytes(low_bit) / GB, 2)

    def ram_to_chat(self, low_bit: str = DEFAULT_LOW_BIT) -> int:
        return chat_ram(self.spec, self.dims, self.recipe(low_bit))

    def ram_to_quantize(self, low_bit: str = DEFAULT_LOW_BIT) -> int:
        """Quantizing (from safetensors or the GGUF file, never unpacked) and the quality check."""
        return quantize_ram(self.spec, self.dims, self.recipe(low_bit))

    def ram_to_quantize_gb(self, low_bit: str = DEFAULT_LOW_BIT) -> float:
        return round(self.ram_to_quantize(low_bit) / GB, 1)


def dims(family: str, **config: Any) -> ModelDims:
    """A model's dimensions from its config.json values, read as its family reads them."""
    return BY_NAME[family].dims({"vocab_size": 151936, **config})


QWEN1_8B = dims("qwen", hidden_size=2048, num_hidden_layers=24, intermediate_size=11008,
                num_attention_heads=16, kv_channels=128)  # fmt: skip
QWEN1_5_1_8B = dims("qwen2", hidden_size=2048, num_hidden_layers=24, intermediate_size=5504,
                    num_attention_heads=16, num_key_value_heads=16)  # fmt: skip
QWEN2_1_5B = dims("qwen2", hidden_size=1536, num_hidden_layers=28, intermediate_size=8960,
                  num_attention_heads=12, num_key_value_heads=2,
                  tie_word_embeddings=True)  # fmt: skip
QWEN2_5_0_5B = dims("qwen2", hidden_size=896, num_hidden_layers=24, intermediate_size=4864,
                    num_attention_heads=14, num_key_value_heads=2,
                    tie_word_embeddings=True)  # fmt: skip


def _qwen3(hidden: int, layers: int, inter: int, heads: int) -> ModelDims:
    return dims("qwen3", hidden_size=hidden, num_hidden_layers=layers, intermediate_size=inter,
                num_attention_heads=heads, num_key_value_heads=8, head_dim=128,
                tie_word_embeddings=True)  # fmt: skip


QWEN3_0_6B = _qwen3(1024, 28, 3072, 16)
QWEN3_1_7B = _qwen3(2048, 28, 6144, 16)
QWEN3_4B = _qwen3(2560, 36, 9728, 32)


def _qwen35(hidden: int, layers: int, inter: int, heads: int, kv_heads: int, v_heads: int,
            tied: bool) -> ModelDims:  # fmt: skip
    """A released Qwen3.5's dimensions from its config.json as published: a vision-language
    checkpoint whose language model's settings sit under ``text_config`` and whose head is
    tied (or not) by the top-level ``tie_word_embeddings``. Every size has 256-wide attention
    heads, 16 DeltaNet key heads of 128, value heads of 128, a conv of 4, every 4th layer full
    attention, and rotary on a quarter of each head with theta 10,000,000."""
    text = {
        "model_type": "qwen3_5_text", "hidden_size": hidden, "num_hidden_layers": layers,
        "intermediate_size": inter, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "head_dim": 256, "linear_num_key_heads": 16, "linear_num_value_heads": v_heads,
        "linear_key_head_dim": 128, "linear_value_head_dim": 128, "linear_conv_kernel_dim": 4,
        "full_attention_interval": 4, "vocab_size": 248320, "max_position_embeddings": 262144,
        "rms_norm_eps": 1e-6, "tie_word_embeddings": tied,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000000,
                            "partial_rotary_factor": 0.25, "mrope_section": [11, 11, 10],
                            "mrope_interleaved": True},
    }  # fmt: skip
    return BY_NAME["qwen35"].dims(
        {"model_type": "qwen3_5", "tie_word_embeddings": tied, "text_config": text}
    )


QWEN35_0_8B = _qwen35(1024, 24, 3584, 8, 2, 16, tied=True)
QWEN35_2B = _qwen35(2048, 24, 6144, 8, 2, 16, tied=True)
QWEN35_4B = _qwen35(2560, 32, 9216, 16, 4, 32, tied=True)
QWEN35_9B = _qwen35(4096, 32, 12288, 16, 4, 32, tied=False)
TONGYI = "Tongyi Qianwen Research License"
APACHE = "Apache-2.0"
QWEN3_4B_SHARDS = 3_957_900_840 + 3_987_450_520 + 99_630_640

CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        "qwen-1_8b-chat", "Qwen/Qwen-1_8B-Chat", "qwen",
        "1d0f68de57b88cfde81f3c3e537f24464d889081", TONGYI,
        "the original recipe: Qwen-1 chat, English and Chinese",
        QWEN1_8B, 3_673_657_344, download_measured=False,
    ),
    CatalogEntry(
        "qwen1.5-1.8b-chat", "Qwen/Qwen1.5-1.8B-Chat", "qwen2",
        "e482ee3f73c375a627a16fdf66fd0c8279743ca6", TONGYI,
        "Qwen-1's size and languages on the newer Qwen2 architecture",
        QWEN1_5_1_8B, 3_673_657_344, download_measured=False,
    ),
    CatalogEntry(
        "qwen2-1.5b-instruct", "Qwen/Qwen2-1.5B-Instruct", "qwen2",
        "ba1cf1846d7df0a0591d6c00649f57e798519da8", APACHE,
        "small and quick: everyday questions and short texts",
        QWEN2_1_5B, 3_087_428_608, download_measured=False,
    ),
    CatalogEntry(
        "qwen2.5-0.5b-instruct", "Qwen/Qwen2.5-0.5B-Instruct", "qwen2",
        "7ae557604adf67be50417f59c2c2f167def9a775", APACHE,
        "the smallest and fastest: machines with little memory",
        QWEN2_5_0_5B, 988_097_824,
    ),
    CatalogEntry(
        "qwen2.5-1.5b-instruct", "Qwen/Qwen2.5-1.5B-Instruct", "qwen2",
        "989aa7980e4cf806f80c7fef2b1adb7bc71aa306", APACHE,
        "small and quick, better at code and maths than Qwen2",
        QWEN2_1_5B, 3_087_467_144,
    ),
    CatalogEntry(
        "qwen3-0.6b", "Qwen/Qwen3-0.6B", "qwen3",
        "c1899de289a04d12100db370d81485cdf75e47ca", APACHE,
        "thinking and non-thinking modes in well under 1 GB",
        QWEN3_0_6B, 1_503_300_328,
    ),
    CatalogEntry(
        "qwen3-1.7b", "Qwen/Qwen3-1.7B", "qwen3",
        "70d244cc86ccca08cf5af4e1e306ecf908b1ad5e", APACHE,
        "the all-rounder for a laptop CPU: thinking on or off",
        QWEN3_1_7B, 3_441_185_608 + 622_329_984,
    ),
    CatalogEntry(
        "qwen3-4b", "Qwen/Qwen3-4B", "qwen3",
        "1cfa9a7208912126459214e8b04321603b3df60c", APACHE,
        "stronger reasoning and code; slower, 4 GB of RAM",
        QWEN3_4B, QWEN3_4B_SHARDS,
    ),
    CatalogEntry(
        "qwen3-4b-instruct-2507", "Qwen/Qwen3-4B-Instruct-2507", "qwen3",
        "cdbee75f17c01a7cc42f958dc650907174af0554", APACHE,
        "the 2507 update, no thinking: direct answers, long texts",
        QWEN3_4B, QWEN3_4B_SHARDS,
    ),
    CatalogEntry(
        "qwen3-4b-thinking-2507", "Qwen/Qwen3-4B-Thinking-2507", "qwen3",
        "768f209d9ea81521153ed38c47d515654e938aea", APACHE,
        "the 2507 update, always thinking: maths and logic",
        QWEN3_4B, 8_044_936_192, download_measured=False,
    ),
    # Qwen3.5: the downloads hold the vision tower and the MTP layer too (skipped when quantizing)
    CatalogEntry(
        "qwen3.5-0.8b", "Qwen/Qwen3.5-0.8B", "qwen35",
        "2fc06364715b967f1860aea9cf38778875588b17", APACHE,
        "the newest generation in under 1 GB: fast, thinking",
        QWEN35_0_8B, 1_746_942_600,
    ),
    CatalogEntry(
        "qwen3.5-2b", "Qwen/Qwen3.5-2B", "qwen35",
        "15852e8c16360a2fea060d615a32b45270f8a8fc", APACHE,
        "Qwen3.5's small all-rounder: thinking on or off",
        QWEN35_2B, 4_548_221_488,
    ),
    CatalogEntry(
        "qwen3.5-4b", "Qwen/Qwen3.5-4B", "qwen35",
        "851bf6e806efd8d0a36b00ddf55e13ccb7b8cd0a", APACHE,
        "Qwen3.5 for stronger reasoning and code; 4 GB of RAM",
        QWEN35_4B, 9_319_737_856, download_measured=False,
    ),
    CatalogEntry(
        "qwen3.5-9b", "Qwen/Qwen3.5-9B", "qwen35",
        "c202236235762e1c871ad0ccb60c8ee5ba337b9a", APACHE,
        "the largest small Qwen3.5: best answers, slowest",
        QWEN35_9B, 19_306_216_416, download_measured=False,
    ),
    CatalogEntry(
        "qwen3-0.6b-q8_0", "Qwen/Qwen3-0.6B-GGUF", "qwen3",
        "23749fefcc72300e3a2ad315e1317431b06b590a", APACHE,
        "Qwen3-0.6B from Qwen's own 8-bit GGUF file",
        QWEN3_0_6B, 639_446_688, gguf_file="Qwen3-0.6B-Q8_0.gguf",
    ),
    CatalogEntry(
        "qwen3-1.7b-q8_0", "Qwen/Qwen3-1.7B-GGUF", "qwen3",
        "90862c4b9d2787eaed51d12237eafdfe7c5f6077", APACHE,
        "Qwen3-1.7B from Qwen's own 8-bit GGUF: half the download",
        QWEN3_1_7B, 1_834_426_016, gguf_file="Qwen3-1.7B-Q8_0.gguf",
    ),
    CatalogEntry(
        "qwen3.5-0.8b-q8_0", "ggml-org/Qwen3.5-0.8B-GGUF", "qwen35",
        "8fea620810c4afa23dd6443f999a48574c1611a3", APACHE,
        "Qwen3.5-0.8B from llama.cpp's own 8-bit GGUF",
        QWEN35_0_8B, 833_592_096, gguf_file="Qwen3.5-0.8B-Q8_0.gguf",
    ),
)  # fmt: skip

DEFAULT_MODEL = CATALOG[0]  # `pull` with no model: the original recipe
NEWEST = "qwen35"  # the family whose largest size that fits the wizard offers first


def find_entry(name: str) -> CatalogEntry | None:
    """Match a catalog entry by key or repo id, case-insensitively (a key before a repo id)."""
    wanted = name.strip().lower()
    for entry in CATALOG:
        if wanted == entry.key:
            return entry
    for entry in CATALOG:
        if wanted == entry.repo_id.lower():
            return entry
    return None


def default_name_for(repo_id: str) -> str:
    entry = find_entry(repo_id)
    if entry:
        return entry.key
    return repo_id.rsplit("/", 1)[-1].lower()


def wizard_entries(available_ram: int, low_bit: str = DEFAULT_LOW_BIT) -> list[CatalogEntry]:
    """The models the wizard lists (the Hugging Face folders, not the GGUF files), the one to
    offer first at the top: the largest Qwen3.5 whose chat and set-up (quantize) RAM
    ``available_ram`` both hold, else the biggest model that fits so, else the smallest. The
    others follow in catalog order."""
    entries = [e for e in CATALOG if e.gguf_file is None]

    def needs(e: CatalogEntry) -> int:
        return max(e.ram_to_chat(low_bit), e.ram_to_quantize(low_bit))

    fits = [e for e in entries if needs(e) <= available_ram]
    newest = [e for e in fits if e.family == NEWEST]
    if fits:
        first = max(newest or fits, key=lambda e: e.params)  # max keeps the first of a tie
    else:
        first = min(entries, key=needs)
    return [first] + [e for e in entries if e is not first]
