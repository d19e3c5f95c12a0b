"""Model providers: `scripted/<policy>` replays a scenario's reference trajectory."""

from evals.models._scripted import REFERENCE_KEY, ScriptedModel

__all__ = ["REFERENCE_KEY", "ScriptedModel"]
