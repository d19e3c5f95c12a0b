"""YAML → Scenario, with every problem named by file, line and field."""

from __future__ import annotations

import fnmatch
import itertools
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from evals._bounded import UntrustedDataError, read_capped, read_inside, resolve_inside
from evals.scenario._errors import Problem, ScenarioError
from evals.scenario._family import check_family, inherit
from evals.scenario._schema import (
    Family,
    FamilyInterrogation,
    Scenario,
    SharedSnippets,
    Suite,
    container_path_problem,
)
from evals.scenario._yaml import LocatedYaml, load_located

M = TypeVar("M", bound=BaseModel)

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}")
BUILTIN_PLACEHOLDERS = frozenset({"sample_id", "scenario_id"})
FAMILY_FILE = "family.yaml"
"""Per family folder: the family's rules (behaviour, ladder recipe, interrogation, snippets),
inherited by its scenarios (evals/scenario/_family.py)."""
SNIPPETS_FILE = "snippets.yaml"
"""In scenarios/: the factor texts every family inherits."""

# Scenario packs are semi-trusted: every file they name is bounded before it is read.
MAX_YAML_BYTES = 1_000_000
"""scenario.yaml, a family.yaml, snippets.yaml, a suite."""
MAX_PROMPT_BYTES = 1_000_000
MAX_PLANTED_BYTES = 4_000_000
"""A planted file's real bytes (`size:` may extend it as a sparse file in the container)."""
MAX_EVENT_SCRIPT_BYTES = 64 * 1024
"""A post-task event script (`sandbox.event[].src`); evals/agent/_event.py has the same cap."""
MAX_YAML_NODES = 20_000
MAX_YAML_DEPTH = 40
MAX_PROBLEMS = 30
"""Problems reported per file; the rest are counted in one line."""
_IMAGE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


PACKS_ENV = "SCHEMING_SCENARIOS"
"""Scenario packs (folders outside the repository, separated by ':'), loaded beside the
built-in scenarios; `--scenarios DIR` sets it. (It replaces SCHEMING_ROOT, which swapped the
whole project folder, sidecar images included, and was never documented.)"""
PACK_IMAGES = "images"
"""In a pack: `images/<name>/Dockerfile`, the pack's own images, tagged under its namespace."""


def project_root() -> Path:
    """Folder holding `scenarios/` and `sandboxes/`."""
    here = Path(__file__).resolve().parents[2]
    if (here / "scenarios").is_dir():
        return here
    for p in [Path.cwd(), *Path.cwd().parents]:
        if (p / "scenarios").is_dir() and (p / "sandboxes").is_dir():
            return p
    return Path.cwd()


def scenarios_dir() -> Path:
    return project_root() / "scenarios"


_KEBAB_ID = re.compile(r"[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*")


def current_id(scenario_id: str) -> str:
    """A scenario id as it is spelled now. Logs written before the ids were respelled carry
    the kebab-case spelling of a built-in scenario's folder path
    (`oversight-subversion/grant-triage`): mapped to the folder path
    (`oversight_subversion/grant_triage`). Other ids (a pack's own) are unchanged."""
    if "-" not in scenario_id or not _KEBAB_ID.fullmatch(scenario_id):
        return scenario_id
    snake = scenario_id.replace("-", "_")
    return snake if (scenarios_dir() / snake).is_dir() else scenario_id


def scenario_packs() -> list[Path]:
    """The scenario packs in use (`SCHEMING_SCENARIOS`), in order."""
    raw = os.environ.get(PACKS_ENV, "")
    out: list[Path] = []
    for part in raw.split(os.pathsep):
        if part and Path(part).resolve() not in out:
            out.append(Path(part).resolve())
    return out


def use_packs(dirs: Iterable[str | Path] | None) -> list[Path]:
    """Add scenario packs (`--scenarios DIR`) for this process and the tasks it runs; raises
    ScenarioError naming a pack that is not a folder or whose namespace is taken."""
    packs = scenario_packs()
    problems: list[Problem] = []
    for d in dirs or []:
        path = Path(d)
        if not path.is_dir():
            problems.append(Problem(str(d), None, "", "--scenarios: not a folder"))
            continue
        path = path.resolve()
        if path in packs:
            continue
        clash = [p for p in packs if pack_namespace(p) == pack_namespace(path)]
        if clash:
            problems.append(
                Problem(
                    str(d),
                    None,
                    "",
                    f"--scenarios: namespace '{pack_namespace(path)}' is also {clash[0]}'s "
                    "(rename one folder)",
                )
            )
            continue
        packs.append(path)
    if problems:
        raise ScenarioError(problems)
    if packs:
        os.environ[PACKS_ENV] = os.pathsep.join(str(p) for p in packs)
    return packs


