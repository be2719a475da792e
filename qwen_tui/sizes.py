"""How big a model is, by kind of weight, and what a recipe makes of it on disk and in RAM.

The wizard and ``pull`` estimate before anything is downloaded (from the catalog's dimensions),
``quantize`` from the folder's config.json; both count every weight of every kind, so the
estimate is what the quantizer will write, give or take the config and tokenizer files.
"""

from __future__ import annotations

from dataclasses import dataclass

from .recipes import BLOCK_BYTES, Recipe

MB = 1000**2


@dataclass(frozen=True)
class Dims:
    hidden: int
    layers: int
    intermediate: int  # width of the MLP's gate/up outputs
    vocab: int
    kv: int  # width of the k and v projections (kv heads x head dim)
    q: int = 0  # width of the q projection (0: hidden)
    tied: bool = False  # the output head is the embedding table

    def params(self) -> dict[str, int]:
        """Weights of each kind (norms and biases are a rounding error and left out)."""
        q = self.q or self.hidden
        per_layer = {
            "attn_q": self.hidden * q,
            "attn_k": self.hidden * self.kv,
            "attn_v": self.hidden * self.kv,
            "attn_o": q * self.hidden,
            "mlp_gate": self.hidden * self.intermediate,
            "mlp_up": self.hidden * self.intermediate,
            "mlp_down": self.intermediate * self.hidden,
        }
        out = {kind: n * self.layers for kind, n in per_layer.items()}
        out["head"] = self.vocab * self.hidden
        out["embedding"] = 0 if self.tied else self.vocab * self.hidden
        return out

    @property
    def total(self) -> int:
        return sum(self.params().values()) + (self.vocab * self.hidden if self.tied else 0)

    @property
    def unique(self) -> int:
        """Distinct weights (a tied table counted once): the model's parameter count."""
        return sum(self.params().values())

    def kv_bytes_per_token(self) -> int:
        """The decoder's KV cache per position: keys and values of every layer, float16."""
        return 2 * self.layers * self.kv * 2


def dims_from_config(config: dict) -> Dims | None:
    """Dimensions from a Hugging Face config.json (Qwen2 family or Qwen-1), None if unknown."""
    try:
        hidden = int(config["hidden_size"])
        layers = int(config["num_hidden_layers"])
        vocab = int(config["vocab_size"])
        if config.get("model_type") == "qwen":  # Qwen-1: intermediate_size counts w1 and w2
            return Dims(hidden, layers, int(config["intermediate_size"]) // 2, vocab, hidden)
        heads = int(config["num_attention_heads"])
        head_dim = int(config.get("head_dim") or hidden // heads)
        kv = int(config.get("num_key_value_heads") or heads) * head_dim
        tied = bool(config.get("tie_word_embeddings", False))
        return Dims(
            hidden, layers, int(config["intermediate_size"]), vocab, kv, heads * head_dim, tied
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def stored_bytes(dims: Dims, recipe: Recipe) -> int:
    """Bytes of the quantized weights (the model folder, less a few MB of config/tokenizer)."""
    total = 0
    for kind, n in dims.params().items():
        fmt = recipe.embedding if kind == "embedding" else recipe.by_kind.get(kind, recipe.default)
        total += n // 64 * BLOCK_BYTES[fmt]
    return total


def decode_bytes(dims: Dims, recipe: Recipe) -> int:
    """Weight bytes read for each generated token (everything but the embedding table)."""
    params = dims.params()
    params.pop("embedding")
    return sum(
        n // 64 * BLOCK_BYTES[recipe.by_kind.get(kind, recipe.default)]
        for kind, n in params.items()
    )


def quantize_ram(dims: Dims) -> int:
    """Peak RAM while quantizing: the float32 model, plus one layer's work and Python."""
    return dims.total * 4 + 800 * MB


# What chatting needs beyond the weights: the Python, PyTorch and transformers runtime and the
# prompt's scratch memory kept warm (README "Speed": 970 MB resident for a 0.41 GB model, so
# about 560 MB; rounded up), and the KV cache of a conversation of CHAT_CONTEXT positions.
CHAT_RUNTIME = 600 * MB
CHAT_CONTEXT = 4096


def chat_ram(dims: Dims, recipe: Recipe) -> int:
    """RAM to chat: the stored weights (loaded as they are), the KV cache, the runtime."""
    return stored_bytes(dims, recipe) + dims.kv_bytes_per_token() * CHAT_CONTEXT + CHAT_RUNTIME
