"""The tool loop (qwen_tui/chat/tool_loop.py) with a scripted engine, which writes the replies
a test gives it, and a real MCP server (tests/mcp_server.py) behind the real client: calls
run, approvals, the step limit, stopping, and the messages the conversation keeps.
(tests/core/test_tool_loop_engine.py runs it on the tiny real engine.)"""

from __future__ import annotations

import threading

import pytest
from mcp_server import stdio_entry
from scripted_engine import ScriptedEngine, answer, calling

from qwen_tui.chat.tool_loop import NOT_RUN, REFUSED, run_tool_loop
from qwen_tui.chat.tools import Approval
from qwen_tui.engine.types import ChatMessage, Reply, ReplyStats, ToolCall
from qwen_tui.mcp.client import McpClient


class Approver:
    def __init__(self, *answers: Approval) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, call, origin):
        self.asked.append((origin.server, origin.tool, call.arguments))
        return self.answers.pop(0)


@pytest.fixture(scope="module")
def client():
    with McpClient([stdio_entry("tests", timeout=30)]) as servers:
        servers.start()
        yield servers


USER = [ChatMessage("user", "What is 2 + 3?")]


def test_a_call_runs_and_its_result_goes_back_to_the_model(client):
    engine = ScriptedEngine(calling(("tests__add", '{"a": 2, "b": 3}')), answer("It is 5."))
    approve = Approver(Approval.ONCE)
    shown: list[str] = []
    added: list[ChatMessage] = []
    outcome = run_tool_loop(
        engine, USER, client.tool_specs(), client, approve,
        on_text=shown.append, on_message=added.append,
    )  # fmt: skip
    assert outcome.ended == "answered" and outcome.reply.text == "It is 5."
    assert approve.asked == [("tests", "add", '{"a": 2, "b": 3}')]
    [step] = outcome.steps
    assert step.result.ok and step.result.text == "5" and step.approval is Approval.ONCE
    call = ToolCall("call_0", "tests__add", '{"a": 2, "b": 3}')
    assert (
        outcome.messages
        == added
        == [
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", "5", tool_call_id="call_0", name="tests__add"),
            ChatMessage("assistant", "It is 5."),
        ]
    )
    assert engine.asked[1]["messages"] == USER + added[:2]  # the model saw the result
    assert engine.asked[0]["tools"] == tuple(client.tool_specs())
    assert [a["choice"] for a in engine.asked] == [None, None]
    assert shown == ["It is 5."]


def test_once_asks_each_time_always_asks_once_per_tool_in_the_conversation(client):
    twice = calling(("tests__add", '{"a": 1, "b": 1}'), ("tests__add", '{"a": 2, "b": 2}'))
    approve = Approver(Approval.ONCE, Approval.ONCE)
    run_tool_loop(ScriptedEngine(twice, answer("ok")), USER, [], client, approve)
    assert len(approve.asked) == 2

    conversation: set[str] = set()
    approve = Approver(Approval.ALWAYS)
    outcome = run_tool_loop(
        ScriptedEngine(twice, answer("ok")), USER, [], client, approve, always=conversation
    )
    assert len(approve.asked) == 1 and conversation == {"tests__add"}
    assert [s.result.text for s in outcome.steps] == ["2", "4"]
    # a later reply of the same conversation: not asked again; another tool is
    approve = Approver(Approval.ONCE)
    again = calling(("tests__add", '{"a": 5, "b": 5}'), ("tests__weather", '{"city": "Oslo"}'))
    outcome = run_tool_loop(
        ScriptedEngine(again, answer("ok")), USER, [], client, approve, always=conversation
    )
    assert approve.asked == [("tests", "weather", '{"city": "Oslo"}')]
    assert [s.result.text for s in outcome.steps] == ["10", "Sunny, 21 °C in Oslo."]