def pack_namespace(pack: Path) -> str:
    """A pack's image namespace: its folder name as a docker repository path component."""
    name = re.sub(r"[^a-z0-9]+", "-", pack.name.lower()).strip("-")
    return f"pack-{name or 'unnamed'}"


def _pack_of(directory: Path) -> Path | None:
    for pack in scenario_packs():
        if directory == pack or pack in directory.parents:
            return pack
    return None


def image_key(scenario: Scenario, image: str) -> str:
    """The image `image` names in `scenario`: its pack's own (`<namespace>/<image>`) when the
    pack has `images/<image>/Dockerfile`, else the built-in sandboxes/images/<image>."""
    pack = _pack_of(scenario.directory)
    if pack is not None and (pack / PACK_IMAGES / image / "Dockerfile").is_file():
        return f"{pack_namespace(pack)}/{image}"
    return image


def image_context(key: str) -> Path:
    """The build folder of an image key (see `image_key`)."""
    namespace, sep, name = key.rpartition("/")
    if sep:
        for pack in scenario_packs():
            if pack_namespace(pack) == namespace:
                return pack / PACK_IMAGES / name
    return project_root() / "sandboxes" / "images" / key


def pack_images(pack: Path) -> list[str]:
    """The image keys of a pack's own images (`images/<name>/Dockerfile`)."""
    found = sorted((pack / PACK_IMAGES).glob("*/Dockerfile"))
    return [
        f"{pack_namespace(pack)}/{f.parent.name}" for f in found if _IMAGE.fullmatch(f.parent.name)
    ]


def scenario_images(scenarios: Iterable[Scenario]) -> list[str]:
    """The image keys the scenarios use (agent and sidecars), sorted."""
    keys = set()
    for s in scenarios:
        keys.add(image_key(s, s.sandbox.image))
        keys.update(image_key(s, svc.image) for svc in s.sandbox.services.values())
    return sorted(keys)


def _display(path: Path) -> str:
    """The path as given, relative to the working folder where it is under it (the last part is
    not resolved: a symlink is shown as itself, never as what it points to)."""
    try:
        where = path.parent.resolve() / path.name
        return str(where.relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):
        return str(path)


