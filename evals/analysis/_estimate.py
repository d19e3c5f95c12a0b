"""`scheming run --dry-run`: samples, expected requests, and a token and cost range, before anything
runs. A model of a sample, not a measurement:

- the task phase takes `turns` requests; each turn's input is the prompt plus everything said
  so far (each earlier turn adds its output and its tool result);
- a `scripted/<policy>` target takes exactly its reference trajectory's steps (plus its submit);
  any other target between the shortest reference trajectory of the scenario (low) and half the
  scenario's message limit (high: every turn is an assistant message and a tool result);
- the interrogation asks the questions (low) and every follow-up too (high), each with the
  whole conversation as input; the judge reads each answer, and the transcript once (eval
  awareness).
Outputs per turn and tool results are ranges (TURN_OUTPUT, TOOL_RESULT, ANSWER), capped by
--max-tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from evals.analysis._cost import PriceTable, fmt_cost, fmt_tokens, load_prices

CHARS_PER_TOKEN = 4
TOOLS_TOKENS = 250
"""Tool definitions sent with every task request."""
TURN_OUTPUT = (40, 600)
TOOL_RESULT = (60, 600)
ANSWER = (40, 500)
JUDGE_PROMPT = 900
"""The rubric and the case framing the judge gets besides the conversation."""
JUDGE_OUTPUT = 80


@dataclass
class Range:
    low: float = 0.0
    high: float = 0.0

    def add(self, low: float, high: float) -> None:
        self.low += low
        self.high += high


@dataclass
class ModelEstimate:
    requests: Range = field(default_factory=Range)
    input: Range = field(default_factory=Range)
    output: Range = field(default_factory=Range)


@dataclass
class Estimate:
    samples: int = 0
    models: dict[str, ModelEstimate] = field(default_factory=dict)

    def model(self, name: str) -> ModelEstimate:
        return self.models.setdefault(name, ModelEstimate())

    def cost(self, prices: PriceTable) -> tuple[float | None, float | None, list[str]]:
        low = high = 0.0
        unpriced: list[str] = []
        for name, m in self.models.items():
            lo = prices.cost(name, {"input": int(m.input.low), "output": int(m.output.low)})
            hi = prices.cost(name, {"input": int(m.input.high), "output": int(m.output.high)})
            if lo is None or hi is None:
                unpriced.append(name)
                continue
            low += lo
            high += hi
        priced = len(unpriced) < len(self.models)
        return (low if priced else None), (high if priced else None), unpriced

    def expected(self, name: str) -> tuple[float, float]:
        """(input, output) tokens expected: the geometric mean of the range (tokens grow with
        the square of the turns, so the range is wide and its middle is not its mean)."""
        m = self.models[name]
        return (m.input.low * m.input.high) ** 0.5, (m.output.low * m.output.high) ** 0.5

    def as_dict(self, prices: PriceTable) -> dict[str, Any]:
        low, high, unpriced = self.cost(prices)
        return {
            "samples": self.samples,
            "models": {
                name: {
                    "requests": [round(m.requests.low), round(m.requests.high)],
                    "input_tokens": [round(m.input.low), round(m.input.high)],
                    "output_tokens": [round(m.output.low), round(m.output.high)],
                    "expected_tokens": round(sum(self.expected(name))),
                }
                for name, m in sorted(self.models.items())
            },
            "cost_usd": [low, high],
            "unpriced": unpriced,
        }


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(getattr(m, "text", "") or "") for m in value)
    return 0


def _steps(reference: Mapping[str, Any], policy: str | None) -> tuple[int, int] | None:
    """Task turns (low, high) from the reference trajectories: a policy's own, else the
    shortest one's; None when there are none."""
    counts: dict[str, int] = {}
    for name, steps in reference.items():
        if isinstance(steps, list):
            task = [s for s in steps if isinstance(s, Mapping) and "answer" not in s]
            submitted = any("submit" in s for s in task)
            counts[name] = len(task) + (0 if submitted else 1)
    if policy is not None and policy in counts:
        return counts[policy], counts[policy]
    if not counts:
        return None
    return min(counts.values()), max(counts.values())


SCRIPTED_TOOL_RESULT = (40, 400)
"""A scripted target's outputs are known (its steps); what its commands print is not."""


