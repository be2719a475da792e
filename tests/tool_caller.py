"""A tiny Qwen3 scripted to call a tool: whatever it is asked (thinking off), it writes

    <tool_call>
    {"name": "tests__add", "arguments": {"a": 2, "b": 3}}
    </tool_call>

as Qwen3 writes a call, then <|im_end|>. Qwen3's own chat template renders the tools and the
results. The call's three pieces are added tokens (the chain the model is taught may not
repeat a token, and JSON repeats its quotes); testing/script.py teaches the chain. Built and
quantized once per test process."""

from __future__ import annotations

from pathlib import Path

from qwen_tui.store.local import LocalModel

CALL_BODY = '\n{"name": "tests__add", "arguments": {"a": 2, "b": 3}}\n'
CALL_TEXT = f"<tool_call>{CALL_BODY}</tool_call>"

_built: list[LocalModel] = []


def build(path: Path) -> Path:
    import torch

    from qwen_tui.engine.models import register
    from qwen_tui.engine.models.qwen3 import Qwen3ForCausalLM
    from qwen_tui.testing.script import teach_chain
    from qwen_tui.testing.tiny_qwen3 import (
        qwen3_tokenizer,
        save_thinking_defaults,
        tiny_qwen3_config,
    )

    register()
    tokenizer = qwen3_tokenizer()
    tokenizer.add_tokens(["<tool_call>", "</tool_call>", CALL_BODY])
    config = tiny_qwen3_config(len(tokenizer), tie_word_embeddings=False)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_end|>")}
    config.bos_token_id, config.eos_token_id = ids["<|endoftext|>"], ids["<|im_end|>"]
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.normal_(1.0, 0.1) if "norm" in name else p.normal_(0.0, 0.02)
        template = tokenizer._compile_jinja_template(tokenizer.chat_template)  # 4.37 passes
        text = template.render(  # no enable_thinking through apply_chat_template
            messages=[{"role": "user", "content": "hi"}],
            add_generation_prompt=True,
            enable_thinking=False,
        )
        prompt = tokenizer.encode(text, add_special_tokens=False)
        call = tokenizer.encode(CALL_TEXT, add_special_tokens=False)
        teach_chain(model, [prompt[-1], *call, ids["<|im_end|>"]])
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    save_thinking_defaults(path, ids, config.bos_token_id)
    return path


def quantized(tmp_path_factory) -> LocalModel:
    if not _built:
        from qwen_tui.store.quantize import quantize_folder

        root = tmp_path_factory.mktemp("tool-caller")
        folder = build(root / "src")
        _built.append(
            quantize_folder(folder, "tool-caller", "sym_int4", root=root / "store", measure=False)
        )
    return _built[0]