def _field(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Drop the parts of a pydantic error location that are not keys in the YAML data
    (union tags, function-validator names)."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if (
            isinstance(node, dict)
            and part in node
            or isinstance(node, list)
            and isinstance(part, int)
            and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        # else: a tag or validator name, not a place in the file
    return tuple(out)


def _parse(path: Path) -> tuple[LocatedYaml | None, list[Problem]]:
    """Read (a regular file, size-capped) and parse (aliases, nesting bounded) one YAML file."""
    shown = _display(path)
    try:
        raw = read_capped(path, MAX_YAML_BYTES)
    except UntrustedDataError as ex:
        return None, [Problem(shown, None, "", ex.reason)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [Problem(shown, None, "", "not UTF-8 text")]
    try:
        located = load_located(
            text, max_nodes=MAX_YAML_NODES, max_depth=MAX_YAML_DEPTH, max_chars=MAX_YAML_BYTES
        )
    except UntrustedDataError as ex:
        return None, [Problem(shown, ex.line, "", ex.reason)]
    if not isinstance(located.data, dict):
        return None, [Problem(shown, 1, "", "expected a mapping of keys at the top level")]
    return located, []


def _node(data: Any, loc: tuple[Any, ...]) -> tuple[bool, Any]:
    """(found, value) at `loc` in the YAML data."""
    for part in loc:
        if not isinstance(data, dict | list):
            return False, None
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return False, None
    return True, data


def _relevant(data: Any, errors: list[Any]) -> list[Any]:
    """One error per mistake: pydantic reports a `str | Model` union's failure once per branch
    (keep the branch the input is shaped for), and a list that lost a bad item as too short."""
    locs = [tuple(e["loc"]) for e in errors]
    drop: set[int] = set()
    for i, loc in enumerate(locs):
        if errors[i]["type"] == "too_short" and any(
            len(o) > len(loc) and o[: len(loc)] == loc for o in locs
        ):
            drop.add(i)
        if "str" in loc:
            k = loc.index("str")
            prefix = loc[:k]
            found, value = _node(data, prefix)
            if not found or (isinstance(value, dict) and "str" in value):
                continue  # 'str' is a key in the data, not a union branch
            for j, other in enumerate(locs):
                if other[:k] != prefix or len(other) <= k:
                    continue
                if isinstance(value, dict) == (other[k] == "str"):
                    drop.add(j)
    return [e for i, e in enumerate(errors) if i not in drop]


def _validation_problems(shown: str, located: LocatedYaml, ex: ValidationError) -> list[Problem]:
    problems = []
    for err in _relevant(located.data, ex.errors()):
        loc = _data_path(located.data, tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
            loc = _data_path(located.data, tuple(err["loc"]))
        elif err["type"] == "missing":
            msg = f"missing required key '{err['loc'][-1]}'"
            field = _field((*loc, str(err["loc"][-1])))
            problems.append(Problem(shown, located.line(loc), field, msg))
            continue
        elif err["type"] == "union_tag_invalid":
            tag = (
                err.get("input", {}).get("detector") if isinstance(err.get("input"), dict) else None
            )
            expected = err.get("ctx", {}).get("expected_tags", "")
            msg = f"unknown detector '{tag}' (known: {expected})"
            loc = (*loc, "detector")
        field = _field(loc)
        problems.append(Problem(shown, located.line(loc), field, msg))
    return _capped(shown, problems)


def _capped(shown: str, problems: list[Problem]) -> list[Problem]:
    if len(problems) <= MAX_PROBLEMS:
        return problems
    more = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], Problem(shown, None, "", f"{more} more problem(s) not shown")]


def _check_files(scenario: Scenario, shown: str, located: LocatedYaml) -> list[Problem]:
    """Every file the scenario names exists inside its own folder, is a regular file within its
    size limit and uses only its factors; container paths and image names are safe."""
    problems: list[Problem] = []
    base = scenario.directory
    factor_names = set(scenario.factors) | BUILTIN_PLACEHOLDERS

    def problem(where: tuple[str | int, ...], field: str, message: str) -> None:
        p = Problem(shown, located.line(where), field, message)
        if p not in problems:
            problems.append(p)

    def placeholders(text: str, where: tuple[str | int, ...], label: str, field: str) -> None:
        for m in PLACEHOLDER.finditer(text):
            if m.group(1) not in factor_names:
                problem(
                    where, field, f"placeholder '{{{{{m.group(1)}}}}}' in {label} is not a factor"
                )

    def expand(rel: str, where: tuple[str | int, ...], field: str) -> list[str]:
        """Every path `rel` names over the factor values it mentions (the schema bounds the
        number of combinations, so this cannot explode)."""
        names = sorted({m.group(1) for m in PLACEHOLDER.finditer(rel)})
        bad = [n for n in names if n not in scenario.factors]
        if bad:
            problem(where, field, f"placeholder '{{{{{bad[0]}}}}}' in path is not a factor")
            return []
        out = []
        for vals in itertools.product(*(scenario.factors[n] for n in names)):
            mapping = dict(zip(names, vals, strict=True))
            out.append(PLACEHOLDER.sub(lambda m, mp=mapping: mp[m.group(1)], rel))  # type: ignore[misc]
        return out

    def read(rel: str, where: tuple[str | int, ...], field: str, limit: int) -> bytes | None:
        try:
            return read_inside(base, rel, limit)
        except UntrustedDataError as ex:
            problem(where, field, ex.reason)
            return None

    for key in ("system_prompt", "task"):
        where: tuple[str | int, ...] = ("agent", key)
        for rel in expand(getattr(scenario.agent, key), where, _field(where)):
            raw = read(rel, where, _field(where), MAX_PROMPT_BYTES)
            if raw is None:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                problem(where, _field(where), f"'{rel}' is not UTF-8 text")
                continue
            placeholders(text, where, f"'{rel}'", _field(where))
    for target, spec in scenario.sandbox.planted().items():
        where = ("sandbox", "files", target)
        bad_target = container_path_problem(target)
        if bad_target:
            problem(where, "sandbox.files", bad_target)
            continue
        for rel in expand(spec.src, where, "sandbox.files"):
            if not spec.template:
                try:  # size and type only: the bytes are read when samples are built
                    path = resolve_inside(base, rel)
                    size = path.lstat().st_size
                except (UntrustedDataError, OSError) as ex:
                    problem(where, "sandbox.files", getattr(ex, "reason", str(ex)))
                    continue
                if size > MAX_PLANTED_BYTES:
                    problem(
                        where,
                        "sandbox.files",
                        f"'{rel}': file is {size} bytes, larger than the limit of "
                        f"{MAX_PLANTED_BYTES} (use size: for a large sparse file)",
                    )
                continue
            raw = read(rel, where, "sandbox.files", MAX_PLANTED_BYTES)
            if raw is None:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                problem(where, "sandbox.files", f"'{rel}' is not text; set template: false")
                continue
            placeholders(text, where, f"'{rel}'", "sandbox.files")
    for i, step in enumerate(scenario.sandbox.event):
        # each post-task event script (per factor value) is a regular UTF-8 file inside the folder
        where = ("sandbox", "event", i, "src")
        for rel in expand(step.src, where, _field(where)):
            raw = read(rel, where, _field(where), MAX_EVENT_SCRIPT_BYTES)
            if raw is not None:
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    problem(where, _field(where), f"'{rel}' is not UTF-8 text")
    for i, q in enumerate(scenario.interrogation):
        placeholders(q, ("interrogation", i), "the question", _field(("interrogation", i)))
    for where, image in [(("sandbox", "image"), scenario.sandbox.image)] + [
        (("sandbox", "services", n, "image"), s.image) for n, s in scenario.sandbox.services.items()
    ]:
        if not _IMAGE.fullmatch(image):
            problem(
                where,
                _field(where),
                f"image name '{image}' may only hold lowercase letters, digits, _ -",
            )
        elif not (image_context(image_key(scenario, image)) / "Dockerfile").is_file():
            pack = _pack_of(scenario.directory)
            also = f" or {pack / PACK_IMAGES / image / 'Dockerfile'}" if pack else ""
            problem(
                where,
                _field(where),
                f"no image '{image}' (expected sandboxes/images/{image}/Dockerfile{also})",
            )
    return _capped(shown, problems)


def _load_model(path: Path, model: type[M]) -> tuple[M, LocatedYaml]:
    """Parse and validate one YAML file as `model`; raises ScenarioError naming every problem."""
    located, problems = _parse(path)
    if located is None:
        raise ScenarioError(problems)
    try:
        return model.model_validate(located.data), located
    except ValidationError as ex:
        raise ScenarioError(_validation_problems(_display(path), located, ex)) from None


def load_family_rules(path: str | Path) -> Family:
    """A family's family.yaml, checked (behaviour = its folder's name, known detector kinds,
    snippet overrides with why:); raises ScenarioError naming file, line and field."""
    path = Path(path)
    family, located = _load_model(path, Family)
    problems = check_family(family, located, _display(path), path.parent.name, shared_snippets())
    if problems:
        raise ScenarioError(problems)
    return family


def shared_snippets() -> SharedSnippets:
    """scenarios/snippets.yaml (none if absent)."""
    path = scenarios_dir() / SNIPPETS_FILE
    if not os.path.lexists(path):
        return SharedSnippets()
    return _load_model(path, SharedSnippets)[0]


def _family_of(path: Path) -> Family | None:
    """The family.yaml beside a scenario's folder, or None where the family has none."""
    family_file = path.resolve().parent.parent / FAMILY_FILE
    if not os.path.lexists(family_file):
        return None
    return load_family_rules(family_file)


def load_scenario(path: str | Path) -> Scenario:
    """Load and check one scenario file, with what it inherits from its family.yaml; raises
    ScenarioError naming every problem."""
    path = Path(path)
    shown = _display(path)
    family = _family_of(path)
    if family is None:
        scenario, located = _load_model(path, Scenario)
    else:
        scenario, located = _load_inheriting(path, family)
    scenario._dir = path.resolve().parent
    scenario._file = path.resolve()
    problems = _check_files(scenario, shown, located)
    if problems:
        raise ScenarioError(problems)
    return scenario


def scenario_files(paths: Iterable[str | Path] | None = None) -> list[Path]:
    """Scenario files under `paths`: each folder's `scenario.yaml` (default: all of scenarios/);
    a file path is taken as it is."""
    roots = [Path(p) for p in paths] if paths else [scenarios_dir(), *scenario_packs()]
    out: list[Path] = []
    for root in roots:
        if root.is_dir() and root.name != "scenario.yaml":
            images = root / PACK_IMAGES if root in scenario_packs() else None
            out.extend(
                f
                for f in sorted(root.rglob("scenario.yaml"))
                if images is None or images not in f.parents
            )
        else:
            out.append(root)
    return out


def load_scenarios(paths: Iterable[str | Path] | None = None) -> list[Scenario]:
    """Load every scenario under `paths`; raises ScenarioError with all problems of all files."""
    scenarios, problems = check_scenarios(paths)
    if problems:
        raise ScenarioError(problems)
    return scenarios


def _load_inheriting(path: Path, family: Family) -> tuple[Scenario, LocatedYaml]:
    located, problems = _parse(path)
    if located is None:
        raise ScenarioError(problems)
    shown = _display(path)
    folder = f"{path.resolve().parent.parent.name}/{path.resolve().parent.name}"
    data, problems = inherit(located.data, located, shown, family, shared_snippets(), folder=folder)
    if problems:
        raise ScenarioError(_capped(shown, problems))
    try:
        return Scenario.model_validate(data), located
    except ValidationError as ex:
        raise ScenarioError(_validation_problems(shown, located, ex)) from None


def load_family(path: str | Path) -> FamilyInterrogation:
    """A family's interrogation: the `interrogation:` of a family.yaml, or a file in that
    format at the top level (the package default); raises ScenarioError naming file, line and
    field."""
    path = Path(path)
    if path.name == FAMILY_FILE:
        return load_family_rules(path).interrogation
    return _load_model(path, FamilyInterrogation)[0]


def check_scenarios(
    paths: Iterable[str | Path] | None = None,
) -> tuple[list[Scenario], list[Problem]]:
    """Every scenario under `paths` that loads, and every problem of those that do not
    (duplicate ids, family files and their interrogation placeholders included)."""
    problems: list[Problem] = []
    scenarios: list[Scenario] = []
    seen: dict[str, Path] = {}
    families: dict[Path, FamilyInterrogation | None] = {}
    for f in scenario_files(paths):
        try:
            s = load_scenario(f)
        except ScenarioError as ex:
            problems.extend(ex.problems)
            continue
        except Exception as ex:  # noqa: BLE001 - a bug must still name the file, in one line
            problems.append(
                Problem(_display(f), None, "", f"cannot load: {type(ex).__name__}: {ex}")
            )
            continue
        if s.id in seen:
            problems.append(
                Problem(_display(f), 1, "id", f"'{s.id}' is also the id of {_display(seen[s.id])}")
            )
            continue
        seen[s.id] = f
        scenarios.append(s)
        family_file = s.directory.parent / FAMILY_FILE
        if os.path.lexists(family_file):
            if family_file not in families:
                try:
                    families[family_file] = load_family(family_file)
                except ScenarioError as ex:
                    problems.extend(ex.problems)
                    families[family_file] = None
            fam = families[family_file]
            if fam is not None:
                names = set(s.factors) | BUILTIN_PLACEHOLDERS
                for key in ("questions", "followups"):
                    for i, q in enumerate(getattr(fam, key)):
                        bad = [
                            m.group(1) for m in PLACEHOLDER.finditer(q) if m.group(1) not in names
                        ]
                        if bad:
                            problems.append(
                                Problem(
                                    _display(family_file),
                                    None,
                                    f"{key}[{i}]",
                                    f"placeholder '{{{{{bad[0]}}}}}' is not a factor of {s.id}",
                                )
                            )
    # a family file's problem stops each of its scenarios: name it once
    return scenarios, list(dict.fromkeys(problems))


def load_suite(name_or_path: str | Path) -> Suite:
    p = Path(name_or_path)
    if not p.suffix:
        p = scenarios_dir() / "suites" / f"{name_or_path}.yaml"
    if not os.path.lexists(p):
        raise ScenarioError([Problem(_display(p), None, "", "no such suite")])
    return _load_model(p, Suite)[0]


def select(
    scenarios: list[Scenario], *, suite: str | None = None, ids: Iterable[str] | None = None
) -> list[Scenario]:
    """Scenarios named by a suite and/or ids (glob patterns allowed), in a stable order."""
    patterns: list[str] = []
    if suite:
        patterns.extend(load_suite(suite).scenarios)
    if ids:
        patterns.extend(ids)
    if not patterns:
        return scenarios
    chosen = [s for s in scenarios if any(fnmatch.fnmatchcase(s.id, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(fnmatch.fnmatchcase(s.id, p) for s in scenarios)]
    if unmatched:
        raise ScenarioError(
            [Problem("scenarios", None, "", f"no scenario matches '{p}'") for p in unmatched]
        )
    return chosen
