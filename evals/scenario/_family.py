"""What a scenario inherits from its family's `family.yaml` (and every family from
`scenarios/snippets.yaml`), applied to the scenario's YAML data before it is validated.

- `behaviour`: the family's; a scenario that names another is refused.
- evidence `rung`/`flag`: an entry that omits both takes them from the family's ladder recipe (the
  most specific recipe item that matches it: its kind, and the parameters the item names); an
  entry that gives one the recipe does not give it must say `why:`.
- `snippets`: per factor the scenario has, scenarios/snippets.yaml's texts, then the family's,
  then the scenario's own; a text that differs from the one it would inherit must say `why:`
  (a `why` key in that factor's mapping).

`why:` is for the reader: it is dropped before validation, so the sample is the same either way.
"""

from __future__ import annotations

import re
from typing import Any

from evals.detectors import KINDS
from evals.scenario._errors import Problem
from evals.scenario._schema import Family, LadderKey, SharedSnippets
from evals.scenario._yaml import LocatedYaml

WHY = "why"
FLAG_KEYS: frozenset[str] = frozenset({"concealed"})
"""Ladder keys that are flags (`flag:`), not rungs (`rung:`)."""


def _field(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _why_problem(why: Any) -> str | None:
    if why is None:
        return None
    if not isinstance(why, str) or not why.strip():
        return "why: must be a sentence saying why this departs from the family"
    return None


def check_family(
    family: Family, located: LocatedYaml, shown: str, folder: str, shared: SharedSnippets
) -> list[Problem]:
    """A family file's own problems: its behaviour is its folder's name, its ladder names known
    detector kinds, and a snippet that differs from scenarios/snippets.yaml says why."""
    problems: list[Problem] = []
    if family.behaviour != folder:
        problems.append(
            Problem(
                shown,
                located.line(("behaviour",)),
                "behaviour",
                f"'{family.behaviour}' is not the family folder's name '{folder}'",
            )
        )
    for key, items in family.ladder.items():
        for i, item in enumerate(items):
            if item.detector not in KINDS:
                problems.append(
                    Problem(
                        shown,
                        located.line(("ladder", key, i)),
                        _field(("ladder", key, i)),
                        f"unknown detector '{item.detector}' (known: {', '.join(sorted(KINDS))})",
                    )
                )
    for factor, texts in family.snippets.items():
        where: tuple[str | int, ...] = ("snippets", factor)
        bad = _why_problem(texts.get(WHY))
        if bad:
            problems.append(Problem(shown, located.line((*where, WHY)), _field((*where, WHY)), bad))
        inherited = shared.snippets.get(factor, {})
        for value, text in texts.items():
            if (
                value != WHY
                and value in inherited
                and inherited[value] != text
                and WHY not in texts
            ):
                problems.append(
                    Problem(
                        shown,
                        located.line((*where, value)),
                        _field((*where, value)),
                        f"differs from scenarios/snippets.yaml's text for {factor}={value}: "
                        "add why: to the factor's mapping, or delete it",
                    )
                )
    return problems


def _with_defaults(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry with its kind's parameter defaults filled in (a recipe item's `check:
    weakened` matches an entry that leaves `check` at its default)."""
    kind = KINDS.get(str(entry.get("detector")))
    if kind is None:
        return entry
    out = {
        name: f.default
        for name, f in kind.params.model_fields.items()
        if not f.is_required() and f.default is not None
    }
    out.update(entry)
    return out


def ladder_keys(family: Family, entry: dict[str, Any]) -> tuple[set[str], set[str]]:
    """(every key a matching recipe item gives, the keys of the most specific matches)."""
    view = _with_defaults(entry)
    matches = [
        (len(item.params), key)
        for key, items in family.ladder.items()
        for item in items
        if item.matches(view)
    ]
    if not matches:
        return set(), set()
    best = max(n for n, _ in matches)
    return {k for _, k in matches}, {k for n, k in matches if n == best}


def id_problem(scenario_id: Any, folder: str) -> str | None:
    """Why `scenario_id` does not name its folder `<family>/<name>`, or None: folders are
    snake_case and an id is exactly its folder path (logs written before the ids were
    respelled carry the kebab-case spelling: `evals.scenario.current_id` maps them)."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*/[a-z0-9][a-z0-9_]*", folder):
        return f"the folder '{folder}' is not snake_case (lowercase letters, digits, _)"
    if not isinstance(scenario_id, str) or scenario_id != folder:
        return f"'{scenario_id}' does not name its folder '{folder}' (an id is its folder path)"
    return None


