"""`latency/<policy>`: the scripted replay of `<policy>` after waiting `delay` seconds (model
arg, default 5) on every turn, as a remote API would: for throughput benchmarks
(bench/bench_throughput.py) and for tests of what happens while a model thinks between two
tool calls."""

from __future__ import annotations

from typing import Any

import anyio
from inspect_ai.model import ChatMessage, GenerateConfig, ModelOutput
from inspect_ai.tool import ToolChoice, ToolInfo

from evals.models._scripted import ScriptedModel


class LatencyModel(ScriptedModel):
    """The scripted replay, after `delay` seconds on every turn."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, config)
        self.delay = float(model_args.get("delay", 5.0))

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        await anyio.sleep(self.delay)
        return await super().generate(input, tools, tool_choice, config)
