"""The agent under test (inspect's react) and the interrogation that follows its task."""

from evals.agent._agent import prepare, scheming_agent
from evals.agent._event import EVENT_KEY, event_baseline, event_plan, post_task_event
from evals.agent._interrogation import (
    FOLLOWUPS_DEFAULT,
    FOLLOWUPS_MAX,
    PLAN_KEY,
    interrogation,
    interrogation_plan,
)
from evals.agent._scaffold import SCAFFOLD_KEY, Scaffold, scaffold_plan
from evals.agent._tools import agent_tools

__all__ = [
    "EVENT_KEY",
    "FOLLOWUPS_DEFAULT",
    "FOLLOWUPS_MAX",
    "PLAN_KEY",
    "SCAFFOLD_KEY",
    "Scaffold",
    "agent_tools",
    "event_baseline",
    "event_plan",
    "interrogation",
    "interrogation_plan",
    "post_task_event",
    "prepare",
    "scaffold_plan",
    "scheming_agent",
]
