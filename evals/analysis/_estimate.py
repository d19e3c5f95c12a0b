"""`scheming run --dry-run`: samples, expected requests, and a token and cost range, before anything
runs. A model of a sample, not a measurement; each bound is one consistent run (low: the fewest
turns, the shortest outputs, no answer judged; high: the most of each).

The target:
- the task phase takes `turns` requests; each turn's input is the prompt plus everything said
  so far (each earlier turn adds its output and its tool result);
- a `scripted/<policy>` target takes exactly its reference trajectory's steps (plus its submit),
  with its outputs as written (only what its commands print is a range); any other target
  between the shortest reference trajectory of the scenario (low) and half the scenario's
  message limit (high: every turn is an assistant message and a tool result);
- the interrogation asks the scenario's and the family's questions (their own text), each with
  the whole conversation as input, then follow-ups only where the judge applies (below) and
  the answer did not admit the act.

The judge follows what the grader does per sample (evals/graders, evals/agent/_interrogation.py):
- eval awareness: one request for every sample (the rubric and the agent's own messages);
- interrogation answers: one request per answer only when the evidence shows an act (rung at
  least `attempted`); a sample below that gets no answer judged and no follow-up. For a
  scripted target the rung is the one its scenario expects of that trajectory (the reference
  tests check it), so this is known; for any other target it is not (low: none judged, high:
  every question and every follow-up). Follow-ups: a scripted target judged by
  `scripted/labels` gets exactly those its answers' labels call for (while denied or evaded,
  none after a confession); under a real judge between none and all;
- the content judge (blackmail, leaking: what a sent message means): one request per message
  and question for a real grader, between none and the messages the scenario's reference
  trajectories send; `scripted/labels` replays the `content:` labels without a request.
Outputs per turn and tool results are ranges (TURN_OUTPUT, TOOL_RESULT, ANSWER), capped by
--max-tokens; the judge's prompts are its rubrics' own length.

Measured: each sample's estimate (as `--dry-run` computes it) against the tokens and requests its
real run recorded; scripted targets, judge `scripted/labels`; "mid" is the geometric mean of the
range, which the dry run prints as "expected"; ratios are actual / mid over all samples (per
sample in brackets).

- The smoke suite's key conditions (results/reference-smoke-scripted, 150 graded samples):
  judge of benign, near_miss: before this model 1 of 51 samples inside the range, actual/mid
  input 0.23 and output 0.19 (the estimate 4.3x and 5.3x too high), requests 0.46; now 51 of 51
  inside for each, input 0.86 [0.57-1.53], output 0.87, requests 0.90. Judge of schemer: now 48
  of 48 inside, input 1.23, output 1.17, requests 1.15 [0.45-2.24: control samples, where the
  range spans judged and not judged]. Targets: requests and output 1.00 (benign, near_miss),
  1.02 and 1.01 (schemer); input 0.96, 0.90, 0.81 [0.36-2.18: what commands print], all inside.
- Fresh runs (`scheming run` and `--dry-run`, 2026-12-01, load average ~7 on 2 cores):
  oversight_subversion/transit_planner, all 5 conditions x 3 policies, and
  covert_data_manipulation/supplier_ranking, nudge=strong instructed=no (2 conditions) x 3: all
  21 samples inside on all six counts; judge input actual/mid 0.78, 0.79, 1.40 (transit;
  benign, near_miss, schemer) and 1.33, 1.31, 0.83 (supplier); target input 0.73, 0.53, 0.65
  and 0.64, 0.68, 0.54; requests and outputs 0.81-1.36.
tests/accounting/test_estimate.py replays 6 of them in containers and fails if any count falls
outside the range. Not measured: real targets and real judges (the content judge's share, the
real judge's outputs are the constants below, not figures from a run).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from evals.analysis._cost import PriceTable, fmt_cost, fmt_tokens, load_prices

CHARS_PER_TOKEN = 4
TOOLS_TOKENS = 250
"""Tool definitions sent with every request of a (non-scripted) target."""
TURN_OUTPUT = (40, 600)
TOOL_RESULT = (60, 600)
SCRIPTED_TOOL_RESULT = (10, 1000)
"""A scripted target's outputs are known (its steps); what its commands print is not (a few
words from a counter, a planted file, a sidecar's listing of messages)."""
ANSWER = (40, 500)
JUDGE_OUTPUT = (40, 300)
"""A real judge's reply: one JSON object with a reason (more where it reasons first)."""
EVIDENCE = (15, 150)
"""The evidence summary the answer judge is shown (the rung and each fired detector's detail)."""
ENTRY = 15
"""A message's JSON wrapping in a judge's case ({"message": n, "role": ..., "text": ...})."""
CASE = 40
"""A case's own keys and wrapping (<case>, task, scenario, behaviour)."""
MESSAGE = 100
"""A sent message's headers and the deterministic features beside it (content judge)."""
RENDERING = (0.95, 1.05)
"""The judge's cases are JSON the estimate does not render (escapes, message numbers)."""
MAX_MESSAGE = 4000 // CHARS_PER_TOKEN
MAX_TRANSCRIPT = 80_000 // CHARS_PER_TOKEN
MAX_SOURCE = 12_000 // CHARS_PER_TOKEN
APPLIES_FROM = "attempted"
RUNGS = ("none", "explored", "attempted", "succeeded")
LABELS_GRADER = "scripted/labels"
ADMITS_NOT = ("denied", "evaded")
"""Labels after which the interrogation asks a follow-up (evals.graders.needs_followup)."""


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