def inherit(
    data: dict[str, Any],
    located: LocatedYaml,
    shown: str,
    family: Family,
    shared: SharedSnippets,
    *,
    folder: str,
) -> tuple[dict[str, Any], list[Problem]]:
    """The scenario's data with the family's rules applied, and the problems found doing it
    (`folder`: the scenario's `<family>/<name>`, which its id must name)."""
    problems: list[Problem] = []
    out = dict(data)

    def problem(loc: tuple[str | int, ...], message: str) -> None:
        problems.append(Problem(shown, located.line(loc), _field(loc), message))

    if "id" in out:
        bad_id = id_problem(out["id"], folder)
        if bad_id:
            problem(("id",), bad_id)

    behaviour = out.setdefault("behaviour", family.behaviour)
    if behaviour != family.behaviour:
        problem(("behaviour",), f"'{behaviour}' is not the family's '{family.behaviour}'")

    evidence = out.get("evidence")
    if isinstance(evidence, list):
        entries: list[Any] = []
        for i, raw in enumerate(evidence):
            if not isinstance(raw, dict):
                entries.append(raw)
                continue
            entry = {k: v for k, v in raw.items() if k != WHY}
            why = raw.get(WHY)
            bad = _why_problem(why)
            if bad:
                problem(("evidence", i, WHY), bad)
            entries.append(entry)
            _resolve(entry, why, family, ("evidence", i), problem)
        out["evidence"] = entries

    factors = out.get("factors")
    snippets = out.get("snippets", {})
    if isinstance(factors, dict) and isinstance(snippets, dict):
        merged: dict[str, Any] = {k: v for k, v in snippets.items() if k not in factors}
        for factor, values in factors.items():
            own = snippets.get(factor)
            texts = _inherited(factor, family, shared)
            if isinstance(own, dict):
                why = own.get(WHY)
                bad = _why_problem(why)
                if bad:
                    problem(("snippets", factor, WHY), bad)
                for value, text in own.items():
                    if value == WHY:
                        continue
                    if why is None and str(value) in texts and texts[str(value)] != text:
                        problem(
                            ("snippets", factor, value),
                            f"differs from the family's text for {factor}={value} (family.yaml "
                            "or scenarios/snippets.yaml): add why: to the factor's mapping, "
                            "or delete it",
                        )
                    texts[str(value)] = text
            elif own is not None:
                merged[factor] = own  # not a mapping: the schema names it
                continue
            if isinstance(values, list):
                wanted = {str(v).lower() if isinstance(v, bool) else str(v) for v in values}
                texts = {v: t for v, t in texts.items() if v in wanted}
            if texts:
                merged[factor] = texts
        if merged or "snippets" in out:
            out["snippets"] = merged
    return out, problems


def _inherited(factor: str, family: Family, shared: SharedSnippets) -> dict[str, str]:
    texts = dict(shared.snippets.get(factor, {}))
    texts.update({v: t for v, t in family.snippets.get(factor, {}).items() if v != WHY})
    return texts


def _resolve(
    entry: dict[str, Any],
    why: Any,
    family: Family,
    where: tuple[str | int, ...],
    problem: Any,
) -> None:
    """Set a recipe's rung/flag on an entry that omits both; name a departure without why."""
    kind = entry.get("detector")
    if kind not in KINDS:
        return  # the schema names an unknown kind
    given: tuple[str, Any] | None = next(
        ((k, entry[k]) for k in ("rung", "flag") if entry.get(k) is not None), None
    )
    every, best = ladder_keys(family, entry)
    if given is None:
        if len(best) == 1:
            key: LadderKey = best.pop()  # type: ignore[assignment]
            entry["flag" if key in FLAG_KEYS else "rung"] = key
            return
        if not best:
            problem(
                (*where, "detector"),
                f"the family's ladder gives no rung for detector '{kind}' here: "
                "set rung: or flag: (with why:)",
            )
        else:
            problem(
                (*where, "detector"),
                f"the family's ladder gives detector '{kind}' as {' and '.join(sorted(best))}: "
                "set rung: or flag:",
            )
        return
    field, value = given
    if str(value) in every or why is not None:
        return
    recipe = ", ".join(sorted(every)) if every else "nothing"
    problem(
        (*where, field),
        f"'{value}' departs from the family's ladder (family.yaml gives {recipe} for this "
        f"'{kind}' entry): add why:, or follow it",
    )
