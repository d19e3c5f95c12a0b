"""Model providers: `scripted/<policy>` replays a scenario's reference trajectory."""

from evals.models._labels import LABELS_POLICY, replay_labels
from evals.models._latency import LatencyModel
from evals.models._scripted import ScriptedModel

__all__ = ["LABELS_POLICY", "LatencyModel", "ScriptedModel", "replay_labels"]
