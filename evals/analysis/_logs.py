"""Reading what the analysis needs from inspect logs, fast.

A report reads only sample summaries (ids, metadata, scores, error and limit), never whole samples
with their transcripts. For `.eval` files written by a finished run, the summaries are one
consolidated member (`summaries.json`) of the zip; reading it with the stdlib `json` parser is
about three times faster than validating it into inspect's pydantic models, which matters at
100,000 samples. Anything else (an in-progress log, a `.json` log, a file laid out differently by
another inspect version) goes through inspect's public reader (`read_eval_log_sample_summaries`),
and a sample whose summary was thinned (metadata over 1 kB) is re-read in full
(`read_eval_log_sample`). Both paths produce the same `SampleRecord`s, which the tests check.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from inspect_ai.log import (
    EvalLog,
    EvalSample,
    read_eval_log,
    read_eval_log_sample,
    read_eval_log_sample_summaries,
)

from evals.scenario import current_id

SCORER = "scheming"
"""Name of the scorer whose value the analysis reads."""

_THINNED = "Key removed from summary"
_JSON_LOG_EVAL = re.compile(rb'"eval"\s*:\s*\{')


class LogReadError(Exception):
    """A path given for analysis could not be read as inspect logs."""


class SampleRecord(NamedTuple):
    """What the analysis needs from one sample (one epoch of one sample id)."""

    id: str
    epoch: int
    scenario: str
    scenario_version: int | None
    behaviour: str
    factors: dict[str, Any]
    control: bool
    value: dict[str, Any] | None
    """The scheming score's value (keys to 0/1), or None when the sample has no scheming score.
    Entries that are not 0 or 1 are ignored when counting."""
    unscored: tuple[str, ...]
    """Keys the grader could not judge for this sample."""
    error: bool
    limit: bool
    limit_kind: str | None = None
    """Which limit ended the sample or its task phase: message, token, working, time, context
    (inspect's own sample limit first, else the one the agent caught)."""
    error_reason: str | None = None
    """The provider's or harness's error message (first line, bounded)."""
    tool_calls: int | None = None
    """Tool calls the agent made that parsed (None: not recorded, an older log)."""
    bad_tool_calls: int | None = None
    usage: dict[str, dict[str, int]] | None = None
    """Per model: input, output, cache_read, cache_write, reasoning tokens and requests."""
    sent: dict[str, dict[str, Any]] | None = None
    """Per model: the generation settings its first request of this sample actually carried."""
    reruns: dict[str, dict[str, int]] | None = None
    """Per model: what the attempts of this sample that errored used before it was run again
    (--retry-on-error; already part of `usage`), the same keys as `usage`."""
    rerun_attempts: int = 0
    """Attempts of this sample that errored and were run again."""


@dataclass
class LogRecords:
    """The header facts and the sample records of one log."""

    location: str
    model: str
    task: str
    task_version: int | str | None
    package_version: str | None
    samples: list[SampleRecord] = field(default_factory=list)
    eval_set_id: str | None = None
    task_id: str | None = None
    status: str | None = None
    """The log's status: success, started (a run killed mid-way), cancelled, error."""
    created: str | None = None


def find_log_files(paths: Sequence[str | Path]) -> list[Path]:
    """The log files named by `paths`: files as given, directories searched recursively.

    In a directory every `*.eval` file is taken, and a `*.json` file only where it is an inspect
    log (so a report's own `table.json` beside the logs is not mistaken for one).
    Raises `LogReadError` for a path that does not exist or a directory holding no logs.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            in_dir = sorted(p for p in path.rglob("*.eval") if p.is_file())
            in_dir += sorted(p for p in path.rglob("*.json") if p.is_file() and _is_json_log(p))
            if not in_dir:
                raise LogReadError(f"no inspect logs (*.eval) found in {path}")
            found.extend(in_dir)
        else:
            raise LogReadError(f"no such file or directory: {path}")
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    files = list(unique)
    _plan_dedup(files)
    return files


# ---------------------------------------------------------------- one record per sample

_SUPERSEDED: dict[str, frozenset[tuple[str, int]]] = {}
"""Per log file, the (sample id, epoch) pairs that a newer or more complete log of the same
eval set and task also holds; `read_log_records` leaves them out."""


def _group(log: LogRecords) -> tuple[str, str, str]:
    """Logs of one task of one run: an eval set's retries (a resumed run) share this."""
    return (log.eval_set_id or log.task_id or log.location, log.task, log.model)


def superseded(logs: Sequence[LogRecords]) -> dict[str, frozenset[tuple[str, int]]]:
    """For logs of the same eval set (or task id), task and model, which (sample id, epoch) of
    each log another log holds in a better version: complete (scored, no error) first, then
    from a finished log, then the newest. A resumed run thus never counts a sample twice."""
    groups: dict[tuple[str, str, str], list[LogRecords]] = {}
    for log in logs:
        groups.setdefault(_group(log), []).append(log)
    out: dict[str, frozenset[tuple[str, int]]] = {}
    for members in groups.values():
        if len(members) < 2:
            continue
        best: dict[tuple[str, int], tuple[tuple[bool, bool, str, str], str]] = {}
        for log in members:
            for s in log.samples:
                complete = not s.error and s.value is not None
                rank = (complete, log.status == "success", log.created or "", log.location)
                key = (s.id, s.epoch)
                if key not in best or rank > best[key][0]:
                    best[key] = (rank, log.location)
        for log in members:
            drop = frozenset(
                (s.id, s.epoch) for s in log.samples if best[(s.id, s.epoch)][1] != log.location
            )
            if drop:
                out[log.location] = drop
    return out


def _plan_dedup(files: Sequence[Path]) -> None:
    """Find, among `files`, samples that a resumed or retried run logged more than once."""
    for f in files:
        _SUPERSEDED.pop(str(f), None)
    if len(files) < 2:
        return
    heads: dict[tuple[str, str, str], list[str]] = {}
    for f in files:
        try:
            head = _header_only(str(f))
        except LogReadError:
            continue  # reported when the file itself is read
        heads.setdefault(_group(head), []).append(str(f))
    shared = [loc for locs in heads.values() if len(locs) > 1 for loc in locs]
    if shared:
        _SUPERSEDED.update(superseded([read_log_records(loc) for loc in shared]))


def _header_only(location: str) -> LogRecords:
    """A log's header facts (no samples), read cheaply."""
    if location.endswith(".eval"):
        try:
            with zipfile.ZipFile(location) as zf:
                names = set(zf.namelist())
                member = "header.json" if "header.json" in names else "_journal/start.json"
                if member in names:
                    head = json.loads(zf.read(member))
                    spec = head.get("eval") if isinstance(head, dict) else None
                    if isinstance(spec, dict):
                        return LogRecords(
                            location=location,
                            model=str(spec.get("model")),
                            task=str(spec.get("task")),
                            task_version=spec.get("task_version"),
                            package_version=None,
                            eval_set_id=spec.get("eval_set_id"),
                            task_id=spec.get("task_id"),
                            status=head.get("status", "started"),
                            created=spec.get("created"),
                        )
        except (zipfile.BadZipFile, NotImplementedError, ValueError, KeyError, RuntimeError):
            pass
        except OSError as ex:
            raise LogReadError(f"cannot read {location}: {_reason(ex)}") from ex
    try:
        return _header_records(read_eval_log(location, header_only=True), location)
    except Exception as ex:  # inspect raises many kinds for unreadable files
        raise LogReadError(f"cannot read {location} as an inspect log: {_reason(ex)}") from ex


def _local(location: str) -> str:
    """A local path for a log location (inspect reports `file://` URIs)."""
    if location.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return unquote(urlparse(location).path)
    return location


_INSPECT_INDEX_FILES = frozenset({"logs.json", "eval-set.json"})
"""Files inspect writes beside the logs of a log dir (an index, an eval set's manifest)."""


def _is_json_log(path: Path) -> bool:
    if path.name in _INSPECT_INDEX_FILES:
        return False
    try:
        with path.open("rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    return (
        _JSON_LOG_EVAL.search(head) is not None
        and b'"version"' in head
        and b'"scheming-report"' not in head
    )


def read_log_records(path: str | Path) -> LogRecords:
    """Read the records of one log file (see the module docstring for how), leaving out samples
    that another log of the same run holds in a better version (see `superseded`)."""
    records = _read_log_records(_local(str(path)))
    drop = _SUPERSEDED.get(records.location)
    if drop:
        records.samples = [s for s in records.samples if (s.id, s.epoch) not in drop]
    return records


def _read_log_records(location: str) -> LogRecords:
    try:
        fast = _read_eval_zip(location) if location.endswith(".eval") else None
        if fast is not None:
            return fast
        header = read_eval_log(location, header_only=True)
        summaries = read_eval_log_sample_summaries(location)
    except LogReadError:
        raise
    except Exception as ex:  # inspect raises many kinds for unreadable files
        raise LogReadError(f"cannot read {location} as an inspect log: {_reason(ex)}") from ex
    records = _header_records(header, location)
    for summary in summaries:
        scores = summary.scores or {}
        score = scores.get(SCORER)
        record = _record(
            sample_id=summary.id,
            epoch=summary.epoch,
            metadata=summary.metadata,
            value=score.value if score is not None else None,
            score_metadata=score.metadata if score is not None else None,
            error=bool(summary.error),
            limit=bool(summary.limit),
            location=location,
            fate=_fate(
                summary.error,
                summary.limit,
                summary.metadata,
                score.metadata if score is not None else None,
                {k: u.model_dump() for k, u in (summary.model_usage or {}).items()},
                limit_reason=summary.limit_reason,
            ),
        )
        if record is not None:
            records.samples.append(record)
    return records


def records_from_log(log: EvalLog) -> LogRecords:
    """Records from an `EvalLog` in memory (as `eval()` returns); read from its file if the
    samples are not in memory."""
    if log.samples is None:
        if not log.location:
            raise LogReadError(f"log of {log.eval.model} has neither samples nor a location")
        return read_log_records(_local(log.location))
    records = _header_records(log, log.location or "<memory>")
    for sample in log.samples:
        record = _record_from_sample(sample, records.location)
        if record is not None:
            records.samples.append(record)
    return records


def iter_records(logs: Iterable[EvalLog | str | Path]) -> Iterator[LogRecords]:
    """Records of each log, given as `EvalLog`s, log files or directories of logs."""
    for log in logs:
        if isinstance(log, EvalLog):
            yield records_from_log(log)
        else:
            for path in find_log_files([log]):
                yield read_log_records(path)


def _header_records(log: EvalLog, location: str) -> LogRecords:
    metadata = log.eval.metadata or {}
    package_version = metadata.get("package_version")
    return LogRecords(
        location=location,
        model=log.eval.model,
        task=log.eval.task,
        task_version=log.eval.task_version,
        package_version=str(package_version) if package_version is not None else None,
        eval_set_id=log.eval.eval_set_id,
        task_id=log.eval.task_id,
        status=log.status,
        created=log.eval.created,
    )


def _read_eval_zip(location: str) -> LogRecords | None:
    """Fast path for a finished `.eval` log; None when the file is not laid out as expected."""
    try:
        with zipfile.ZipFile(location) as zf:
            names = set(zf.namelist())
            if "header.json" not in names or "summaries.json" not in names:
                return None
            header = json.loads(zf.read("header.json"))
            summaries = json.loads(zf.read("summaries.json"))
    except (zipfile.BadZipFile, NotImplementedError, ValueError, KeyError, RuntimeError):
        return None
    except OSError as ex:
        raise LogReadError(f"cannot read {location}: {_reason(ex)}") from ex
    spec = header.get("eval") if isinstance(header, dict) else None
    if not isinstance(spec, dict) or not isinstance(summaries, list):
        return None
    model, task = spec.get("model"), spec.get("task")
    if not isinstance(model, str) or not isinstance(task, str):
        return None
    metadata = spec.get("metadata") or {}
    package_version = metadata.get("package_version") if isinstance(metadata, dict) else None
    records = LogRecords(
        location=location,
        model=model,
        task=task,
        task_version=spec.get("task_version"),
        package_version=str(package_version) if package_version is not None else None,
        eval_set_id=spec.get("eval_set_id"),
        task_id=spec.get("task_id"),
        status=header.get("status"),
        created=spec.get("created"),
    )
    append = records.samples.append
    cache: dict[str, tuple[str, int | None, str, dict[str, Any], bool]] = {}
    for summary in summaries:
        if not isinstance(summary, dict) or "id" not in summary:
            return None
        sample_id = summary["id"]
        scores = summary.get("scores")
        score = scores.get(SCORER) if scores else None
        value = score.get("value") if score else None
        score_metadata = score.get("metadata") if score else None
        unscored_raw = score_metadata.get("unscored") if score_metadata else None
        # metadata comes from the dataset sample, so it is the same for every epoch of an id
        # (except the accounting entry the agent adds, read per summary)
        key = str(sample_id)
        meta = cache.get(key)
        summary_md = summary.get("metadata") or {}
        fate = _fate(
            summary.get("error"),
            summary.get("limit"),
            summary_md,
            score_metadata,
            summary.get("model_usage"),
            limit_reason=summary.get("limit_reason"),
        )
        if meta is None or _thinned(unscored_raw) or _thinned(summary_md.get(ACCOUNT_KEY)):
            record = _record(
                sample_id=sample_id,
                epoch=summary.get("epoch", 1),
                metadata=summary.get("metadata") or {},
                value=value,
                score_metadata=score_metadata,
                error=bool(summary.get("error")),
                limit=bool(summary.get("limit")),
                location=location,
                fate=fate,
            )
            if record is not None:
                cache[key] = (
                    record.scenario,
                    record.scenario_version,
                    record.behaviour,
                    record.factors,
                    record.control,
                )
                append(record)
            continue
        append(
            SampleRecord(
                key,
                summary.get("epoch", 1),
                *meta,
                value if isinstance(value, dict) else None,
                _unscored_keys(unscored_raw) if unscored_raw else (),
                fate.error_reason is not None,
                fate.limit_kind is not None,
                **fate._asdict(),
            )
        )
    return records


def _record(
    *,
    sample_id: int | str,
    epoch: int,
    metadata: Mapping[str, Any],
    value: Any,
    score_metadata: Mapping[str, Any] | None,
    error: bool,
    limit: bool,
    location: str,
    fate: Fate | None = None,
) -> SampleRecord | None:
    """A record from summary fields; None for a sample that is not from a scheming scenario."""
    scenario = metadata.get("scenario")
    if not isinstance(scenario, str):
        return None
    scenario = current_id(scenario)  # an older log's kebab-case id
    factors = metadata.get("factors")
    unscored_raw = (score_metadata or {}).get("unscored")
    if (
        _thinned(factors)
        or _thinned(unscored_raw)
        or _thinned(metadata.get("behaviour"))
        or _thinned(metadata.get(ACCOUNT_KEY))
    ):
        # the summary dropped a large field: read this one sample in full
        sample = read_eval_log_sample(location, id=sample_id, epoch=epoch)
        return _record_from_sample(sample, location)
    return SampleRecord(
        id=str(sample_id),
        epoch=int(epoch),
        scenario=scenario,
        scenario_version=_int_or_none(metadata.get("scenario_version")),
        behaviour=str(metadata.get("behaviour") or scenario.split("/", 1)[0]),
        factors=dict(factors) if isinstance(factors, Mapping) else {},
        control=bool(metadata.get("control", False)),
        value=dict(value) if isinstance(value, Mapping) else None,
        unscored=_unscored_keys(unscored_raw),
        error=error and (fate is None or fate.error_reason is not None),
        limit=limit or (fate is not None and fate.limit_kind is not None),
        **(fate._asdict() if fate is not None else {}),
    )


def _record_from_sample(sample: EvalSample, location: str) -> SampleRecord | None:
    score = (sample.scores or {}).get(SCORER)
    metadata = sample.metadata or {}
    scenario = metadata.get("scenario")
    if not isinstance(scenario, str):
        return None
    scenario = current_id(scenario)  # an older log's kebab-case id
    factors = metadata.get("factors")
    fate = _fate(
        sample.error.message if sample.error is not None else None,
        sample.limit.type if sample.limit is not None else None,
        metadata,
        score.metadata if score is not None else None,
        {k: u.model_dump() for k, u in (sample.model_usage or {}).items()},
        limit_reason=sample.limit.reason if sample.limit is not None else None,
    )
    return SampleRecord(
        id=str(sample.id),
        epoch=int(sample.epoch),
        scenario=scenario,
        scenario_version=_int_or_none(metadata.get("scenario_version")),
        behaviour=str(metadata.get("behaviour") or scenario.split("/", 1)[0]),
        factors=dict(factors) if isinstance(factors, Mapping) else {},
        control=bool(metadata.get("control", False)),
        value=score.value if score is not None and isinstance(score.value, dict) else None,
        unscored=_unscored_keys((score.metadata or {}).get("unscored") if score else None),
        error=fate.error_reason is not None,
        limit=fate.limit_kind is not None,
        **fate._asdict(),
    )


class Fate(NamedTuple):
    """The accounting fields of a `SampleRecord` (see there)."""

    limit_kind: str | None
    error_reason: str | None
    tool_calls: int | None
    bad_tool_calls: int | None
    usage: dict[str, dict[str, int]] | None
    sent: dict[str, dict[str, Any]] | None = None
    reruns: dict[str, dict[str, int]] | None = None
    rerun_attempts: int = 0


ACCOUNT_KEY = "scheming:accounting"
"""Sample metadata key the agent writes (evals.agent._accounting; not imported: the analysis
reads logs without loading the agent)."""
ERROR_REASON_CHARS = 160


def _fate(
    error: Any,
    limit: Any,
    metadata: Mapping[str, Any] | None,
    score_metadata: Mapping[str, Any] | None,
    model_usage: Any,
    *,
    limit_reason: Any = None,
) -> Fate:
    account = (metadata or {}).get(ACCOUNT_KEY)
    account = account if isinstance(account, Mapping) else {}
    kind: str | None = None
    if isinstance(limit, str) and limit:
        kind = limit
    elif isinstance(limit, Mapping) and limit.get("type"):
        kind = str(limit["type"])
    elif isinstance(account.get("limit"), str):
        kind = account["limit"]
    elif score_metadata and isinstance(score_metadata.get("limit"), str):
        kind = score_metadata["limit"]  # logs written before the accounting key existed
    reason: str | None = None
    if error and kind and isinstance(limit_reason, str) and limit_reason:
        text = error.get("message") if isinstance(error, Mapping) else error
        if str(text).strip().startswith(limit_reason.strip()):
            error = None  # the limit, raised again while scoring: the sample hit a limit
    if error:
        text = error.get("message") if isinstance(error, Mapping) else error
        text = str(text).replace("\\n", "\n")  # a repr'd exception keeps its newlines escaped
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        reason = (lines[0] if lines else "error")[:ERROR_REASON_CHARS]
    raw_requests = account.get("requests")
    requests: Mapping[str, Any] = raw_requests if isinstance(raw_requests, Mapping) else {}
    usage: dict[str, dict[str, int]] = {}
    if isinstance(model_usage, Mapping):
        for model, u in model_usage.items():
            if not isinstance(u, Mapping):
                continue
            usage[str(model)] = {
                "input": _count(u.get("input_tokens")),
                "output": _count(u.get("output_tokens")),
                "cache_read": _count(u.get("input_tokens_cache_read")),
                "cache_write": _count(u.get("input_tokens_cache_write")),
                "reasoning": _count(u.get("reasoning_tokens")),
                "requests": _count(requests.get(model)),
            }
    for model, n in requests.items():
        if str(model) not in usage:
            usage[str(model)] = {
                "input": 0, "output": 0, "cache_read": 0, "cache_write": 0, "reasoning": 0,
                "requests": _count(n),
            }  # fmt: skip
    tool_calls = account.get("tool_calls")
    bad = account.get("bad_tool_calls")
    sent = account.get("sent")
    reruns, attempts = _reruns(account.get("reruns"))
    return Fate(
        reruns=reruns,
        rerun_attempts=attempts,
        sent={str(k): dict(v) for k, v in sent.items() if isinstance(v, Mapping)}
        if isinstance(sent, Mapping)
        else None,
        limit_kind=kind,
        error_reason=reason,
        tool_calls=tool_calls if isinstance(tool_calls, int) else None,
        bad_tool_calls=bad if isinstance(bad, int) else None,
        usage=usage or None,
    )


RERUN_KEYS = ("input", "output", "cache_read", "cache_write", "reasoning", "requests")


def _reruns(raw: Any) -> tuple[dict[str, dict[str, int]] | None, int]:
    """(usage per model, attempts) of a sample's errored attempts that were run again: the
    accounting entry's `reruns` (evals.agent._accounting)."""
    if not isinstance(raw, Mapping):
        return None, 0
    usage = raw.get("usage")
    out: dict[str, dict[str, int]] = {}
    if isinstance(usage, Mapping):
        for model, counts in usage.items():
            if isinstance(counts, Mapping):
                out[str(model)] = {k: _count(counts.get(k)) for k in RERUN_KEYS}
    return out or None, _count(raw.get("attempts"))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _thinned(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(_THINNED)


def _unscored_keys(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list):
        return ()
    keys: list[str] = []
    for entry in raw:
        if isinstance(entry, Mapping) and isinstance(entry.get("key"), str):
            keys.append(entry["key"])
        elif isinstance(entry, str):
            keys.append(entry)
    return tuple(keys)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _reason(ex: BaseException) -> str:
    text = str(ex).strip().splitlines()
    return text[0] if text else type(ex).__name__


RUN_SETTINGS_KEY = "run_settings"
"""Eval metadata key where `scheming run` records its effective settings (run control, judge)."""


def _header_metadata(location: str) -> dict[str, Any]:
    if location.endswith(".eval"):
        try:
            with zipfile.ZipFile(location) as zf:
                names = set(zf.namelist())
                member = "header.json" if "header.json" in names else "_journal/start.json"
                if member in names:
                    head = json.loads(zf.read(member))
                    spec = head.get("eval") if isinstance(head, dict) else None
                    md = spec.get("metadata") if isinstance(spec, dict) else None
                    return md if isinstance(md, dict) else {}
        except (zipfile.BadZipFile, NotImplementedError, ValueError, KeyError, RuntimeError):
            pass
        except OSError:
            return {}
    try:
        return dict(read_eval_log(location, header_only=True).eval.metadata or {})
    except Exception:  # noqa: BLE001 - an unreadable log is reported where its samples are read
        return {}


def run_settings(logs: Iterable[EvalLog | str | Path]) -> list[dict[str, Any]]:
    """The distinct run settings (`RUN_SETTINGS_KEY`) recorded in the logs, in first-seen order."""
    seen: dict[str, dict[str, Any]] = {}
    for log in logs:
        if isinstance(log, EvalLog):
            metas = [dict(log.eval.metadata or {})]
        else:
            try:
                metas = [_header_metadata(str(p)) for p in find_log_files([log])]
            except LogReadError:
                continue
        for md in metas:
            settings = md.get(RUN_SETTINGS_KEY)
            if isinstance(settings, dict):
                seen.setdefault(json.dumps(settings, sort_keys=True, default=str), settings)
    return list(seen.values())
