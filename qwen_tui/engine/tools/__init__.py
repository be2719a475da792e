"""Function calling: what a chat template is given for tools (``template.py``), a call as a
model writes it (``parse.py``, both Qwen forms), calls taken out of a streaming answer
(``stream.py``), and the part of JSON Schema their arguments are checked with (``schema.py``)."""

from .parse import new_call_id, read_call
from .schema import mismatch, schema_problem
from .stream import ToolCallFilter, split_calls
from .template import (
    JSON_FORM,
    XML_FORM,
    ToolPlan,
    ToolsNotSupported,
    call_opening,
    message_dict,
    plan_tools,
    tool_dicts,
    tool_format,
    uses_tools,
)

__all__ = [
    "JSON_FORM",
    "XML_FORM",
    "ToolCallFilter",
    "ToolPlan",
    "ToolsNotSupported",
    "call_opening",
    "message_dict",
    "mismatch",
    "new_call_id",
    "plan_tools",
    "read_call",
    "schema_problem",
    "split_calls",
    "tool_dicts",
    "tool_format",
    "uses_tools",
]
