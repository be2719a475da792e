"""The known models. One place for repo ids, families, dimensions and licence notes.

The dimensions give the disk and memory checks before a download or quantization and the
wizard's choices (``sizes.py`` turns them into bytes for a recipe).
"""

from __future__ import annotations

from dataclasses import dataclass

from .recipes import DEFAULT_RECIPE, RECIPES, Recipe
from .sizes import Dims, quantize_ram, stored_bytes

GB = 1024**3
LOW_BIT_FORMATS = tuple(RECIPES)  # the default first
DEFAULT_LOW_BIT = DEFAULT_RECIPE


@dataclass(frozen=True)
class CatalogEntry:
    key: str  # short name used on the command line and as the folder prefix
    repo_id: str
    family: str  # "qwen" (Qwen-1, remote code) or "qwen2" (native in transformers)
    params_b: float  # billions of parameters
    download_gb: float
    remote_code: bool
    licence: str
    dims: Dims
    revision: str | None = None  # pinned commit; None follows the repo's main branch

    def recipe(self, low_bit: str) -> Recipe:
        return RECIPES.get(low_bit, RECIPES[DEFAULT_LOW_BIT])

    def stored_gb(self, low_bit: str = DEFAULT_LOW_BIT) -> float:
        """The quantized model's size in GB (1024^3 bytes, as the store reports sizes)."""
        return round(stored_bytes(self.dims, self.recipe(low_bit)) / GB, 2)

    def ram_to_quantize_gb(self) -> float:
        return round(quantize_ram(self.dims) / GB, 1)


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        key="qwen-1_8b-chat",
        repo_id="Qwen/Qwen-1_8B-Chat",
        family="qwen",
        params_b=1.84,
        download_gb=3.7,
        remote_code=True,
        licence="Tongyi Qianwen Research License",
        dims=Dims(hidden=2048, layers=24, intermediate=5504, vocab=151936, kv=2048),
    ),
    CatalogEntry(
        key="qwen1.5-1.8b-chat",
        repo_id="Qwen/Qwen1.5-1.8B-Chat",
        family="qwen2",
        params_b=1.84,
        download_gb=3.7,
        remote_code=False,
        licence="Tongyi Qianwen Research License",
        dims=Dims(hidden=2048, layers=24, intermediate=5504, vocab=151936, kv=2048),
    ),
    CatalogEntry(
        key="qwen2-1.5b-instruct",
        repo_id="Qwen/Qwen2-1.5B-Instruct",
        family="qwen2",
        params_b=1.54,
        download_gb=3.1,
        remote_code=False,
        licence="Apache-2.0",
        dims=Dims(hidden=1536, layers=28, intermediate=8960, vocab=151936, kv=256, tied=True),
    ),
    CatalogEntry(
        key="qwen2.5-0.5b-instruct",
        repo_id="Qwen/Qwen2.5-0.5B-Instruct",
        family="qwen2",
        params_b=0.49,
        download_gb=1.0,
        remote_code=False,
        licence="Apache-2.0",
        dims=Dims(hidden=896, layers=24, intermediate=4864, vocab=151936, kv=128, tied=True),
    ),
    CatalogEntry(
        key="qwen2.5-1.5b-instruct",
        repo_id="Qwen/Qwen2.5-1.5B-Instruct",
        family="qwen2",
        params_b=1.54,
        download_gb=3.1,
        remote_code=False,
        licence="Apache-2.0",
        dims=Dims(hidden=1536, layers=28, intermediate=8960, vocab=151936, kv=256, tied=True),
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
