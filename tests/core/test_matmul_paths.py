"""Every format on every matmul path (ours, bigdl-llm's kernel, dequantize + BLAS) against
bigdl-llm's own dequantized weights: one projection, and the logits of a whole tiny model.
A path that computes garbage for a format fails here, not in a user's chat."""

import pytest
import torch
from lowbit import FORMAT_NAMES, bigdl_weights, low_bit_layer, relative_error

from qwen_tui.engine import kernels
from qwen_tui.engine.bigdl import matmul
from qwen_tui.engine.kernels.formats import FORMATS, dequantize

PATHS = ["ours", "bigdl", "dequant"]
ROWS = [1, 31, 32, 127, 128, 600]


def path_param(path):
    marks = pytest.mark.skipif(
        path != "bigdl" and not kernels.available(), reason="our kernels are not built"
    )
    return pytest.param(path, marks=marks)


class One(torch.nn.Module):
    def __init__(self, layer):
        super().__init__()
        self.layer = layer


@pytest.mark.parametrize("path", [path_param(p) for p in PATHS])
@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("rows", ROWS)
def test_a_projection_matches_bigdls_dequantized_weights(path, fmt, rows):
    layer = low_bit_layer(fmt, 96, 256, bias=True, seed=rows)
    exact_weight = bigdl_weights(layer)
    matmul.install()  # the lowbit_linear patch, as the engine's registry installs it
    plan = matmul.prepare(One(layer), path)
    assert plan.layers == {f"{fmt}:{path}": 1}
    x = torch.randn(1, rows, 256)
    exact = x @ exact_weight.T + layer.bias
    with torch.inference_mode():
        ours = layer(x)
    assert ours.shape == (1, rows, 96) and ours.dtype == torch.float32
    # our kernel and bigdl-llm's quantize activations to int8 in blocks of 64 (about 0.5 %
    # error); dequantize + BLAS multiplies floats (decode, one row, takes the kernel)
    limit = 1e-5 if path == "dequant" and rows > 1 else 0.01
    assert relative_error(ours, exact) < limit


def float_reference(engine_dir):
    """The quantized tiny model with every weight replaced by its dequantized floats, run by
    transformers: what the low-bit model should compute, up to activation rounding."""
    from transformers import AutoModelForCausalLM

    from qwen_tui.engine.bigdl.lowbit import io

    low = io.load(engine_dir)
    source = AutoModelForCausalLM.from_config(low.config, torch_dtype=torch.float32).eval()
    state = source.state_dict()
    for name, module in low.named_modules():
        if type(module).__name__ == "LowBitLinear":
            fmt = kernels.format_of(module.qtype)
            state[f"{name}.weight"] = dequantize(module.weight.data, fmt, *module.weight_shape)
            if module.bias is not None:
                state[f"{name}.bias"] = module.bias.detach().float()
        elif type(module).__name__ == "QuantizedEmbedding":
            rows = module(torch.arange(module.num_embeddings))
            state[f"{name}.weight"] = rows
    for name, value in low.state_dict().items():
        if value.dtype == torch.float32 and name in state and "norm" in name:
            state[name] = value
    source.load_state_dict(state)
    return source


@pytest.fixture(scope="module")
def stored(tiny_source, tmp_path_factory):
    """The tiny model quantized in each format (each recipe), once."""
    from qwen_tui.recipes import RECIPES
    from qwen_tui.store.quantize import quantize_folder

    root = tmp_path_factory.mktemp("formats")
    return {
        name: quantize_folder(tiny_source, "t", name, root=root, measure=False) for name in RECIPES
    }


@pytest.mark.parametrize("path", [path_param(p) for p in PATHS])
@pytest.mark.parametrize("recipe", ["mixed_int5", *FORMAT_NAMES[:1], "asym_int4", "sym_int5",
                                    "sym_int8"])  # fmt: skip
def test_a_tiny_models_logits_match_its_dequantized_weights(stored, path, recipe, monkeypatch):
    from qwen_tui.engine.bigdl.engine import BigdlEngine

    model = stored[recipe]
    reference = float_reference(model.path)
    monkeypatch.setenv("QWEN_TUI_MATMUL", path)
    engine = BigdlEngine(model.path, threads=2)
    engine.load()
    try:
        assert all(key.endswith((f":{path}", ":embedding")) for key in engine.plan.layers)
        torch.manual_seed(0)
        for rows in ROWS:
            ids = torch.randint(3, reference.config.vocab_size, (rows,)).tolist()
            with torch.inference_mode():
                exact = reference(input_ids=torch.tensor([ids])).logits[0]
            ours = engine.score(ids, "prompt")
            # activation rounding (and the float16 KV cache) only: about 1.5 % with int8
            # activations, 0.01 % for dequantize + BLAS (prompts; one row takes the kernel)
            limit = 0.001 if path == "dequant" and rows > 1 else 0.03
            assert relative_error(ours, exact) < limit, rows
            agree = (ours.argmax(-1) == exact.argmax(-1)).float().mean().item()
            assert agree > 0.9, rows
    finally:
        engine.unload()


def test_the_formats_bigdl_llm_itself_dequantizes_wrongly_are_the_ones_we_decode():
    """bigdl-llm's ggml_convert_fp32 is right for sym_int4 only (why dequantize + BLAS once
    answered "!!!!" in sym_int5): our decoder must not be it."""
    from bigdl.llm.transformers.low_bit_linear import ggml_convert_fp32

    for fmt in FORMAT_NAMES:
        layer = low_bit_layer(fmt, 16, 128)
        theirs = ggml_convert_fp32(layer.weight.data, layer.weight_shape, 16 * 128, layer.qtype)
        ours = dequantize(layer.weight.data, FORMATS[fmt], 16, 128)
        assert torch.allclose(ours, bigdl_weights(layer), atol=1e-6)
        assert torch.allclose(theirs, ours, atol=1e-6) == (fmt == "sym_int4")
