"""The known models. One place for repo ids, families, sizes and licence notes.

Sizes are approximate and used for the disk and memory checks before a
download or quantization, and for the wizard's choices.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1024**3
LOW_BIT_FORMATS = ("sym_int4", "asym_int4", "sym_int5", "sym_int8")
DEFAULT_LOW_BIT = "sym_int4"
# Bits per weight actually stored (scales included), relative to fp16's 16.
BITS_PER_WEIGHT = {"sym_int4": 4.5, "asym_int4": 5.0, "sym_int5": 5.5, "sym_int8": 8.5}


@dataclass(frozen=True)
class CatalogEntry:
    key: str  # short name used on the command line and as the folder prefix
    repo_id: str
    family: str  # "qwen" (Qwen-1, remote code) or "qwen2" (native in transformers)
    params_b: float  # billions of parameters
    download_gb: float
    remote_code: bool
    licence: str
    revision: str | None = None  # pinned commit; None follows the repo's main branch

    def int4_gb(self, low_bit: str = DEFAULT_LOW_BIT) -> float:
        # Embeddings stay in full precision in bigdl-llm; count them at 16 bits.
        return round(self.params_b * BITS_PER_WEIGHT[low_bit] / 8 * 1.15, 1)

    def ram_to_quantize_gb(self) -> float:
        """Peak RAM while quantizing: fp32 weights are loaded, then converted."""
        return round(self.params_b * 4 * 1.3 + 1.0, 1)

    def ram_to_chat_gb(self, low_bit: str = DEFAULT_LOW_BIT) -> float:
        return round(self.int4_gb(low_bit) + self.params_b * 0.6 + 0.7, 1)


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        key="qwen-1_8b-chat",
        repo_id="Qwen/Qwen-1_8B-Chat",
        family="qwen",
        params_b=1.84,
        download_gb=3.7,
        remote_code=True,
        licence="Tongyi Qianwen Research License",
    ),
    CatalogEntry(
        key="qwen1.5-1.8b-chat",
        repo_id="Qwen/Qwen1.5-1.8B-Chat",
        family="qwen2",
        params_b=1.84,
        download_gb=3.7,
        remote_code=False,
        licence="Tongyi Qianwen Research License",
    ),
    CatalogEntry(
        key="qwen2-1.5b-instruct",
        repo_id="Qwen/Qwen2-1.5B-Instruct",
        family="qwen2",
        params_b=1.54,
        download_gb=3.1,
        remote_code=False,
        licence="Apache-2.0",
    ),
    CatalogEntry(
        key="qwen2.5-0.5b-instruct",
        repo_id="Qwen/Qwen2.5-0.5B-Instruct",
        family="qwen2",
        params_b=0.49,
        download_gb=1.0,
        remote_code=False,
        licence="Apache-2.0",
    ),
    CatalogEntry(
        key="qwen2.5-1.5b-instruct",
        repo_id="Qwen/Qwen2.5-1.5B-Instruct",
        family="qwen2",
        params_b=1.54,
        download_gb=3.1,
        remote_code=False,
        licence="Apache-2.0",
    ),
)

DEFAULT_MODEL = CATALOG[0]


def find_entry(name: str) -> CatalogEntry | None:
    """Match a catalog entry by key or repo id, case-insensitively."""
    wanted = name.strip().lower()
    for entry in CATALOG:
        if wanted in (entry.key, entry.repo_id.lower()):
            return entry
    return None


def default_name_for(repo_id: str) -> str:
    entry = find_entry(repo_id)
    if entry:
        return entry.key
    return repo_id.rsplit("/", 1)[-1].lower()
