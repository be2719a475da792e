"""The token loop, written once for every engine.

We drive the model ourselves instead of transformers' ``generate()``: the output head runs only
on the position that is sampled (a prompt of n tokens would otherwise compute n x vocabulary
logits), a turn can start from a kept KV cache (the longest prefix it shares with the prompt),
and cancellation is checked between tokens.

``TokenLoop`` is that loop over ``step(ids, past) -> (logits, past)``; ``DecoderLoop`` steps
a decoder with ``new_cache``/``hidden``/``logits`` (the torch-free ``engine/native`` model).
Nothing here imports torch: the torch engine's loops (``engine/bigdl/causal_lm.py``) subclass
these and add their tensors.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .conversation_cache import CacheEntry, common_prefix, crop, seq_dim_of
from .native_sampling import TokenSampler


class Cancel(Protocol):
    """What the loop checks between tokens (a ``threading.Event``, or several)."""

    def is_set(self) -> bool: ...


class AnyOf:
    """Set when any of the events is (a reply's own, the caller's, the engine's end ...)."""

    def __init__(self, *events: Cancel | None) -> None:
        self.events = [e for e in events if e is not None]

    def is_set(self) -> bool:
        return any(e.is_set() for e in self.events)


@dataclass
class RunResult:
    new_ids: list[int]  # generated tokens, the stop token excluded
    finish_reason: str  # "stop" | "length" | "cancelled"
    reused: int
    time_to_first_token: float
    decode_seconds: float
    cache: CacheEntry | None


class SeenIds:
    """The ids so far, prompt and reply, for the sampler's repetition penalty: an int64 array
    with room for the whole reply, so a token is appended without copying the rest."""

    def __init__(self, prompt: list[int], room: int) -> None:
        self.ids = np.empty(len(prompt) + room, np.int64)
        self.ids[: len(prompt)] = prompt
        self.count = len(prompt)

    def append(self, token: int) -> None:
        self.ids[self.count] = token
        self.count += 1

    def view(self) -> Any:
        return self.ids[: self.count]


class TokenLoop:
    """The loop over ``step``; ``seq_dim`` is the dimension of positions in the past (found
    from the first prompt where a backend does not say) so a kept cache can be cut back."""

    seq_dim: int | None = None

    def step(self, ids: list[int], past: Any) -> tuple[Any, Any]:
        """Feed ``ids`` after ``past``; return (logits of the last position, new past)."""
        raise NotImplementedError

    def all_hidden(self, ids: list[int]) -> Any:
        """The final hidden states [len(ids), hidden] of ``ids`` from an empty cache."""
        raise NotImplementedError

    def head_logits(self, hidden: Any) -> Any:
        """Logits [rows, vocab] of final hidden states [rows, hidden]."""
        raise NotImplementedError

    def all_logits(self, ids: list[int]) -> Any:
        """Logits of every position of ``ids`` from an empty cache (perplexity, tests)."""
        return self.head_logits(self.all_hidden(ids))

    def score(self, ids: list[int], path: str = "prompt") -> Any:
        """Logits of every position of ``ids`` [len(ids), vocab] through the prompt path (one
        pass) or the decode path (one token at a time on a growing cache)."""
        with self._running():
            if path == "prompt":
                return self.all_logits(ids)
            rows, past = [], None
            for token in ids:
                logits, past = self.step([token], past)
                rows.append(logits[0])
            return self._stack(rows)

    def _stack(self, rows: list[Any]) -> Any:
        return np.stack(rows)

    def _running(self) -> AbstractContextManager[Any]:
        """What a run happens inside (torch's inference mode, for a torch backend)."""
        return nullcontext()

    def _seen(self, prompt: list[int], room: int) -> Any:
        """The container of the ids so far the sampler reads (``view``) and ``append`` grows."""
        return SeenIds(prompt, room)

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
        with self._running():
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
        past, reused = self._reuse(prompt, cache)
        started = time.perf_counter()
        seen = self._seen(prompt, max_new_tokens)
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
            token = sampler.next_token(seen.view(), logits)
            if first_token_at is None:
                first_token_at = time.perf_counter()
            if token in stop_ids:
                finish = "stop"
                break
            new_ids.append(token)
            seen.append(token)
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

    def _reuse(self, prompt: list[int], cache: CacheEntry | None) -> tuple[Any, int]:
        """The past to start from and how many prompt tokens it covers."""
        if cache is None or cache.seq_dim is None:
            return None, 0
        # Keep at least one prompt token to feed: its logits start the reply.
        shared = min(common_prefix(cache.ids, prompt), len(prompt) - 1)
        if shared <= 0:
            return None, 0
        if shared < len(cache.ids):
            cache = crop(cache, shared)  # a recurrent model's may go back further
        if not cache.ids:
            return None, 0
        return cache.past, len(cache.ids)


class Decoder(Protocol):
    """A model that runs every layer in one call a step (``native.NativeModel``, or the torch
    engine's ``bigdl/decoder/model.py:Decoder``); its cache keeps positions in dimension 1."""

    def new_cache(self) -> Any: ...

    def hidden(self, ids: list[int], cache: Any, last_only: bool = True) -> Any:
        """The final (normed) hidden states of ``ids`` fed after ``cache``, which grows."""
        ...

    def logits(self, hidden: Any) -> Any: ...


class DecoderLoop(TokenLoop):
    """The loop on a ``Decoder``: one call a step."""

    seq_dim: int | None = 1

    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder

    def step(self, ids: list[int], past: Any) -> tuple[Any, Any]:
        past = past if past is not None else self.decoder.new_cache()
        hidden = self.decoder.hidden(ids, past)
        return self.decoder.logits(hidden), past

    def all_hidden(self, ids: list[int]) -> Any:
        return self.decoder.hidden(ids, self.decoder.new_cache(), last_only=False)

    def head_logits(self, hidden: Any) -> Any:
        return self.decoder.logits(hidden)
