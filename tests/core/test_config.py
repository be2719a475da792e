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


def test_a_file_that_is_not_utf8_is_reported_and_the_defaults_used():
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_bytes(b'temperature = 0.3\nsystem_prompt = "caf\xe9"\n')
    settings, warnings = config.load()
    assert settings == config.Settings()
    assert len(warnings) == 1 and "is not UTF-8 text" in warnings[0]


def test_saving_changes_only_what_changed_in_the_users_file():
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    original = (
        "# my settings, hand-written\n"
        "temperature = 0.7  # warm\n"
        'colour = "red"  # a key qwen-tui does not know\n'
        "top_k = 20\n"
        "\n"
        "[keys]\n"
        'regenerate = "ctrl+r,f6"  # two keys\n'
        'new_chat = "ctrl+k"\n'
    )
    paths.config_file().write_text(original)
    settings, _ = config.load()
    config.save(config.updated(settings, top_k=40, max_new_tokens=256))
    text = paths.config_file().read_text()
    assert "# my settings, hand-written" in text and "# warm" in text and "# two keys" in text
    assert 'colour = "red"' in text and 'new_chat = "ctrl+k"' in text
    assert "top_k = 40" in text and "max_new_tokens = 256" in text
    assert text.count("temperature") == 1
    reloaded, _ = config.load()
    assert (reloaded.top_k, reloaded.max_new_tokens, reloaded.temperature) == (40, 256, 0.7)
    assert reloaded.keys == {"regenerate": "ctrl+r,f6", "new_chat": "ctrl+k"}
    config.save(config.updated(reloaded, temperature=None))  # back to the model's default
    assert "temperature" not in paths.config_file().read_text()
    assert config.load()[0].temperature is None


def test_saving_over_a_broken_file_keeps_it_beside_the_new_one():
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_bytes(b"temperature = = 1\n\xff")
    config.save(config.Settings(top_p=0.5))
    assert config.load() == (config.Settings(top_p=0.5), [])
    (kept,) = paths.config_file().parent.glob("config.toml.broken-*")
    assert kept.read_bytes() == b"temperature = = 1\n\xff"


def test_hf_token_mirrors_is_a_list_of_urls_and_anything_else_gives_no_mirror_the_token():
    paths.config_file().parent.mkdir(parents=True, exist_ok=True)
    paths.config_file().write_text(
        '# mine\nhf_token_mirrors = ["https://hf-mirror.example/", "http://10.0.0.2:8080"]\n'
    )
    settings, warnings = config.load()
    assert warnings == []
    assert settings.hf_token_mirrors == ("https://hf-mirror.example", "http://10.0.0.2:8080")
    config.save(config.updated(settings, hf_token_mirrors=["https://other.example"]))
    assert "# mine" in paths.config_file().read_text()
    assert config.load() == (config.Settings(hf_token_mirrors=("https://other.example",)), [])
    config.save(config.updated(settings, hf_token_mirrors=[]))
    assert "hf_token_mirrors" not in paths.config_file().read_text()
    for value, wrong in (
        ('"https://one.example"', "'https://one.example'"),
        ('["mirror.example"]', "'mirror.example'"),
        ("[1]", "1"),
    ):
        paths.config_file().write_text(f"hf_token_mirrors = {value}\n")
        settings, warnings = config.load()
        assert settings.hf_token_mirrors == ()
        assert len(warnings) == 1 and warnings[0].startswith("hf_token_mirrors must ")
        assert warnings[0].endswith(f", not {wrong}. No mirror gets the token.")
    with pytest.raises(ValueError, match="hf_token_mirrors must list http"):
        config.updated(config.Settings(), hf_token_mirrors=["ftp://x"])
