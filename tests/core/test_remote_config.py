"""[[remote]] tables in config.toml: read with one sentence per bad entry, saved keeping the
file's comments, its other entries and the ones that could not be read."""

from __future__ import annotations

from qwen_tui import config
from qwen_tui.remotes import RemoteEntry, find, with_entry

GOOD = """\
# my servers
model = "gpu-box"

[[remote]]
name = "gpu-box"   # the big one
base_url = "http://gpu-box:8000/v1/"
model = "Qwen/Qwen3-8B"
api_key_env = "GPU_BOX_KEY"
context_window = 32768

[[remote]]
name = "laptop"
base_url = "http://localhost:11434/v1"
model = "qwen3:8b"
"""

BAD = """\
[[remote]]
name = "no-model"
base_url = "http://a:1/v1"

[[remote]]
name = "bad-url"
base_url = "gpu-box:8000"
model = "m"

[[remote]]
name = "key-in-file"
base_url = "http://a:1/v1"
model = "m"
api_key = "sk-live-123"
colour = "blue"

[[remote]]
name = "key-as-env"
base_url = "http://a:1/v1"
model = "m"
api_key_env = "sk-live-123"

[[remote]]
name = "laptop"
base_url = "http://b:2/v1"
model = "m"

[[remote]]
base_url = "http://c:3/v1"
model = "m"
context_window = "big"
"""


def write(text: str):
    path = config.paths.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_good_entries_are_read():
    write(GOOD)
    settings, warnings = config.load()
    assert warnings == []
    assert settings.model == "gpu-box"
    assert settings.remote == (
        RemoteEntry("gpu-box", "http://gpu-box:8000/v1", "Qwen/Qwen3-8B", "GPU_BOX_KEY", 32768),
        RemoteEntry("laptop", "http://localhost:11434/v1", "qwen3:8b"),
    )
    assert find(settings.remote, "laptop").host == "localhost:11434"
    assert find(settings.remote, "nothing") is None


def test_each_bad_entry_is_one_sentence_and_the_rest_still_loads(monkeypatch):
    write(GOOD + "\n" + BAD)
    monkeypatch.setenv("GPU_BOX_KEY", "k")
    settings, warnings = config.load()
    assert [e.name for e in settings.remote] == ["gpu-box", "laptop", "key-in-file"]
    assert settings.remote[0].api_key() == "k"
    assert warnings == [
        "[[remote]] 'no-model': it needs the model id to ask the server for (model = \"...\"); "
        "left out.",
        "[[remote]] 'bad-url': base_url must be an http(s) URL such as "
        "http://localhost:8080/v1, not 'gpu-box:8000'; left out.",
        "[[remote]] 'key-in-file': api_key is never read from the file: put the key in an "
        "environment variable and name it in api_key_env.",
        "[[remote]] 'key-in-file': unknown key 'colour' ignored.",
        "[[remote]] 'key-as-env': api_key_env must name an environment variable (letters, "
        "digits, _), not hold the key itself; left out.",
        "[[remote]] 'laptop': another [[remote]] has this name; left out.",
        "[[remote]] #8: it needs a name; left out.",
    ]
    assert all("sk-live-123" not in w for w in warnings)  # a key never reaches a message


def test_a_single_table_and_a_wrong_type():
    settings, warnings = config.from_mapping(
        {"remote": {"name": "x", "base_url": "https://h/v1", "model": "m"}}
    )
    assert [e.name for e in settings.remote] == ["x"] and warnings == []
    settings, warnings = config.from_mapping({"remote": "http://h/v1"})
    assert settings.remote == () and warnings == ["remote must be [[remote]] tables; ignored."]


def test_adding_an_entry_keeps_comments_other_entries_and_unreadable_ones():
    path = write(GOOD + "\n" + BAD)
    settings, _ = config.load()
    new = RemoteEntry("studio", "http://studio:8080/v1", "qwen3-8b", "STUDIO_KEY")
    config.save(config.updated(settings, remote=with_entry(settings.remote, new)))
    text = path.read_text(encoding="utf-8")
    assert text.startswith(GOOD)  # the user's spelling of base_url too
    assert "# the big one" in text and 'api_key = "sk-live-123"' in text
    assert 'name = "bad-url"' in text and 'name = "no-model"' in text  # left for the user
    assert text.rstrip().endswith(
        '"big"\n\n[[remote]]\nname = "studio"\nbase_url = "http://studio:8080/v1"\n'
        'model = "qwen3-8b"\napi_key_env = "STUDIO_KEY"'
    )
    again, _ = config.load()
    assert [e.name for e in again.remote] == ["gpu-box", "laptop", "key-in-file", "studio"]


def test_changing_and_removing_entries_edits_only_their_tables():
    path = write(GOOD)
    settings, _ = config.load()
    laptop = find(settings.remote, "laptop")
    changed = RemoteEntry("laptop", laptop.base_url, "qwen3:14b", context_window=8192)
    config.save(config.updated(settings, remote=with_entry(settings.remote, changed)))
    text = path.read_text(encoding="utf-8")
    assert 'model = "qwen3:14b"\ncontext_window = 8192' in text and "# the big one" in text
    settings, _ = config.load()
    config.save(config.updated(settings, remote=settings.remote[1:]))
    text = path.read_text(encoding="utf-8")
    assert "gpu-box:8000" not in text and "# my servers" in text and 'name = "laptop"' in text
    config.save(config.updated(config.load()[0], remote=()))
    assert "[[remote]]" not in path.read_text(encoding="utf-8")


def test_a_new_file_gets_remote_tables():
    entry = RemoteEntry("box", "http://box:8000/v1", "Qwen/Qwen3-8B", "BOX_KEY")
    config.save(config.Settings(model="box", remote=(entry,)))
    text = config.paths.config_file().read_text(encoding="utf-8")
    assert "[[remote]]" in text
    assert config.load() == (config.Settings(model="box", remote=(entry,)), [])
