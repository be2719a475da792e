"""A tiny Qwen2 chat model with Qwen2.5's chat template (tools and all), scripted for tool calls.

It writes two things, whatever it is asked (``testing/script.py``):

- after a forced call's opening (``engine/tools/template.py``'s ``call_opening``: the prompt
  ends in ``"arguments":``), the rest of a call: ``FORCED_TAIL``, then <|im_end|>;
- after a plain generation prompt (``<|im_start|>assistant\\n``), the answer ``ANSWER``.

So a test can make it call ``get_weather`` (tool_choice naming it), send the result back and
hear it answer; made to call another tool it writes the same arguments, which that tool's
schema refuses: a badly written call. ``answer=AUTO_CALL, forced=False`` makes one that calls
``get_weather`` by itself (the two replies share tokens: one model cannot learn both).
``<tool_call>`` and ``</tool_call>`` are added tokens, as in Qwen2.5's tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .script import teach_chains
from .tiny import CORPUS, build_tokenizer, tiny_qwen2_config

# Qwen/Qwen2.5-*-Instruct's chat template, verbatim: the one the Qwen2.5-Coder-0.5B-Instruct GGUF
# the real-model tests use carries (tests/real_model.py).
QWEN25_CHAT_TEMPLATE = (Path(__file__).parent / "qwen25_chat_template.jinja").read_text("utf-8")
CALL_TOKENS = ["<tool_call>", "</tool_call>"]

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"}},
        "required": ["city"],
    },
}
CALCULATOR = {
    "name": "calculate",
    "description": "Evaluate an arithmetic expression.",
    "parameters": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
}
FORCED_OPENING = '<tool_call>\n{"name": "get_weather", "arguments":'
CALL_ARGUMENTS = '{"city":"Paris"}'  # spaced so that no token of the reply comes twice
FORCED_TAIL = f" {CALL_ARGUMENTS}}}\n</tool_call>"
ANSWER = "It is sunny."
# a call as the model writes it unasked (spaced so that no token of it comes twice)
AUTO_CALL = '<tool_call>{"name": "get_weather","arguments":{"city":"Rome"}}</tool_call>'


def build_tiny_tool_model(
    path: Path, seed: int = 0, *, answer: str = ANSWER, forced: bool = True
) -> Path:
    """Write a Hugging Face folder of the scripted model (config, weights, tokenizer): it
    writes ``answer`` after a generation prompt and, if ``forced``, a forced call's rest."""
    import torch
    from transformers import GenerationConfig, Qwen2ForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(corpus=[*CORPUS, *[FORCED_OPENING + FORCED_TAIL, answer] * 8])
    tokenizer.add_tokens(CALL_TOKENS)  # added, not special: as in Qwen2.5's tokenizer
    tokenizer.chat_template = QWEN25_CHAT_TEMPLATE
    config = tiny_qwen2_config(len(tokenizer))
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config.bos_token_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    config.eos_token_id = end
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # small: the taught chains must win through every layer
        for p in model.parameters():
            p.normal_(1.0 if p.dim() == 1 else 0.0, 0.02)
    chains = [_chain(tokenizer, "", answer, end)]
    if forced:
        chains.append(_chain(tokenizer, FORCED_OPENING, FORCED_TAIL, end))
    teach_chains(model, chains)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=[end, config.bos_token_id],
        pad_token_id=config.bos_token_id,
        do_sample=True,
        temperature=0.7,
        top_p=0.8,
        top_k=20,
        repetition_penalty=1.05,
        max_new_tokens=32,
    ).save_pretrained(path)
    (path / "README.md").write_text("tiny qwen2 scripted for tool calls\n")
    return path


def _chain(tokenizer: Any, opening: str, reply: str, end: int) -> list[int]:
    """The prompt's last token (the generation prompt, then ``opening``), the tokens of
    ``reply``, then ``end``."""
    prompt = tokenizer.encode("<|im_start|>assistant\n" + opening, add_special_tokens=False)
    return [prompt[-1], *tokenizer.encode(reply, add_special_tokens=False), end]
