import pytest

from qwen_tui import config, paths
from qwen_tui.catalog import DEFAULT_LOW_BIT


def test_missing_file_gives_defaults():
    settings, warnings = config.load()
    assert settings == config.Settings() and warnings == []


def test_round_trip_is_atomic_and_complete():
    settings = config.updated(
        config.Settings(), temperature="0.3", top_k=40, hf_endpoint="http://m.example"
    )
    settings = config.updated(settings, keys={"stop": "ctrl+c"})
    config.save(settings)
    loaded, warnings = config.load()
    assert loaded == settings and warnings == []
    assert [p.name for p in paths.config_dir().iterdir()] == ["config.toml"]


def test_broken_toml_does_not_stop_anything():
    paths.config_file().parent.mkdir(parents=True)
    paths.config_file().write_text("temperature = [oops\n")
    settings, warnings = config.load()
    assert settings == config.Settings()
    assert len(warnings) == 1 and "not valid TOML" in warnings[0]


def test_bad_values_fall_back_one_by_one():
    paths.config_file().parent.mkdir(parents=True)
    paths.config_file().write_text(
        'temperature = 7\ntop_p = 0.5\nlow_bit = "int2"\ncolour = "red"\nthreads = 2.5\n'
        '[keys]\nsend = "enter"\n'
    )
    settings, warnings = config.load()
    assert settings.top_p == 0.5 and settings.keys == {"send": "enter"}
    assert (
        settings.temperature is None
        and settings.low_bit == DEFAULT_LOW_BIT
        and settings.threads is None
    )
    assert len(warnings) == 4
    assert any("temperature must be a number from 0 to 2" in w for w in warnings)


@pytest.mark.parametrize(
    "name,value",
    [
        ("top_p", 0),
        ("top_k", -1),
        ("top_k", "1e999"),
        ("max_new_tokens", "many"),
        ("hf_endpoint", "ftp://x"),
        ("threads", True),
    ],
)
def test_invalid_values_are_refused_with_a_sentence(name, value):
    with pytest.raises(ValueError, match=f"{name} must be"):
        config.check_value(name, value)
