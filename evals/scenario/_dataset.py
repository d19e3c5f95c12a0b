"""Scenario × factors (× epochs) → inspect Samples."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import itertools
import secrets
import shlex
import tarfile
from collections.abc import Mapping
from typing import Any

from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser

from evals._bounded import UntrustedDataError, read_inside
from evals._state import AgentSpec, SampleMeta
from evals.scenario._canaries import canary_file
from evals.scenario._errors import Problem, ScenarioError
from evals.scenario._loader import MAX_PLANTED_BYTES, MAX_PROMPT_BYTES, PLACEHOLDER
from evals.scenario._schema import Scenario, container_path_problem


def combinations(scenario: Scenario) -> list[dict[str, str]]:
    """Factor combinations of a scenario: `variants` if listed, else the full cross product."""
    if scenario.variants is not None:
        return [dict(v) for v in scenario.variants]
    names = sorted(scenario.factors)
    return [
        dict(zip(names, vals, strict=True))
        for vals in itertools.product(*(scenario.factors[n] for n in names))
    ]


def render(text: str, scenario: Scenario, values: Mapping[str, str], **builtins: str) -> str:
    """Substitute `{{factor}}` (its snippet text if the scenario gives one) and builtins."""

    def sub(m: Any) -> str:
        name = m.group(1)
        if name in values:
            snippets = scenario.snippets.get(name)
            return snippets[values[name]] if snippets else values[name]
        if name in builtins:
            return builtins[name]
        return str(m.group(0))

    return PLACEHOLDER.sub(sub, text)


def render_path(text: str, values: Mapping[str, str]) -> str:
    """Substitute raw factor values into a relative path (snippets never apply to paths)."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def sample_id(scenario: Scenario, values: Mapping[str, str]) -> str:
    parts = [f"{k}={values[k]}" for k in sorted(values)]
    return "/".join([scenario.id, *parts])


def is_control(scenario: Scenario, values: Mapping[str, str]) -> bool:
    return bool(scenario.control) and all(values.get(k) == v for k, v in scenario.control.items())


PLANS = {"interrogation_plan", "scaffold", "event"}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scenario_samples(scenario: Scenario, *, salt: str | None = None) -> list[Sample]:
    """Samples for every factor combination of one scenario."""
    salt = salt or secrets.token_hex(8)
    samples = []
    for values in combinations(scenario):
        sid = sample_id(scenario, values)
        builtins = {"sample_id": sid, "scenario_id": scenario.id}
        system = render(
            _read(scenario, scenario.agent.system_prompt, values), scenario, values, **builtins
        )
        task = render(_read(scenario, scenario.agent.task, values), scenario, values, **builtins)
        files: dict[str, bytes] = {}
        planted: dict[str, dict[str, str]] = {}
        setup: list[str] = []
        for target, spec in scenario.sandbox.planted().items():
            _safe_target(scenario, target)
            raw = _read_bytes(scenario, spec.src, values, MAX_PLANTED_BYTES)
            if spec.template:
                raw = render(raw.decode("utf-8"), scenario, values, **builtins).encode("utf-8")
            files[target] = raw
            planted[target] = {"sha256": _sha256(raw), "mode": spec.mode}
            if len(raw) <= 65536:
                with contextlib.suppress(UnicodeDecodeError):
                    planted[target]["text"] = raw.decode("utf-8")
            # nothing from a scenario reaches the shell unquoted
            setup.append(f"chmod {shlex.quote(spec.mode)} {shlex.quote(target)}")
            if spec.size:
                setup.append(f"truncate -s {int(spec.size)} {shlex.quote(target)}")
                planted[target]["size"] = str(spec.size)
        canaries: list[dict[str, str]] = []
        for c in scenario.sandbox.canaries:
            _safe_target(scenario, c.path)
            secret, content = canary_file(c.kind, f"{salt}:{sid}:{c.path}")
            files[c.path] = content.encode()
            setup.append(f"chmod 0600 {shlex.quote(c.path)}")
            canaries.append({"kind": c.kind, "path": c.path, "value": secret})
            planted[c.path] = {"sha256": _sha256(content.encode()), "mode": "0600"}
        meta = SampleMeta(
            scenario=scenario.id,
            scenario_version=scenario.version,
            behaviour=scenario.behaviour,
            cover_story=scenario.cover_story,
            factors=dict(values),
            control=is_control(scenario, values),
            planted=planted,
            canaries=canaries,
            interrogation=[render(q, scenario, values, **builtins) for q in scenario.interrogation],
            reference={
                name: [s.model_dump(exclude_none=True) for s in steps]
                for name, steps in scenario.reference.items()
            },
            canary_string=scenario.canary,
            agent=AgentSpec(
                tools=list(scenario.agent.tools),
                user=scenario.sandbox.user,
                limits=scenario.agent.limits.model_dump(),
            ),
            evidence=[d.model_dump() for d in scenario.evidence],
        )
        samples.append(
            Sample(
                id=sid,
                input=[ChatMessageSystem(content=system), ChatMessageUser(content=task)],
                # the plans (interrogation, scaffold, event) are the task's to add
                metadata=meta.model_dump(exclude=PLANS),
                # no `Sample.files`: inspect writes each with two execs; one archive instead
                setup=_setup_script(files, setup),
            )
        )
    return samples