def test_a_refused_call_is_not_run_and_the_model_is_told(client):
    engine = ScriptedEngine(calling(("tests__crash", "{}")), answer("I could not."))
    outcome = run_tool_loop(engine, USER, [], client, Approver(Approval.REFUSE))
    assert outcome.ended == "answered"
    assert outcome.messages[1].content == f"Error: {REFUSED}"
    assert client.status("tests").state == "ready"  # crash did not run
    assert client.call("tests__add", {"a": 1, "b": 2}).text == "3"


def test_unknown_tools_and_bad_arguments_are_answered_without_asking(client):
    engine = ScriptedEngine(
        calling(("weather_api", '{"city": "Paris"}'), ("tests__add", "[1, 2]")), answer("ok")
    )
    approve = Approver()
    outcome = run_tool_loop(engine, USER, [], client, approve)
    assert approve.asked == []
    assert [m.content for m in outcome.messages[1:3]] == [
        "Error: There is no tool weather_api.",
        "Error: The arguments of tests__add are not a JSON object.",
    ]


def test_a_failing_tool_is_an_error_message_and_the_loop_goes_on(client):
    engine = ScriptedEngine(calling(("tests__refuse", '{"reason": "no disk"}')), answer("Sorry."))
    outcome = run_tool_loop(engine, USER, [], client, Approver(Approval.ONCE))
    assert outcome.ended == "answered"
    assert outcome.messages[1].content == "Error executing tool refuse: no disk"
    assert not outcome.steps[0].result.ok


def test_the_step_limit_makes_the_model_answer(client):
    engine = ScriptedEngine(calling(("tests__add", '{"a": 1, "b": 1}')))  # it calls forever
    outcome = run_tool_loop(
        engine, USER, client.tool_specs(), client, Approver(*[Approval.ONCE] * 3), max_steps=3
    )
    assert outcome.ended == "step_limit"
    assert [a["choice"] for a in engine.asked] == [None, None, None, "none"]
    assert len(outcome.steps) == 3
    # the last reply's calls (made in spite of "none") are dropped: every call kept is answered
    assert outcome.messages[-1] == ChatMessage("assistant", "")
    calls = [c.id for m in outcome.messages for c in m.tool_calls]
    answered = [m.tool_call_id for m in outcome.messages if m.role == "tool"]
    assert calls == answered == ["call_0"] * 3


def test_cancel_while_asked_leaves_the_round_answered_and_stops(client):
    cancel = threading.Event()

    def approve(call, origin):
        cancel.set()  # Esc pressed while the question was shown
        return Approval.ONCE

    engine = ScriptedEngine(
        calling(("tests__add", '{"a": 1, "b": 1}'), ("tests__pid", "{}")), answer("never")
    )
    outcome = run_tool_loop(engine, USER, [], client, approve, cancel=cancel)
    assert outcome.ended == "stopped" and len(engine.asked) == 1
    assert [m.content for m in outcome.messages if m.role == "tool"] == [f"Error: {NOT_RUN}"] * 2


def test_cancel_during_a_call_abandons_it_and_stops(client):
    cancel = threading.Event()
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    engine = ScriptedEngine(calling(("tests__wait_forever", "{}")), answer("never"))
    outcome = run_tool_loop(engine, USER, [], client, Approver(Approval.ONCE), cancel=cancel)
    assert outcome.ended == "stopped" and len(engine.asked) == 1
    assert outcome.messages[-1].content == "Error: Stopped while wait_forever ran."
    assert client.call("tests__add", {"a": 1, "b": 2}).text == "3"


def test_a_reply_stopped_while_written_runs_no_call(client):
    stopped = Reply(
        "Let me",
        ReplyStats(finish_reason="cancelled"),
        tool_calls=(ToolCall("call_0", "tests__add", "{}"),),
    )
    approve = Approver()
    outcome = run_tool_loop(ScriptedEngine(stopped), USER, [], client, approve)
    assert outcome.ended == "stopped" and approve.asked == [] and outcome.steps == []
    assert outcome.messages == [ChatMessage("assistant", "Let me")]
