"""The token loop over a loaded Hugging Face causal LM.

We drive the model's transformer body ourselves instead of ``generate()``:
the language-model head runs only on the position that is sampled (a prompt
of n tokens would otherwise compute n x vocabulary logits), a turn can start
from a kept KV cache, and cancellation is checked between tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

from .conversation_cache import CacheEntry, common_prefix, crop, seq_dim_of
from .native_sampling import TokenSampler


class Cancel(Protocol):
    """What the loop checks between tokens (a ``threading.Event``, or several)."""

    def is_set(self) -> bool: ...


@dataclass
class RunResult:
    new_ids: list[int]  # generated tokens, the stop token excluded
    finish_reason: str  # "stop" | "length" | "cancelled"
    reused: int
    time_to_first_token: float
    decode_seconds: float
    cache: CacheEntry | None


class CausalLM:
    def __init__(
        self, model: Any, every_position: Callable[[], AbstractContextManager[Any]] = nullcontext
    ) -> None:
        """``every_position`` undoes, for a while, a backend's last-position-only shortcut
        (bigdl's last-layer patch), so ``all_logits`` sees every position."""
        import torch

        self.torch = torch
        self.model = model
        self.every_position = every_position
        self.body = getattr(model, "transformer", None) or model.model
        self.head = model.lm_head
        self.seq_dim: int | None = None

    def step(self, ids: list[int], past: Any) -> tuple[Any, Any]:
        """Feed ``ids`` after ``past``; return (logits of the last position, new past)."""
        torch = self.torch
        out = self.body(
            input_ids=torch.tensor([ids], dtype=torch.long),
            past_key_values=past,
            use_cache=True,
            return_dict=True,
        )
        hidden = out.last_hidden_state[:, -1:, :]
        logits = self.head(hidden)[:, -1, :]
        return logits, out.past_key_values

    def run(
        self,
        prompt: list[int],
        sampler: TokenSampler,
        max_new_tokens: int,
        stop_ids: frozenset[int],
        *,
        on_token: Callable[[int], None],
        cancel: Cancel,
        cache: CacheEntry | None = None,
    ) -> RunResult:
        with self.torch.inference_mode():
            return self._run(prompt, sampler, max_new_tokens, stop_ids, on_token, cancel, cache)

    def _run(
        self,
        prompt: list[int],
        sampler: TokenSampler,
        max_new_tokens: int,
        stop_ids: frozenset[int],
        on_token: Callable[[int], None],
        cancel: Cancel,
        cache: CacheEntry | None,
    ) -> RunResult:
        torch = self.torch
        past, reused = self._reuse(prompt, cache)
        started = time.perf_counter()
        all_ids = torch.tensor([prompt], dtype=torch.long)
        new_ids: list[int] = []
        fed = list(prompt[:reused])
        pending = prompt[reused:]
        first_token_at = None
        finish = "length"
        while len(new_ids) < max_new_tokens:
            if cancel.is_set():
                finish = "cancelled"
                break
            logits, past = self.step(pending, past)
            fed += pending
            if self.seq_dim is None and len(pending) > 1:
                self.seq_dim = seq_dim_of(past, len(fed))
            token = sampler.next_token(all_ids, logits)
            if first_token_at is None:
                first_token_at = time.perf_counter()
            if token in stop_ids:
                finish = "stop"
                break
            new_ids.append(token)
            all_ids = torch.cat([all_ids, torch.tensor([[token]])], dim=1)
            on_token(token)
            pending = [token]
        ended = time.perf_counter()
        first = first_token_at or ended
        kept = (
            CacheEntry(fed, past, self.seq_dim)
            if past is not None and self.seq_dim is not None
            else None
        )
        return RunResult(new_ids, finish, reused, first - started, ended - first, kept)

    def all_logits(self, ids: list[int]) -> Any:
        """Logits of every position of ``ids`` from an empty cache (perplexity, tests)."""
        return self.head_logits(self.all_hidden(ids))

    def all_hidden(self, ids: list[int]) -> Any:
        """The final hidden states [len(ids), hidden] of ``ids`` from an empty cache."""
        with self.every_position():
            out = self.body(input_ids=self.torch.tensor([ids]), use_cache=True, return_dict=True)
        return out.last_hidden_state[0]

    def head_logits(self, hidden: Any) -> Any:
        """Logits [rows, vocab] of final hidden states [rows, hidden]."""
        return self.head(hidden[None])[0]

    def _reuse(self, prompt: list[int], cache: CacheEntry | None) -> tuple[Any, int]:
        """The past to start from and how many prompt tokens it covers."""
        if cache is None or cache.seq_dim is None:
            return None, 0
        # Keep at least one prompt token to feed: its logits start the reply.
        shared = min(common_prefix(cache.ids, prompt), len(prompt) - 1)
        if shared <= 0:
            return None, 0
        if shared < len(cache.ids):
            cache = crop(cache, shared)
        return cache.past, shared


class DecoderLM(CausalLM):
    """The same token loop on our C decoder (``engine/bigdl/decoder``): one call per step."""

    def __init__(self, model: Any, decoder: Any) -> None:
        super().__init__(model)
        self.decoder = decoder
        self.seq_dim = 1  # DecoderCache keeps positions in dimension 1

    def step(self, ids: list[int], past: Any) -> tuple[Any, Any]:
        past = past if past is not None else self.decoder.new_cache()
        hidden = self.decoder.hidden(ids, past)
        return self.decoder.logits(hidden), past

    def all_hidden(self, ids: list[int]) -> Any:
        return self.decoder.hidden(ids, self.decoder.new_cache(), last_only=False)

    def head_logits(self, hidden: Any) -> Any:
        return self.decoder.logits(hidden)
