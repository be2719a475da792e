"""Every app binding, with an id so a [keys] table in config.toml can remap it."""

from __future__ import annotations

from textual.binding import Binding

# (id, default keys, action, description, shown in the footer)
APP_KEYS: list[tuple[str, str, str, str, bool]] = [
    ("stop", "escape", "stop", "Stop reply", True),
    ("new_chat", "ctrl+n", "new_chat", "New chat", True),
    ("search", "ctrl+f", "search", "Search", True),
    ("regenerate", "ctrl+r", "regenerate", "Regenerate", True),
    ("edit_last", "ctrl+g", "edit_last", "Edit last", False),
    ("continue_reply", "ctrl+e", "continue_reply", "Continue reply", False),
    ("copy_reply", "ctrl+o", "copy_reply", "Copy reply", False),
    ("copy_code", "ctrl+t", "copy_code", "Copy code", False),
    ("attach_file", "ctrl+l", "attach_file", "Attach file", False),
    ("rename_chat", "f2", "rename_chat", "Rename", False),
    ("chat_settings", "f3", "chat_settings", "Chat settings", False),
    ("switch_model", "f4", "switch_model", "Model", True),
    ("export_chat", "f5", "export_chat", "Export", False),
    ("toggle_thinking", "f6", "toggle_thinking", "Show/hide thinking", False),
    ("thinking_switch", "f7", "thinking_switch", "Thinking on/off", False),
    ("delete_chat", "f8", "delete_chat", "Delete", False),
    ("import_chat", "f9", "import_chat", "Import", False),
    ("chat_tools", "f12", "chat_tools", "Tools (MCP servers)", False),
    ("setup_model", "f10", "app.setup_model", "Set up a model", False),
    ("settings", "ctrl+s", "app.settings", "Settings", True),
    ("toggle_sidebar", "ctrl+b", "toggle_sidebar", "Sidebar", False),
    ("help", "f1", "app.help", "Help", True),
    ("quit", "ctrl+q", "app.quit", "Quit", True),
]

# Keys handled by the prompt itself (listed in help; remappable the same way).
PROMPT_KEYS: list[tuple[str, str, str, str, bool]] = [
    ("send", "enter", "send", "Send", True),
    ("newline", "ctrl+j,shift+enter", "newline", "New line", True),
]


def make_bindings(
    table: list[tuple[str, str, str, str, bool]], priority: bool = False
) -> list[Binding]:
    """Priority bindings win over the focused prompt, which binds many ctrl keys itself."""
    return [
        Binding(keys, action, description, show=show, id=binding_id, priority=priority)
        for binding_id, keys, action, description, show in table
    ]


# "?" opens help only where it is not typed into a text field, so it is not a priority key.
HELP_QUESTION = Binding("question_mark", "app.help", "Help", show=False, id="help_question")


def describe_keys(keymap: dict[str, str]) -> list[tuple[str, str, str]]:
    """(keys, description, id) for the help screen, with remaps applied."""
    rows = []
    for binding_id, keys, _action, description, _show in PROMPT_KEYS + APP_KEYS:
        rows.append((keymap.get(binding_id, keys), description, binding_id))
    rows.append((keymap.get("help_question", "?"), "Help (outside text fields)", "help_question"))
    rows.append(("ctrl+p", "Command palette", "command_palette"))
    return rows
