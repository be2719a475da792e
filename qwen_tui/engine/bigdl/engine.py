"""The bigdl-llm backend: load a low-bit model from the store into bigdl-llm's modules and chat
with it (our C decoder over those modules, or bigdl-llm's forwards with our patches).

The engine for what the torch-free one (``engine/native``) does not run, or is told not to
(``QWEN_TUI_DECODER=bigdl``, ``QWEN_TUI_MATMUL=bigdl|dequant``, no AVX2, models that run their
own code, folders bigdl-llm's ``save_low_bit`` wrote); ``engine/open.py`` picks. What a reply
does is shared (``engine/local.py:LocalEngine``); this module loads and samples with torch.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ...errors import EngineError, NotEnoughMemory
from ...manifest import Manifest
from ..defaults import context_window as context_window
from ..defaults import read_defaults as read_defaults
from ..generate.loop import TokenLoop
from ..generate.native_sampling import TokenSampler
from ..generate.sampling import Sampler
from ..local import LocalEngine
from ..open import DECODER_ENV as DECODER_ENV  # "bigdl": bigdl-llm's forwards run a step
from ..runtime import memory
from ..types import GenerationParams
from .causal_lm import CausalLM, DecoderLM

if TYPE_CHECKING:
    from .patches import PatchReport


class BigdlEngine(LocalEngine):
    name = "bigdl"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.patches: PatchReport | None = None

    def _open(self, manifest: Manifest, trust: bool) -> tuple[Any, TokenLoop]:
        import torch

        from ..models import load_tokenizer
        from ..runtime.quiet import bigdl_auto_model

        AutoModelForCausalLM = bigdl_auto_model()

        from . import matmul, patches
        from .lowbit import io as lowbit_io

        torch.set_num_threads(self.threads)
        try:
            tokenizer = load_tokenizer(self.model_dir, manifest.family, trust)
            if lowbit_io.is_lowbit_folder(self.model_dir):
                model = lowbit_io.load(self.model_dir, trust_remote_code=trust)
            else:  # a folder bigdl-llm's save_low_bit wrote (qwen-tui before recipes)
                model = AutoModelForCausalLM.load_low_bit(
                    str(self.model_dir), trust_remote_code=trust, local_files_only=True
                )
        except MemoryError:
            raise NotEnoughMemory(
                f"Not enough memory to load {manifest.name}.", "Close other programs."
            ) from None
        except Exception as exc:
            raise EngineError(
                f"Could not load {manifest.name}: {type(exc).__name__}: {exc}.",
                f"Quantize it again (`qwen-tui rm {self.model_dir.name}`, then pull or quantize).",
            ) from exc
        model.eval()
        self.patches = patches.install(model)
        # Without our LowBitLinear.forward the layers keep bigdl-llm's bytes and kernel.
        mode = None if self.patches.get("lowbit_linear").ok else "bigdl"
        self.plan = matmul.prepare(model, mode)  # regroups the layers: the old bytes are freed
        lm, self.decoder_note = _runner(model, manifest.family, self.threads)
        memory.trim_heap()  # what loading and regrouping freed goes back to the system
        if not isinstance(lm, DecoderLM):
            memory.keep_scratch()  # torch's prompt scratch (our decoder keeps its own)
        return tokenizer, lm

    def _sampler(self, params: GenerationParams) -> TokenSampler:
        return Sampler(params)

    def kv_bytes_per_position(self) -> int:
        decoder = getattr(self._lm, "decoder", None)
        if decoder is None:
            return 0
        shape = decoder.shape
        return int(decoder.layers * shape.kv_heads * shape.head_dim * 2 * 2)


def _runner(model: Any, family: str, threads: int) -> tuple[CausalLM, str]:
    """Our C decoder where the model fits it, else bigdl-llm's forwards with our patches;
    and a note saying which and why."""
    from .decoder import Decoder, DecoderUnsupported

    if os.environ.get(DECODER_ENV, "ours").strip().lower() == "bigdl":
        why = f"{DECODER_ENV}=bigdl"
    else:
        try:
            return DecoderLM(model, Decoder(model, family, threads)), "ours"
        except DecoderUnsupported as error:
            why = str(error)
    return forwards_loop(model), f"bigdl-llm's forwards ({why})"


def forwards_loop(model: Any) -> CausalLM:
    """The token loop over bigdl-llm's forwards with our patches."""
    from .patches.last_layer import every_position

    return CausalLM(model, lambda: every_position(model))
