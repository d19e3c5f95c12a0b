"""The agent under test (inspect's react) and the interrogation that follows its task."""

from evals.agent._agent import LIMIT_KEY, agent_tools, interrogate, prepare, scheming_agent

__all__ = ["LIMIT_KEY", "agent_tools", "interrogate", "prepare", "scheming_agent"]
