"""A chat's thinking switch, and Qwen3's soft switches ``/think`` and ``/no_think``.

Qwen3 reads ``/think`` and ``/no_think`` in a user (or system) message and thinks, or not,
from that turn on; they only work while the chat template's ``enable_thinking`` is not False
(the template then closes the thought before the reply starts). So here:

- a message that is only ``/think`` or ``/no_think`` sets the chat's switch (its
  ``enable_thinking``) and is not sent (``switch_only``);
- a message that holds one (``How many r's? /no_think``) is sent as typed, and its last
  switch also decides ``enable_thinking`` for that one reply (``soft_switch``), so ``/think``
  works in a chat whose switch is off, and ``/no_think`` is sure to, however weak the model.
"""

from __future__ import annotations

import re

SWITCHES = {"/think": True, "/no_think": False}
_SWITCH = re.compile(r"(?<!\S)/(think|no_think)(?!\S)")


def switch_only(text: str) -> bool | None:
    """True for a message that is only ``/think``, False for only ``/no_think``, else None."""
    return SWITCHES.get(text.strip())


def soft_switch(text: str) -> bool | None:
    """The last soft switch a message holds (as a word of its own), or None."""
    found = _SWITCH.findall(text)
    return found[-1] == "think" if found else None


def describe(thinking: str, enable_thinking: bool | None) -> str:
    """The chat's thinking as the status bar shows it, for a model that thinks in the way
    ``thinking`` says (``ModelInfo.thinking``); "" for a model that does not think."""
    if thinking == "always":
        return "thinks always"
    if thinking != "switch":
        return ""
    return "thinking off" if enable_thinking is False else "thinking on"
