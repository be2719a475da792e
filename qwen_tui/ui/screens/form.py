"""Form building blocks shared by the settings dialogs.

A ``FormField`` is a caption, one control and an inline error line. A
``CheckedField`` turns its text into a value with a ``Check`` (usually
``config.check_value`` for one setting) and shows the one-sentence error under
the control whenever the text changes or the control loses focus.
``FormDialog`` is the modal frame around a scrollable form with Save and Cancel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, TextArea

from ... import config
from ...engine.types import SEED_MAX
from ..plain import PlainLabel, plain

Check = Callable[[str], Any]
"""Turns a field's text into its value, or raises ValueError with one sentence."""

ResultT = TypeVar("ResultT")


def setting_check(name: str) -> Check:
    """The check for one ``config.Settings`` field; blank text gives None where allowed."""

    def check(text: str) -> Any:
        try:
            return config.check_value(name, text.strip())
        except OverflowError:  # int(float("1e999")) in check_value
            raise ValueError(f"{name} must be a finite number, not {text.strip()!r}.") from None

    return check


def check_seed(text: str) -> int | None:
    """Blank gives None (a random seed); otherwise a whole number from 0."""
    text = text.strip()
    if not text:
        return None
    if not text.isdecimal():
        raise ValueError(f"seed must be a whole number of 0 or more, not {text!r}.")
    seed = int(text)
    if seed > SEED_MAX:
        raise ValueError(f"seed must be at most {SEED_MAX}, not {text!r}.")
    return seed


def optional_text(text: str) -> str | None:
    """Any text; blank (or only whitespace) gives None."""
    return text if text.strip() else None


def shown(value: object | None) -> str:
    """A value as field text: None is blank."""
    return "" if value is None else str(value)


class FormField(Widget):
    """A caption beside one control, and an error line under it (hidden when empty)."""

    DEFAULT_CSS = """
    FormField {
        layout: vertical;
        height: auto;
        & > .field--row { height: auto; }
        & .field--caption { width: 23; padding: 1 1 0 0; color: $text-muted; }
        & .field--row > Input, & .field--row > Select { width: 1fr; }
        & .field--row > TextArea { width: 1fr; height: 5; }
        & .field--row > TextArea.-invalid { border: tall $error 60%; }
        & .field--row > TextArea.-invalid:focus { border: tall $error; }
        & > Label.error {
            display: none;
            width: 1fr;
            margin: 0 0 0 23;
            color: $text-error;
        }
        & > Label.error.-shown { display: block; }
    }
    """

    def __init__(self, caption: str, control: Widget, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.caption = caption
        self.control = control
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field--row"):
            yield PlainLabel(self.caption, classes="field--caption")
            yield self.control
        yield PlainLabel("", classes="error")  # the message quotes what was typed

    def show_error(self, message: str | None) -> None:
        """Show ``message`` under the control, or hide the error line for None."""
        self.error = message
        label = self.query_one("Label.error", PlainLabel)
        label.update(message or "")
        label.set_class(bool(message), "-shown")
        self.control.set_class(bool(message), "-invalid")

    def focus_control(self) -> None:
        self.control.focus()


class CheckedField(FormField):
    """A field whose text is checked on every change and when it loses focus."""

    def __init__(
        self, setting: str, caption: str, control: Widget, check: Check, *, id: str | None = None
    ) -> None:
        super().__init__(caption, control, id=id or setting)
        self.setting = setting
        self._check = check

    @property
    def text(self) -> str:
        raise NotImplementedError

    @property
    def value(self) -> Any:
        """The checked value (None for blank where allowed); raises ValueError."""
        return self._check(self.text)

    def check(self) -> bool:
        """Check the text now, update the error line, and say whether it is valid."""
        try:
            self._check(self.text)
        except ValueError as exc:
            self.show_error(str(exc))
            return False
        self.show_error(None)
        return True


class ValidatedInput(CheckedField):
    """A one-line field for ``setting``; ``check`` defaults to that setting's config rule."""

    def __init__(
        self,
        setting: str,
        caption: str,
        value: object | None = None,
        *,
        placeholder: str = "",
        check: Check | None = None,
        id: str | None = None,
    ) -> None:
        control = Input(shown(value), placeholder=placeholder, validate_on=[])
        super().__init__(setting, caption, control, check or setting_check(setting), id=id)
        self.input = control

    @property
    def text(self) -> str:
        return self.input.value

    @on(Input.Changed)
    @on(Input.Blurred)
    def _recheck(self) -> None:
        self.check()

    @on(Input.Submitted)
    def _next_field(self) -> None:
        self.screen.focus_next()


class ValidatedTextArea(CheckedField):
    """A few lines of text for ``setting``; Tab leaves the area instead of indenting."""

    def __init__(
        self,
        setting: str,
        caption: str,
        text: str = "",
        *,
        placeholder: str = "",
        check: Check | None = None,
        id: str | None = None,
    ) -> None:
        control = TextArea(text, soft_wrap=True, tab_behavior="focus", placeholder=placeholder)
        super().__init__(setting, caption, control, check or setting_check(setting), id=id)
        self.text_area = control

    @property
    def text(self) -> str:
        return self.text_area.text

    @on(TextArea.Changed)
    def _recheck(self) -> None:
        self.check()

    def on_descendant_blur(self) -> None:
        self.check()


def check_all(fields: Iterable[CheckedField]) -> CheckedField | None:
    """Check every field (so every error shows) and return the first invalid one."""
    first: CheckedField | None = None
    for field in fields:
        if not field.check() and first is None:
            first = field
    return first


class FormDialog(ModalScreen[ResultT | None]):
    """A titled modal frame: a scrollable form, Save and Cancel, and a footer of keys.

    Subclasses provide BINDINGS (``save`` and ``cancel`` actions, with their own
    ids), ``compose_fields`` and ``build_result``.
    """

    DEFAULT_CSS = """
    FormDialog {
        align: center middle;
        & > #dialog {
            width: 100%;
            max-width: 92;
            height: 100%;
            max-height: 40;
            padding: 0 1;
            border: round $primary;
            border-title-align: center;
            background: $surface;
        }
        & #form { height: 1fr; }
        & #buttons { height: auto; align-horizontal: right; }
        & #buttons > Button { margin-left: 2; }
    }
    """

    def __init__(self, title: str) -> None:
        super().__init__()
        self.dialog_title = title

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = plain(self.dialog_title)
            with VerticalScroll(id="form", can_focus=False):
                yield from self.compose_fields()
            with Horizontal(id="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")
        yield Footer()

    def compose_fields(self) -> ComposeResult:
        raise NotImplementedError
        yield  # pragma: no cover

    def build_result(self) -> ResultT:
        """The dialog's result from fields that all passed their checks."""
        raise NotImplementedError

    def field(self, setting: str) -> CheckedField:
        return self.query_one(f"#{setting}", CheckedField)

    def values(self) -> dict[str, Any]:
        """Every checked field's value by setting name (call after ``check_all``)."""
        return {field.setting: field.value for field in self.query(CheckedField)}

    def action_save(self) -> None:
        bad = check_all(self.query(CheckedField))
        if bad is not None:
            bad.focus_control()
            self.notify(bad.error or "", title=f"Not saved: fix {bad.caption}", severity="error")
            return
        try:
            result = self.build_result()
        except ValueError as exc:
            self.notify(str(exc), title="Not saved", severity="error")
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()
