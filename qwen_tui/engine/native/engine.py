"""The default engine: a model from the store on our C decoder, without torch, transformers
or bigdl-llm. Loading maps ``model.safetensors`` into the kernels' layout (``model.py``); a
reply is the shared loop (``engine/local.py``) with C sampling (``NativeSampler``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ...errors import EngineError, NotEnoughMemory
from ...manifest import Manifest
from ..generate.loop import DecoderLoop, TokenLoop
from ..generate.native_sampling import NativeSampler, TokenSampler
from ..generate.prompt import special_ids
from ..kernels import chosen_isa
from ..local import LocalEngine
from ..models import load_tokenizer
from ..plan import MatmulPlan, mode_from_env
from ..runtime.pages import trim_heap
from ..types import GenerationParams
from .hybrid import HybridModel, open_model
from .layout import NativeUnsupported
from .model import NativeModel


class NativeEngine(LocalEngine):
    name = "native"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.model: NativeModel | None = None

    def _open(self, manifest: Manifest, trust: bool) -> tuple[Any, TokenLoop]:
        if trust:
            raise EngineError(
                f"{manifest.name} runs its own code, which only bigdl-llm's engine loads.",
                "Open it with `open_engine` (it picks that engine for such models).",
            )
        try:
            # the weights are packed in C (the GIL released) while the tokenizer is read
            with ThreadPoolExecutor(1, thread_name_prefix="weights") as pool:
                weights = pool.submit(open_model, self.model_dir, self.threads)
                tokenizer = load_tokenizer(self.model_dir, manifest.family)
                model = weights.result()
            if isinstance(model, HybridModel):  # its recurrent states are kept at turns
                model.turn_token = _turn_token(tokenizer)
        except NativeUnsupported as exc:
            raise EngineError(
                f"qwen-tui's own engine does not run {manifest.name}: {exc}.",
                "Set QWEN_TUI_DECODER=bigdl to load it with bigdl-llm.",
            ) from None
        except MemoryError:
            raise NotEnoughMemory(
                f"Not enough memory to load {manifest.name}.", "Close other programs."
            ) from None
        except Exception as exc:
            raise EngineError(
                f"Could not load {manifest.name}: {type(exc).__name__}: {exc}.",
                f"Quantize it again (`qwen-tui rm {self.model_dir.name}`, then pull or quantize).",
            ) from exc
        self.model = model
        layers = dict(model.weights.counts)
        layers[f"{model.embed.fmt}:embedding"] = 1
        isa = chosen_isa()
        self.plan = MatmulPlan(
            mode_from_env(), isa.name, dict(sorted(layers.items())), isa.note, model.weight_bytes,
            model.weights.huge_pages,
        )  # fmt: skip
        self.decoder_note = "ours"
        trim_heap()  # what loading freed (the tokenizer's, say) goes back to the system
        return tokenizer, DecoderLoop(model)

    def _sampler(self, params: GenerationParams) -> TokenSampler:
        return NativeSampler(params)

    def _unload(self) -> None:
        self.model = None
        super()._unload()

    def kv_bytes_per_position(self) -> int:
        return self.model.kv_bytes_per_position if self.model is not None else 0

    def thread_choice(self) -> dict:
        return self.model.choice.report() if self.model is not None else {}

    def state_bytes_per_token(self) -> int:
        return self.model.state_bytes_per_token if self.model is not None else 0


def _turn_token(tokenizer: Any) -> int | None:
    """<|im_start|>'s id, or None for a tokenizer without ChatML (then the chat template
    refuses it before any reply)."""
    try:
        return special_ids(tokenizer).im_start
    except EngineError:
        return None
