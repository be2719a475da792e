"""The app settings dialog: returns a new ``Settings`` on Save, None on Cancel.

Choosing a theme previews it at once (``app.theme``); Cancel puts the theme
that was showing when the dialog opened back.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Select

from ... import config
from ...catalog import LOW_BIT_FORMATS
from ...config import Settings
from ..plain import plain
from .form import FormDialog, FormField, ValidatedInput, ValidatedTextArea

DEFAULT_ENDPOINT = "https://huggingface.co"


def _choices(names: list[str], current: str | None, missing: str) -> list[tuple[Content, str]]:
    """(label, value) pairs, keeping ``current`` choosable even when it is not listed. The
    labels are plain text: folder names, and the config file's values, are data."""
    choices = [(plain(name), name) for name in names]
    if current is not None and current not in names:
        choices.insert(0, (plain(f"{current} ({missing})"), current))
    return choices


class SettingsScreen(FormDialog[Settings]):
    """Edit the settings the app shows; fields it does not show (keys, kv_cache_mb) are kept."""

    DEFAULT_CSS = """
    SettingsScreen #system_prompt TextArea { height: 5; }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="settings_save"),
        Binding("escape", "cancel", "Cancel", id="settings_cancel"),
    ]

    def __init__(self, settings: Settings, local_models: list[str], themes: list[str]) -> None:
        super().__init__("Settings")
        self.settings = settings
        self._original_theme: str | None = None
        self.model_select: Select[str] = Select(
            _choices(local_models, settings.model, "not installed"),
            prompt="Automatic",
            allow_blank=True,
            value=settings.model if settings.model is not None else Select.NULL,
        )
        self.low_bit_select: Select[str] = Select(
            _choices(list(LOW_BIT_FORMATS), settings.low_bit, "unknown"),
            allow_blank=False,
            value=settings.low_bit,
        )
        self.theme_select: Select[str] = Select(
            _choices(themes, settings.theme, "not available"),
            allow_blank=False,
            value=settings.theme,
        )

    def compose_fields(self) -> ComposeResult:
        s = self.settings
        default = "model default"
        yield FormField("Model", self.model_select, id="model")
        yield FormField("Format for downloads", self.low_bit_select, id="low_bit")
        yield ValidatedInput("temperature", "Temperature", s.temperature, placeholder=default)
        yield ValidatedInput("top_p", "Top p", s.top_p, placeholder=default)
        yield ValidatedInput("top_k", "Top k", s.top_k, placeholder=default)
        yield ValidatedInput(
            "repetition_penalty", "Repetition penalty", s.repetition_penalty, placeholder=default
        )
        yield ValidatedInput(
            "max_new_tokens", "Max new tokens", s.max_new_tokens, placeholder=default
        )
        yield ValidatedTextArea(
            "system_prompt",
            "Default system prompt",
            s.system_prompt,
            placeholder="empty: the model's own (Qwen2.5's: \"You are Qwen, created by Alibaba…\")",
        )
        yield ValidatedInput("threads", "CPU threads", s.threads, placeholder="automatic")
        yield ValidatedInput(
            "tool_steps", "Tool-call rounds per reply", s.tool_steps, placeholder="1 to 100"
        )
        yield FormField("Theme", self.theme_select, id="theme")
        yield ValidatedInput(
            "hf_endpoint",
            "Hugging Face endpoint",
            s.hf_endpoint,
            placeholder=f"default ({DEFAULT_ENDPOINT})",
        )

    def on_mount(self) -> None:
        self._original_theme = self.app.theme
        self.model_select.focus()

    @on(Select.Changed)
    def _preview_theme(self, event: Select.Changed) -> None:
        if event.select is not self.theme_select or self.theme_select.is_blank():
            return
        theme = str(event.value)
        if theme != self.app.theme and theme in self.app.available_themes:
            self.app.theme = theme

    def build_result(self) -> Settings:
        model = None if self.model_select.is_blank() else str(self.model_select.value)
        return config.updated(
            self.settings,
            model=model,
            low_bit=str(self.low_bit_select.value),
            theme=str(self.theme_select.value),
            **self.values(),
        )

    def action_cancel(self) -> None:
        if self._original_theme is not None and self.app.theme != self._original_theme:
            self.app.theme = self._original_theme
        super().action_cancel()
