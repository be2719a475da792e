"""Build qwen-tui's C kernels (one module, qwen_tui.engine.kernels._native); everything else is
in pyproject.toml.

Every instruction-set variant is compiled into the same module (each file sets its own
``#pragma GCC target``) and the best one this CPU supports is chosen at run time, so one build
serves every x86 machine; a non-x86 machine gets the portable C variant. ``optional=True``:
without a C compiler the install still succeeds and qwen-tui uses bigdl-llm's own kernels.
"""

from setuptools import Extension, setup

CSRC = "qwen_tui/engine/kernels/csrc/"
SOURCES = [
    "module.c",
    "cpu.c",
    "repack.c",
    "quantize_ref.c",
    "quantize_w.c",
    "matmul.c",
    "tiles_ref.c",
    "decoder.c",
    "hybrid.c",
    "deltanet.c",
    "module_hybrid.c",
    "tiles_avx2.c",
    "tiles_avxvnni.c",
    "tiles_avx512vl.c",
    "tiles_avx512.c",
    "attention.c",
    "norm.c",
    "rotary.c",
    "bandwidth.c",
    "sample.c",
]
HEADERS = [
    "qk.h",
    "simd256.h",
    "tiles256.h",
    "float_kernels.h",
    "decoder.h",
    "sample.h",
    "layer_parts.h",
    "deltanet.h",
    "hybrid.h",
    "module.h",
]

setup(
    ext_modules=[
        Extension(
            "qwen_tui.engine.kernels._native",
            sources=[CSRC + name for name in SOURCES],
            depends=[CSRC + name for name in HEADERS],
            # fused multiply-adds only where the code asks for them: every variant performs
            # the same float operations, so they agree bit for bit
            extra_compile_args=[
                "-O3",
                "-fopenmp",
                "-ffp-contract=off",
                "-Werror=implicit-function-declaration",
            ],
            extra_link_args=["-fopenmp", "-lm"],
            optional=True,
        )
    ]
)