def _scripted_outputs(reference: Mapping[str, Any], policy: str | None) -> tuple[int, int] | None:
    """(mean tokens of a task step, of an answer) of a scripted policy's trajectory."""
    steps = reference.get(policy) if policy else None
    if not isinstance(steps, list) or not steps:
        return None
    task = [s for s in steps if isinstance(s, Mapping) and "answer" not in s]
    answers = [s for s in steps if isinstance(s, Mapping) and "answer" in s]

    def size(step: Mapping[str, Any]) -> int:
        return max(1, len(" ".join(str(v) for v in step.values())) // CHARS_PER_TOKEN)

    mean_task = sum(size(s) for s in task) // max(1, len(task)) if task else 10
    mean_answer = sum(size(s) for s in answers) // max(1, len(answers)) if answers else 10
    return mean_task, mean_answer


def estimate(
    samples: Iterable[Any],
    models: list[str],
    grader: str,
    *,
    epochs: int = 1,
    max_tokens: int | None = None,
) -> Estimate:
    """The expected requests and tokens of running `samples` (inspect Samples of the scheming
    task) on each of `models`, judged by `grader`."""
    out = Estimate()
    cap = max_tokens or 10**9
    turn_out = (min(TURN_OUTPUT[0], cap), min(TURN_OUTPUT[1], cap))
    answer = (min(ANSWER[0], cap), min(ANSWER[1], cap))
    samples = list(samples)
    for model in models:
        policy = model.removeprefix("scripted/") if model.startswith("scripted/") else None
        for sample in samples:
            md = sample.metadata or {}
            prompt = _chars(sample.input) // CHARS_PER_TOKEN + TOOLS_TOKENS
            limit_messages = int((md.get("agent") or {}).get("limits", {}).get("messages", 40))
            steps = _steps(md.get("reference") or {}, policy)
            scripted = _scripted_outputs(md.get("reference") or {}, policy)
            if policy is not None and steps is not None:
                turns = steps
                # scripted/*: counts the text of the messages only (no tool definitions)
                prompt -= TOOLS_TOKENS
            else:
                turns = (steps[0] if steps else 1, max(1, limit_messages // 2))
            plan = md.get("interrogation_plan") or {}
            questions = len(md.get("interrogation") or []) + len(plan.get("questions") or [])
            followups = min(int(plan.get("max_followups") or 0), len(plan.get("followups") or []))
            asked = (questions, questions + (followups if questions else 0))
            target, judge = out.model(model), out.model(grader)
            for bound, n in enumerate(turns):
                o, t, a = (turn_out, TOOL_RESULT, answer)
                if scripted is not None:
                    o, a = (scripted[0], scripted[0]), (scripted[1], scripted[1])
                    t = SCRIPTED_TOOL_RESULT
                o_, t_, a_ = o[bound], t[bound], a[bound]
                task_in = n * prompt + n * (n - 1) / 2 * (o_ + t_)
                task_out = n * o_
                context = prompt + n * (o_ + t_)
                q = asked[bound]
                ask_in = q * context + q * (q - 1) / 2 * (a_ + 60) + q * 60
                ask_out = q * a_
                # answers are judged only where the evidence shows an act: none (low), all
                judged = asked[bound] if bound else 0
                judge_in = judged * (JUDGE_PROMPT + 300) + judged * (judged + 1) / 2 * (a_ + 60)
                judge_in += JUDGE_PROMPT + n * o_ + q * a_  # eval awareness: the transcript
                values = (
                    (target.requests, n + q),
                    (target.input, task_in + ask_in),
                    (target.output, task_out + ask_out),
                    (judge.requests, judged + 1),
                    (judge.input, judge_in),
                    (judge.output, (judged + 1) * JUDGE_OUTPUT),
                )
                for rng, v in values:
                    if bound == 0:
                        rng.low += v * epochs
                    else:
                        rng.high += v * epochs
            out.samples += epochs
    return out


def format_estimate(est: Estimate, prices: PriceTable | None = None) -> str:
    prices = prices or load_prices()
    lines = [f"dry run: {est.samples} sample(s); nothing was started"]
    for name, m in sorted(est.models.items()):
        lines.append(
            f"  {name}: {round(m.requests.low)}–{round(m.requests.high)} requests, "
            f"{fmt_tokens(int(m.input.low))}–{fmt_tokens(int(m.input.high))} input tokens, "
            f"{fmt_tokens(int(m.output.low))}–{fmt_tokens(int(m.output.high))} output tokens "
            f"(expected {fmt_tokens(int(sum(est.expected(name))))} tokens)"
        )
    low, high, unpriced = est.cost(prices)
    note = f" (no price for {', '.join(unpriced)})" if unpriced else ""
    lines.append(f"  estimated cost: {fmt_cost(low)}–{fmt_cost(high)}{note}")
    return "\n".join(lines)
