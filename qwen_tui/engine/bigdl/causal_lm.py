"""The token loop (``generate/loop.py``) on a loaded Hugging Face causal LM, with torch.

``CausalLM`` steps the model's transformer body (bigdl-llm's forwards with our patches) and
its head on the last position; ``DecoderLM`` steps our C decoder over the same loaded model
(``decoder/model.py:Decoder``). Both run in torch's inference mode and hand the sampler the ids
so far as a [1, n] tensor, as torch's ``Sampler`` reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from ..generate.loop import DecoderLoop, TokenLoop


class TensorIds:
    """The ids so far as a [1, n] tensor (``generate/loop.py:SeenIds`` for torch's sampler)."""

    def __init__(self, torch: Any, prompt: list[int]) -> None:
        self.torch = torch
        self.ids = torch.tensor([prompt], dtype=torch.long)

    def append(self, token: int) -> None:
        self.ids = self.torch.cat([self.ids, self.torch.tensor([[token]])], dim=1)

    def view(self) -> Any:
        return self.ids


class CausalLM(TokenLoop):
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
        self.seq_dim = None

    def _running(self) -> AbstractContextManager[Any]:
        return self.torch.inference_mode()

    def _seen(self, prompt: list[int], room: int) -> Any:
        return TensorIds(self.torch, prompt)

    def _stack(self, rows: list[Any]) -> Any:
        return self.torch.stack(rows)

    def step(self, ids: list[int], past: Any) -> tuple[Any, Any]:
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

    def all_hidden(self, ids: list[int]) -> Any:
        with self.every_position():
            out = self.body(input_ids=self.torch.tensor([ids]), use_cache=True, return_dict=True)
        return out.last_hidden_state[0]

    def head_logits(self, hidden: Any) -> Any:
        return self.head(hidden[None])[0]


class DecoderLM(DecoderLoop, CausalLM):
    """The loop on our C decoder (``engine/bigdl/decoder``): one call per step; ``model`` stays
    reachable for bigdl-llm's forwards (tests compare the two)."""

    def __init__(self, model: Any, decoder: Any) -> None:
        CausalLM.__init__(self, model)
        self.decoder = decoder
        self.seq_dim = 1  # DecoderCache keeps positions in dimension 1
