"""Scenario format: schema, loader (errors name file:line:field) and dataset building."""

from evals._bounded import UntrustedDataError, load_untrusted
from evals.scenario._dataset import (
    build_dataset,
    combinations,
    is_control,
    render,
    sample_id,
    scenario_samples,
)
from evals.scenario._errors import Problem, ScenarioError
from evals.scenario._loader import (
    FAMILY_FILE,
    check_scenarios,
    load_family,
    load_scenario,
    load_scenarios,
    load_suite,
    project_root,
    scenario_files,
    scenarios_dir,
    select,
)
from evals.scenario._schema import RUNGS, FamilyInterrogation, Scenario, Step, Suite

__all__ = [
    "FAMILY_FILE",
    "FamilyInterrogation",
    "check_scenarios",
    "load_family",
    "RUNGS",
    "Problem",
    "Scenario",
    "ScenarioError",
    "Step",
    "Suite",
    "UntrustedDataError",
    "build_dataset",
    "combinations",
    "is_control",
    "load_scenario",
    "load_scenarios",
    "load_suite",
    "load_untrusted",
    "project_root",
    "render",
    "sample_id",
    "scenario_files",
    "scenario_samples",
    "scenarios_dir",
    "select",
]