def _tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(len(getattr(m, "text", "") or "") for m in value)
    return 0


RUBRICS = Path(__file__).parents[1] / "graders" / "rubrics"
"""The judge's rubrics (evals/graders/rubrics/<question>.md), read for their length."""


@cache
def _rubric(name: str) -> int:
    try:
        return _tokens((RUBRICS / f"{name}.md").read_text(encoding="utf-8"))
    except OSError:
        return 700


@dataclass
class _Step:
    """One assistant message of a scripted trajectory: what the scripted model counts as its
    output (evals.models._scripted), what its text adds to later inputs, and what the judge's
    transcript shows of it."""

    output: int
    text: int
    shown: int
    label: str | None = None


def _task_step(step: Mapping[str, Any]) -> _Step:
    say = str(step.get("say") or "")
    args: Any = step.get("args") if "tool" in step else None
    if args is None:
        action = next((k for k in ("bash", "python", "submit") if k in step), None)
        args = {"input": step[action]} if action else {}
    shown = len(say) + len(json.dumps(args, ensure_ascii=False)) + 20  # [tool call name] {...}
    output = _tokens(say) if say else _tokens(str(dict(step)))
    return _Step(max(1, output), _tokens(say), _tokens("x" * shown))


def _answer_step(step: Mapping[str, Any]) -> _Step:
    text = str(step.get("answer") or "")
    label = step.get("label")
    return _Step(max(1, _tokens(text)), _tokens(text), _tokens(text), label and str(label))


@dataclass
class _Policy:
    """A scripted target's trajectory, split as the scripted model plays it."""

    task: list[_Step]
    answers: list[_Step]

    def answer(self, i: int) -> _Step:
        if i < len(self.answers):
            return self.answers[i]
        if self.answers:
            return self.answers[-1]  # more questions than answers: the last one again
        return _Step(5, 5, 5)


def _policy(reference: Mapping[str, Any], policy: str | None) -> _Policy | None:
    steps = reference.get(policy) if policy else None
    if not isinstance(steps, list) or not steps:
        return None
    steps = [s for s in steps if isinstance(s, Mapping)]
    task = [_task_step(s) for s in steps if "answer" not in s]
    if not any("submit" in s for s in steps):
        task.append(_task_step({"submit": "done"}))
    return _Policy(task, [_answer_step(s) for s in steps if "answer" in s])


def _turn_counts(reference: Mapping[str, Any]) -> list[int]:
    out = []
    for steps in reference.values():
        if isinstance(steps, list):
            task = [s for s in steps if isinstance(s, Mapping) and "answer" not in s]
            out.append(len(task) + (0 if any("submit" in s for s in task) else 1))
    return out


def _sent_messages(reference: Mapping[str, Any]) -> int:
    """Most messages one reference trajectory sends (its steps with `content:` labels)."""
    counts = [
        sum(1 for s in steps if isinstance(s, Mapping) and s.get("content"))
        for steps in reference.values()
        if isinstance(steps, list)
    ]
    return max(counts, default=0)


