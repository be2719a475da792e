"""Import bigdl-llm without its side effects on logging.

``bigdl.llm.transformers.utils`` calls ``logging.basicConfig(level=INFO)`` at
import, which would print INFO lines over the terminal UI and into ``ask``'s
stderr. We import it once, remove the root handler it added, and quieten
bigdl-llm's and transformers' own loggers and warnings.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

_done = False


def bigdl_auto_model() -> Any:
    global _done
    before = list(logging.getLogger().handlers)
    from bigdl.llm.transformers import AutoModelForCausalLM

    from ..models import register

    register()  # Qwen3, which transformers 4.37 lacks

    if not _done:
        root = logging.getLogger()
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
        root.setLevel(logging.WARNING)
        for name in ("bigdl", "transformers", "accelerate"):
            logging.getLogger(name).setLevel(logging.ERROR)
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # "Loading checkpoint shards" bars over our own output
        warnings.filterwarnings("ignore", category=UserWarning, module="transformers")
        warnings.filterwarnings("ignore", category=FutureWarning)
        _done = True
    return AutoModelForCausalLM
