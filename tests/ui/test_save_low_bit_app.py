"""The app opens a store model an earlier qwen-tui wrote with bigdl-llm's save_low_bit on the
native engine: converted once when it loads, and a notification says so, once."""

from __future__ import annotations

import shutil

import pytest
from conftest import wait_ready
from save_low_bit import save_low_bit
from test_actions import SIZE, notifications

from qwen_tui import paths
from qwen_tui.engine import kernels
from qwen_tui.manifest import Manifest, scan_files, write_manifest
from qwen_tui.ui.app import local_engine

pytestmark = pytest.mark.skipif(
    not kernels.float_kernels(), reason="the native engine needs AVX2, which this CPU lacks"
)


@pytest.fixture
def earlier_store_model(tiny_source, tmp_path):
    folder = paths.models_dir() / "legacy-sym_int4"
    shutil.copytree(save_low_bit(tiny_source, tmp_path / "legacy", "sym_int4"), folder)
    write_manifest(folder, Manifest("legacy", "sym_int4", "qwen2", "x", None, False,
                                    scan_files(folder)))  # fmt: skip
    return folder


async def test_the_app_converts_it_once_and_says_so(make_app, earlier_store_model):
    engines = []

    def factory(model, settings):
        engines.append(local_engine(model, settings))
        return engines[-1]

    for run in range(2):
        app = make_app(engine_factory=factory)
        async with app.run_test(size=SIZE) as pilot:
            await wait_ready(app, pilot)
            assert app.engine_state == "ready" and engines[-1].name == "native"
            said = [n for n in notifications(app) if n.title == "Model converted"]
            if run == 0:
                (note,) = said
                assert note.message.startswith("Converted legacy-sym_int4 (bigdl-llm's")
            else:
                assert said == []  # the copy is there: nothing to say
    assert engines[0].model_dir == engines[1].model_dir != earlier_store_model
