"""Build the optional AVX2 int4 matmul kernel; everything else is in pyproject.toml.

``optional=True``: without a C compiler (or on a CPU family the kernel does not
target) the install still succeeds and qwen-tui uses bigdl-llm's own kernel.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "qwen_tui.engine._q4matmul",
            sources=[
                "qwen_tui/engine/q4matmul.c",
                "qwen_tui/engine/attention.c",
                "qwen_tui/engine/norm.c",
                "qwen_tui/engine/rotary.c",
            ],
            depends=["qwen_tui/engine/kernels.h"],
            # fused multiply-adds only where the code asks for them (rotary.c matches torch)
            extra_compile_args=[
                "-O3",
                "-fopenmp",
                "-ffp-contract=off",
                "-Werror=implicit-function-declaration",
            ],
            extra_link_args=["-fopenmp"],
            optional=True,
        )
    ]
)