def _read_bytes(scenario: Scenario, rel: str, values: Mapping[str, str], limit: int) -> bytes:
    """A file of the scenario's own folder, read as the loader checked it (again: it may have
    changed since): inside the folder, no symlink, a regular file, at most `limit` bytes."""
    rendered = render_path(rel, values)
    try:
        return read_inside(scenario.directory, rendered, limit)
    except UntrustedDataError as ex:
        raise ScenarioError([Problem(str(scenario.file), None, "", ex.reason)]) from None


def _read(scenario: Scenario, rel: str, values: Mapping[str, str]) -> str:
    raw = _read_bytes(scenario, rel, values, MAX_PROMPT_BYTES)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError(
            [Problem(str(scenario.file), None, "", f"'{rel}' is not UTF-8 text")]
        ) from None


def _safe_target(scenario: Scenario, target: str) -> None:
    problem = container_path_problem(target)
    if problem:
        raise ScenarioError([Problem(str(scenario.file), None, "sandbox", problem)])


def _setup_script(files: Mapping[str, bytes], after: list[str]) -> str:
    """The sample's setup script: every planted file and canary extracted from one tar archive
    in one exec (its first line), then `after` (the chmod and truncate lines), one per line.

    Run as the container's default user, as inspect's `write_file` was: the same owner, and
    parents made as `mkdir -p` makes them; existing files are written in place (`--overwrite`,
    as `tee` did); mtimes are the time of extraction (`-m`). The archive is base64 between
    single quotes: nothing from the scenario reaches the shell unquoted."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for target, raw in files.items():
            info = tarfile.TarInfo(target.lstrip("/"))
            info.size, info.mode = len(raw), 0o600  # the chmod lines set the real mode
            tar.addfile(info, io.BytesIO(raw))
    archive = base64.b64encode(buf.getvalue()).decode("ascii")
    plant = (
        f"printf '%s' '{archive}' | base64 -d"
        " | tar -x -m --overwrite --no-same-owner --no-same-permissions -C / -f -"
    )
    return "\n".join([f"set -e; {plant}" if files else "set -e", *after]) + "\n"


def key_samples(samples: list[Sample]) -> list[Sample]:
    """One scenario's key conditions, in order: its first sample (the treatment the reference
    trajectories replay), its first control sample and its first asked (`instructed: yes`)
    sample, each once."""
    chosen: list[Sample] = samples[:1]
    for wanted in ("control", "asked"):
        for sample in samples:
            meta = sample.metadata or {}
            asked = (meta.get("factors") or {}).get("instructed") == "yes"
            if (asked if wanted == "asked" else bool(meta.get("control"))) and not any(
                c is sample for c in chosen
            ):
                chosen.append(sample)
                break
    return chosen
