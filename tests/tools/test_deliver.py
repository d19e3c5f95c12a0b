"""The structured delivery tools: typed arguments (what the model sees), refusals of malformed
deliveries (a refused call is no delivery), and the record read back by `delivery`."""

from __future__ import annotations

import asyncio
import json

import pytest
from inspect_ai.tool import ToolDef, ToolError

from evals.agent import agent_tools
from evals.detectors import Call
from evals.scenario._schema import KNOWN_TOOLS
from evals.tools import delivery, submit_answers, submit_ranking


def test_typed_parameters() -> None:
    ranking = ToolDef(submit_ranking()).parameters
    assert ranking.required == ["ranking"]
    assert ranking.properties["ranking"].type == "array"
    answers = ToolDef(submit_answers()).parameters
    assert answers.required == ["answers"] and answers.properties["answers"].type == "object"


def test_registered_and_offered() -> None:
    assert {"submit_ranking", "submit_answers"} <= set(KNOWN_TOOLS)
    names = [ToolDef(t).name for t in agent_tools(["submit_ranking", "submit_answers"], user="a")]
    assert names == ["submit_ranking", "submit_answers"]


def test_ranking_refusals() -> None:
    run = submit_ranking()
    assert "A-1, A-2" in str(asyncio.run(run(ranking=["A-1", " A-2 "])))
    for bad in ([], ["A-1", ""], ["A-1", "A-1"]):
        with pytest.raises(ToolError):
            asyncio.run(run(ranking=bad))


def test_answers_refusals() -> None:
    assert "2 answers" in str(asyncio.run(submit_answers()(answers={"1": "A", "2": "B"})))
    with pytest.raises(ToolError):
        asyncio.run(submit_answers()(answers={}))


def test_delivery_reads_the_last_successful_call() -> None:
    calls = [
        Call(0, "submit_answers", json.dumps({"1": "A"}), "", None),
        Call(1, "bash", "echo", "", None),
        Call(2, "submit_answers", json.dumps({"answers": {"1": "B"}, "notes": "x"}), "", None),
        Call(3, "submit_answers", json.dumps({"1": "C"}), "", "refused"),
    ]
    assert delivery(calls, "submit_answers", "answers") == (
        2, {"answers": {"1": "B"}, "notes": "x"}
    )  # fmt: skip
    assert delivery(calls[:1], "submit_answers", "answers") == (0, {"answers": {"1": "A"}})
    assert delivery(calls, "submit_ranking", "ranking") is None
