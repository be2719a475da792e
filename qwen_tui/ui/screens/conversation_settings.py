"""One conversation's system prompt, sampling settings and (for a model with Qwen3's switch)
whether it thinks.

Blank means "use the default": the app's system prompt, and for each number
the value in ``defaults`` (shown as the placeholder); the model's default for thinking.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Select

from ...engine.types import GenerationParams
from .form import (
    FormDialog,
    FormField,
    ValidatedInput,
    ValidatedTextArea,
    check_seed,
    optional_text,
)

# the thinking choices: (label, value); the value is GenerationParams.enable_thinking
THINKING_CHOICES: list[tuple[str, bool | None]] = [
    ("model default (on)", None),
    ("on", True),
    ("off: answer at once", False),
]


@dataclass(frozen=True)
class ConversationSettings:
    system_prompt: str | None  # None = the app's default system prompt
    params: GenerationParams  # None fields = the defaults


def _placeholder(default: object | None, none: str = "model default") -> str:
    return none if default is None else f"default: {default}"


class ConversationSettingsScreen(FormDialog[ConversationSettings]):
    """Edit one conversation's settings; Save returns ConversationSettings, Cancel None."""

    DEFAULT_CSS = """
    ConversationSettingsScreen #system_prompt TextArea { height: 6; }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="conversation_settings_save"),
        Binding("escape", "cancel", "Cancel", id="conversation_settings_cancel"),
    ]

    def __init__(
        self,
        title: str,
        system_prompt: str | None,
        params: GenerationParams,
        defaults: GenerationParams,
        thinking: str = "none",
    ) -> None:
        super().__init__(f"Chat settings: {title}" if title else "Chat settings")
        self.system_prompt = system_prompt
        self.params = params
        self.defaults = defaults
        # the switch only for a model that has one (ModelInfo.thinking "switch")
        self.thinking_select: Select[int] | None = None
        if thinking == "switch":
            options = [(label, i) for i, (label, _) in enumerate(THINKING_CHOICES)]
            chosen = [v for _, v in THINKING_CHOICES].index(params.enable_thinking)
            self.thinking_select = Select(options, allow_blank=False, value=chosen)

    def compose_fields(self) -> ComposeResult:
        p, d = self.params, self.defaults
        yield ValidatedTextArea(
            "system_prompt",
            "System prompt",
            self.system_prompt or "",
            placeholder="Blank: the default system prompt from Settings",
            check=optional_text,
        )
        yield ValidatedInput(
            "temperature", "Temperature", p.temperature, placeholder=_placeholder(d.temperature)
        )
        yield ValidatedInput("top_p", "Top p", p.top_p, placeholder=_placeholder(d.top_p))
        yield ValidatedInput("top_k", "Top k", p.top_k, placeholder=_placeholder(d.top_k))
        yield ValidatedInput(
            "repetition_penalty",
            "Repetition penalty",
            p.repetition_penalty,
            placeholder=_placeholder(d.repetition_penalty),
        )
        yield ValidatedInput(
            "max_new_tokens",
            "Max new tokens",
            p.max_new_tokens,
            placeholder=_placeholder(d.max_new_tokens),
        )
        yield ValidatedInput(
            "seed", "Seed", p.seed, placeholder=_placeholder(d.seed, "random"), check=check_seed
        )
        if self.thinking_select is not None:
            yield FormField("Thinking", self.thinking_select, id="enable_thinking")

    def on_mount(self) -> None:
        self.field("system_prompt").focus_control()

    def build_result(self) -> ConversationSettings:
        values = self.values()
        system_prompt = values.pop("system_prompt")
        params = GenerationParams(**values, enable_thinking=self.params.enable_thinking)
        if self.thinking_select is not None:  # hidden, the chat's switch is kept as it was
            choice = self.thinking_select.value
            assert isinstance(choice, int)
            params = replace(params, enable_thinking=THINKING_CHOICES[choice][1])
        return ConversationSettings(system_prompt, params)