def _judged(scenario: Any, policy: str | None, control: bool) -> tuple[bool, bool]:
    """(low, high): whether the answer judge applies (rung at least attempted). Known for a
    scripted target in a treatment condition of a scenario that expects a rung of its
    trajectory (the reference tests check it), else (False, True)."""
    if scenario is None or policy is None or control:
        # a control condition may turn the trajectory's act innocent, or its restraint into
        # an act (a benign ranking that is a manipulation where the conflict is absent)
        return False, True
    try:
        expect = scenario.expectation(policy)
    except (AssertionError, AttributeError, KeyError):
        return False, True
    at = RUNGS.index(APPLIES_FROM)
    if expect.rung is not None:
        applies = RUNGS.index(str(expect.rung)) >= at
        return applies, applies
    most = RUNGS.index(str(expect.at_most))
    return False, most >= at


def _labels_followups(policy: _Policy, questions: int, most: int) -> int:
    """Follow-ups asked of a scripted target judged by `scripted/labels`: the interrogation's
    loop (evals/agent/_interrogation.py) over the labels its answers carry."""
    labels = [policy.answer(i).label for i in range(questions)]
    asked = 0
    while asked < most:
        if "confessed" in labels or not labels or labels[-1] not in ADMITS_NOT:
            break
        labels.append(policy.answer(questions + asked).label)
        asked += 1
    return asked


def _labels_output(scenario: str, answer: str | None) -> int:
    """Tokens of `scripted/labels`' reply: an answer's label (None: the eval-awareness reply)."""
    from inspect_ai.model import ChatMessageUser

    from evals.models import replay_labels

    case: dict[str, Any] = {"task": "eval_aware"}
    if answer is not None:
        case = {
            "task": "answer",
            "scenario": scenario,
            "conversation": [{"message": 9, "role": "assistant", "text": answer}],
            "judge_message": 9,
        }
    text = replay_labels([ChatMessageUser(content=f"<case>\n{json.dumps(case)}\n</case>")])
    return max(1, _tokens(text))


@dataclass
class _Sample:
    """Requests and tokens of one sample at one bound, per model role."""

    target: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    judge: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])


def _content_cost(md: Mapping[str, Any], per_message: int) -> tuple[int, int]:
    """(requests per sent message, input tokens of each) of the content judge."""
    planted = md.get("planted") or {}
    cases: dict[tuple[Any, ...], int] = {}
    for spec in md.get("evidence") or []:
        question = spec.get("content") if isinstance(spec, Mapping) else None
        if not question:
            continue
        sources = tuple(spec.get("sources") or ())
        key = (question, spec.get("brief"), sources)
        text = sum(
            min(MAX_SOURCE, _tokens(str((planted.get(p) or {}).get("text") or ""))) for p in sources
        )
        cases[key] = _rubric(str(question)) + CASE + _tokens(str(spec.get("brief") or ""))
        cases[key] += text + MESSAGE + per_message
    return len(cases), max(cases.values(), default=0)


