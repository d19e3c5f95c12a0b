"""Entry point for inspect: registers our tasks and model providers."""

from inspect_ai.model import ModelAPI, modelapi

from evals.tasks import scheming


@modelapi(name="scripted")
def scripted() -> type[ModelAPI]:
    from evals.models import ScriptedModel

    return ScriptedModel


@modelapi(name="latency")
def latency() -> type[ModelAPI]:
    from evals.models import LatencyModel

    return LatencyModel


__all__ = ["latency", "scheming", "scripted"]
