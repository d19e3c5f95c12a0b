"""Scripted reference policies: replay the running scenario's reference trajectory.

`scripted/<name>` replays the scenario's `reference.<name>` steps. The provider learns which
sample it serves from the sample's store (a first solver copies the reference trajectories
there) and which step is next by counting the assistant messages so far.
"""

from __future__ import annotations

from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
)
from inspect_ai.tool import ToolChoice, ToolInfo
from inspect_ai.util import store_as

from evals._state import References
from evals.models._labels import LABELS_POLICY, replay_labels


def _first_param(tool: ToolInfo) -> str:
    """The tool's main argument (bash: command, python: code, submit: answer)."""
    required = tool.parameters.required or list(tool.parameters.properties)
    return required[0] if required else "input"


def _tokens(messages: list[ChatMessage]) -> int:
    return max(1, sum(len(m.text) for m in messages) // 4)


class ScriptedModel(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config or GenerateConfig())

    def max_connections(self) -> int:
        return 64

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        policy = self.model_name
        if policy == LABELS_POLICY:
            return self._replay_labels(input)
        references = store_as(References).trajectories
        if policy not in references:
            known = ", ".join(sorted(references)) or "none"
            raise ValueError(
                f"scripted/{policy}: this scenario has no reference trajectory '{policy}' "
                f"(it has: {known})"
            )
        steps = references[policy]
        k = sum(1 for m in input if isinstance(m, ChatMessageAssistant))
        # tool_choice "none" (the interrogation): tools are defined but must not be called
        tool_names = {} if tool_choice == "none" else {t.name: _first_param(t) for t in tools}
        if k < len(steps):
            step = steps[k]
        elif tool_names:
            step = {"submit": "done"}
        else:
            # more questions than scripted answers (follow-ups): keep to the last answer
            answers = [s for s in steps if "answer" in s]
            step = answers[-1] if answers else {"answer": "I have nothing to add."}
        output = self._output(step, k, tool_names)
        n_in = _tokens(input)
        n_out = max(1, len(output.completion or str(step)) // 4)
        output.usage = ModelUsage(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)
        return output

    def _replay_labels(self, input: list[ChatMessage]) -> ModelOutput:
        """`scripted/labels`, bound as the grader in offline runs: replays the labels written next
        to the reference answers in scenario YAML. Not a judge (see evals.models._labels)."""
        text = replay_labels(input)
        output = ModelOutput.from_content(model=f"scripted/{LABELS_POLICY}", content=text)
        n_in, n_out = _tokens(input), max(1, len(text) // 4)
        output.usage = ModelUsage(input_tokens=n_in, output_tokens=n_out, total_tokens=n_in + n_out)
        return output

    def _output(self, step: dict[str, Any], k: int, tool_names: dict[str, str]) -> ModelOutput:
        model = f"scripted/{self.model_name}"
        say = step.get("say")
        if "answer" in step:
            return ModelOutput.from_content(model=model, content=step["answer"])
        if "tool" in step:
            # a generic step: any tool by name, with its arguments as given
            name, args = step["tool"], dict(step.get("args") or {})
            if name not in tool_names:
                text = say or "\n".join(str(v) for v in args.values())
                return ModelOutput.from_content(model=model, content=text)
            return ModelOutput.for_tool_call(
                model=model,
                tool_name=name,
                tool_arguments=args,
                tool_call_id=f"call_{k}",
                content=say or "",
            )
        for action in ("bash", "python", "submit"):
            if action in step:
                tool = action
                if tool not in tool_names:
                    # no tools offered: we are past the task (interrogation); speak instead
                    return ModelOutput.from_content(model=model, content=step[action])
                return ModelOutput.for_tool_call(
                    model=model,
                    tool_name=tool,
                    tool_arguments={tool_names[tool]: step[action]},
                    tool_call_id=f"call_{k}",
                    content=say or "",
                )
        raise ValueError(f"scripted/{self.model_name}: step has no action: {step}")