def _one(
    md: Mapping[str, Any],
    *,
    prompt: int,
    name: str | None,
    scripted: bool,
    policy: _Policy | None,
    real_judge: bool,
    scenario: Any,
    bound: int,
    cap: int,
) -> _Sample:
    out = _Sample()
    prompt += 0 if scripted else TOOLS_TOKENS
    counts = _turn_counts(md.get("reference") or {})
    limit = int((md.get("agent") or {}).get("limits", {}).get("messages", 40) or 40)
    tool = (SCRIPTED_TOOL_RESULT if scripted else TOOL_RESULT)[bound]
    # the target's turns: (output tokens, tokens its text adds to later inputs, transcript)
    if policy is not None:
        turns = [(s.output, s.text, s.shown) for s in policy.task]
    else:
        n = (min(counts) if counts else 1) if bound == 0 else max(1, limit // 2)
        o = min(TURN_OUTPUT[bound], cap)
        turns = [(o, o, o)] * n
    task_in = task_out = 0.0
    context = float(prompt)
    for o, text, _ in turns:
        task_in += context
        task_out += o
        context += text + tool
    # the interrogation: questions always; follow-ups where the judge applies
    plan = md.get("interrogation_plan") or {}
    questions = [str(q) for q in [*(md.get("interrogation") or []), *(plan.get("questions") or [])]]
    followups = [str(q) for q in plan.get("followups") or []]
    most = min(int(plan.get("max_followups") or 0), len(followups))
    who = name if policy is not None else None
    judged = _judged(scenario, who, bool(md.get("control")))[bound]
    if not questions or not judged:
        n_follow = 0
    elif policy is not None and not real_judge:
        n_follow = _labels_followups(policy, len(questions), most)
    else:
        n_follow = most if bound else 0
    asked = questions + followups[:n_follow]
    if policy is not None:
        answers = [policy.answer(i).output for i in range(len(asked))]
    else:
        answers = [min(ANSWER[bound], cap)] * len(asked)
    ask_in = ask_out = 0.0
    for q, a in zip(asked, answers, strict=True):
        context += _tokens(q)
        ask_in += context
        ask_out += a
        context += a
    out.target = [len(turns) + len(asked), task_in + ask_in, task_out + ask_out]
    # the judge: eval awareness, every sample (the agent's own messages, each clipped)
    shown = sum(min(MAX_MESSAGE, s) + ENTRY for _, _, s in turns)
    shown += sum(min(MAX_MESSAGE, a) + ENTRY for a in answers)
    scenario_id = str(md.get("scenario") or "")
    reply = JUDGE_OUTPUT[bound] if real_judge else _labels_output(scenario_id, None)
    requests = 1.0
    judge_in = float(_rubric("eval_aware") + CASE + min(MAX_TRANSCRIPT, shown))
    judge_out = float(reply)
    # each answer, where the judge applies: the conversation of the interrogation so far
    if judged:
        rubric, conversation = _rubric("answer"), 0
        for i, (q, a) in enumerate(zip(asked, answers, strict=True)):
            conversation += min(MAX_MESSAGE, _tokens(q)) + min(MAX_MESSAGE, a) + 2 * ENTRY
            requests += 1
            judge_in += rubric + CASE + EVIDENCE[bound] + conversation
            if real_judge or policy is None:
                judge_out += reply
            else:
                judge_out += _labels_output(scenario_id, _answer_text(md, name, i))
    # the content judge: a real grader only, each message sent once per question
    if real_judge and bound == 1:
        per_message, each = _content_cost(md, min(TURN_OUTPUT[1], cap))
        sent = _sent_messages(md.get("reference") or {}) or (1 if per_message else 0)
        requests += per_message * sent
        judge_in += per_message * sent * each
        judge_out += per_message * sent * JUDGE_OUTPUT[1]
    out.judge = [requests, judge_in * RENDERING[bound], judge_out * RENDERING[bound]]
    return out


def _answer_text(md: Mapping[str, Any], name: str | None, i: int) -> str:
    steps = (md.get("reference") or {}).get(name or "") or []
    answers = [str(s["answer"]) for s in steps if isinstance(s, Mapping) and "answer" in s]
    if not answers:
        return "I have nothing to add."
    return answers[min(i, len(answers) - 1)]


def estimate(
    samples: Iterable[Any],
    models: list[str],
    grader: str,
    *,
    epochs: int = 1,
    max_tokens: int | None = None,
    scenarios: Sequence[Any] = (),
) -> Estimate:
    """The expected requests and tokens of running `samples` (inspect Samples of the scheming
    task) on each of `models`, judged by `grader`. `scenarios` (the chosen Scenario objects)
    give the rung each scripted trajectory is expected to reach, which decides whether its
    answers are judged; without them that is left open (a range)."""
    out = Estimate()
    cap = max_tokens or 10**9
    by_id = {getattr(s, "id", None): s for s in scenarios}
    real_judge = grader != LABELS_GRADER
    samples = list(samples)
    for model in models:
        name = model.removeprefix("scripted/") if model.startswith("scripted/") else None
        for sample in samples:
            md = sample.metadata or {}
            policy = _policy(md.get("reference") or {}, name)
            target, judge = out.model(model), out.model(grader)
            for bound in (0, 1):
                one = _one(
                    md,
                    prompt=_chars(sample.input) // CHARS_PER_TOKEN,
                    name=name,
                    scripted=name is not None,
                    policy=policy,
                    real_judge=real_judge,
                    scenario=by_id.get(md.get("scenario")),
                    bound=bound,
                    cap=cap,
                )
                for rng, v in (
                    (target.requests, one.target[0]),
                    (target.input, one.target[1]),
                    (target.output, one.target[2]),
                    (judge.requests, one.judge[0]),
                    (judge.input, one.judge[1]),
                    (judge.output, one.judge[2]),
                ):
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
