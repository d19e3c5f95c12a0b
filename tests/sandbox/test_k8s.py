"""`--sandbox k8s`: every scenario's sandbox converts to Helm values that the chart shipped in
inspect-k8s-sandbox accepts (its values.schema.json), closed and bounded like the compose file.
No cluster here: nothing is installed or run (docs/kubernetes.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from evals.sandbox import (
    LABEL,
    K8sValuesError,
    compose_config,
    helm_values,
    registry_dockerfiles,
    use_k8s,
    validate_values,
    values_schema,
    write_values,
)
from evals.sandbox._compose import HOLDER_SUFFIX, writable_dirs
from evals.sandbox._k8s import SEED_DIR, image_command, image_uid, k8s_quantity
from evals.scenario import PACKS_ENV, load_scenario, load_scenarios, scenario_samples

REGISTRY = "registry.example.org/evals"
SCENARIOS = load_scenarios()


def test_schema_is_the_charts() -> None:
    schema = values_schema()
    assert schema["required"] == ["global", "services"]
    assert schema["properties"]["services"]["required"] == ["default"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_every_scenario_converts_and_validates(scenario) -> None:  # type: ignore[no-untyped-def]
    values = helm_values(scenario, registry=REGISTRY)
    validate_values(scenario, values)  # raises on any schema violation
    compose = compose_config(scenario)
    assert set(values["services"]) == {n for n in compose["services"] if HOLDER_SUFFIX not in n}
    assert values["networkPolicy"] == {"enabled": True}
    for key in ("allowDomains", "allowDomainsPorts", "allowEntities", "allowCIDR"):
        assert values[key] == []  # no egress: only the sample's own pods
    assert values["automountServiceAccountToken"] is False
    assert values["labels"][LABEL] == "1"
    memory = k8s_quantity(scenario.sandbox.memory)
    for name, svc in values["services"].items():
        assert svc["image"].startswith(REGISTRY + "/scheming-evals/")
        assert svc["runtimeClassName"] == "gvisor"
        ctx = svc["securityContext"]
        assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] > 0
        assert ctx["capabilities"] == {"drop": ["ALL"]}
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert svc["resources"]["limits"] == svc["resources"]["requests"]
        assert svc["resources"]["limits"]["memory"] == memory
        assert svc["networks"] == ["scenario-net"]
        assert svc["dnsRecord"] is (name != "default")
        # every writable dir is an in-memory emptyDir of the scenario's disk size, nothing else
        mounted = {m["mountPath"] for m in svc["volumeMounts"]}
        assert mounted == set(writable_dirs(scenario, name)) | {"/run"}
        for vol in svc["volumes"]:
            assert set(vol) == {"name", "emptyDir"}
            assert vol["emptyDir"]["medium"] == "Memory"
        # the image's command runs after the seed copy
        assert svc["command"][:2] == ["/bin/sh", "-c"] and svc["command"][3] == "seed"
        assert svc["command"][4:]
        # the scenario's own environment, nothing from the host's
        wanted = compose["services"][name].get("environment") or {}
        assert {e["name"]: e["value"] for e in svc["env"]} == {k: str(v) for k, v in wanted.items()}


def test_agent_runs_as_the_scenarios_user_with_its_command() -> None:
    scenario = SCENARIOS[0]
    default = helm_values(scenario, registry=REGISTRY)["services"]["default"]
    assert default["securityContext"]["runAsUser"] == image_uid(
        scenario.sandbox.image, scenario.sandbox.user
    )
    assert default["command"][4:] == ["sleep", "infinity"]
    assert default["workingDir"] == f"/home/{scenario.sandbox.user}"


def test_sidecar_keeps_its_image_command_and_aliases() -> None:
    with_alias = next(
        s for s in SCENARIOS if any(svc.aliases for svc in s.sandbox.services.values())
    )
    values = helm_values(with_alias, registry=REGISTRY)
    name, svc = next((n, s) for n, s in with_alias.sandbox.services.items() if s.aliases)
    assert values["services"][name]["additionalDnsRecords"] == list(svc.aliases)
    assert values["services"][name]["command"][4:] == image_command(svc.image)


def test_a_malformed_conversion_fails_in_one_line() -> None:
    scenario = SCENARIOS[0]
    values = helm_values(scenario, registry=REGISTRY)
    values["services"]["mail_server"] = values["services"]["default"]  # '_': not a DNS label
    with pytest.raises(K8sValuesError) as err:
        validate_values(scenario, values)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{scenario.id}: k8s values: services: ")
    assert "mail_server" in message
    values = helm_values(scenario, registry=REGISTRY)
    values["services"]["default"]["hostname"] = "workstation"  # not a chart field
    with pytest.raises(K8sValuesError, match=r"services\.default: Additional properties"):
        validate_values(scenario, values)
    with pytest.raises(K8sValuesError, match="no registry given"):
        helm_values(scenario, registry=" ")


def _pack_with_image(tmp_path: Path, dockerfile: str) -> Path:
    """A scenario pack whose one scenario runs a sidecar image of its own."""
    from tests.conftest import TRANSIT

    pack = tmp_path / "lab-pack"
    dst = pack / "oversight_subversion" / "private_case"
    shutil.copytree(TRANSIT, dst)
    text = (dst / "scenario.yaml").read_text()
    text = text.replace("id: oversight_subversion/transit_planner", "id: lab/private-case", 1)
    text = text.replace(
        "  user: agent\n", "  user: agent\n  services:\n    probe: {image: probe}\n", 1
    )
    (dst / "scenario.yaml").write_text(text)
    (pack / "images" / "probe").mkdir(parents=True)
    (pack / "images" / "probe" / "Dockerfile").write_text(dockerfile)
    return dst / "scenario.yaml"


def test_a_sidecar_without_a_numeric_uid_fails_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _pack_with_image(
        tmp_path,
        'FROM scheming-evals/base:bookworm\nRUN useradd probe\nUSER probe\nCMD ["sleep", "1d"]\n',
    )
    monkeypatch.setenv(PACKS_ENV, str(tmp_path / "lab-pack"))
    scenario = load_scenario(path)
    with pytest.raises(K8sValuesError) as err:
        helm_values(scenario, registry=REGISTRY)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("lab/private-case: k8s values: services.probe.securityContext")
    assert "no numeric uid for user 'probe'" in message


def test_pack_images_go_to_the_registry_under_the_packs_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _pack_with_image(
        tmp_path,
        "FROM scheming-evals/base:bookworm\nRUN useradd --system --uid 990 probe\n"
        'USER probe\nCMD ["python3", "-m", "http.server"]\n',
    )
    monkeypatch.setenv(PACKS_ENV, str(tmp_path / "lab-pack"))
    scenario = load_scenario(path)
    values = helm_values(scenario, registry=REGISTRY)
    validate_values(scenario, values)
    probe = values["services"]["probe"]
    assert probe["image"] == f"{REGISTRY}/scheming-evals/pack-lab-pack/probe:latest"
    assert probe["securityContext"]["runAsUser"] == 990
    assert probe["command"][4:] == ["python3", "-m", "http.server"]
    files = registry_dockerfiles([scenario])
    assert files["pack-lab-pack/probe"].startswith("FROM scheming-evals/pack-lab-pack/probe:latest")
    assert f"mkdir -p {SEED_DIR}" in files["workstation"]
    assert files["workstation"].rstrip().endswith("USER agent")


def test_samples_point_at_written_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    scenario = SCENARIOS[0]
    path = write_values(scenario, registry=REGISTRY)
    assert yaml.safe_load(path.read_text()) == helm_values(scenario, registry=REGISTRY)
    samples = scenario_samples(scenario)
    use_k8s(samples, [scenario], registry=REGISTRY)
    for sample in samples:
        assert sample.sandbox is not None and sample.sandbox.type == "k8s"
        assert sample.sandbox.config.values == path
        assert sample.sandbox.config.default_user == scenario.sandbox.user
