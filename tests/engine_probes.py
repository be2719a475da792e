"""Probes shared by the engine tests: logits of a prompt and the tokens after it,
calls of our low-bit kernel, and bigdl-llm's own forward put back for comparison."""

import torch


def bigdl_forwards(engine):
    """The token loop over bigdl-llm's forwards with our patches (the path the engine takes
    where our decoder does not fit), on the engine's own loaded model."""
    from qwen_tui.engine.bigdl.engine import forwards_loop

    return forwards_loop(engine._lm.model)


def prompt_then_tokens(lm, ids, tokens):
    """Logits of the prompt, then of each decoded token, on one growing cache."""
    with torch.inference_mode():
        logits, past = lm.step(ids, None)
        out = [logits]
        for token in tokens:
            logits, past = lm.step([token], past)
            out.append(logits)
    return out


def count_kernel_calls(monkeypatch):
    """From now on, how many weights each call of our low-bit kernel multiplies ("gated" for
    a call whose input is silu(x) * up)."""
    from qwen_tui.engine import kernels

    calls = []
    matmul = kernels.matmul

    def counted(x, weights, threads, *, up=None, isa=None):
        calls.append(len(weights) if up is None else "gated")
        return matmul(x, weights, threads, up=up, isa=isa)

    monkeypatch.setattr(kernels, "matmul", counted)
    return calls


def use_bigdl_forward(monkeypatch, modules):
    """Put back the forward bigdl-llm gave each module (kept as ``qwen_tui_forward``)."""
    for module in modules:
        monkeypatch.setattr(module, "forward", module.qwen_tui_forward)


def assert_all_close(ours, theirs, tol):
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, rtol=tol, atol=tol)
