"""The Kubernetes manifests (deploy/kubernetes): every kustomization renders with `kubectl kustomize`
(`$KUBECTL`, in CI Debian's kubectl 1.20 whose kustomize is the oldest supported, and any `kubectl`
on PATH), every core object matches the Kubernetes JSON schemas (kubernetes-validate, strict), the
custom resources carry what their operators need, and the project's invariants hold: probes,
resources, non-root, a PodDisruptionBudget and one autoscaler per Deployment, pinned images, no
secret value in the base, every reference resolving, every variable a real setting.

`kubectl apply --dry-run=client` is not run: it needs an API server for its REST mappings (README).
"""
from __future__ import annotations

import base64
import copy
import importlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
KUSTOMIZATIONS = ("base", "autoscaling/cpu", "autoscaling/keda", "overlays/example", "overlays/example-keda",
                  "dependencies")
DEPLOYABLE = ("overlays/example", "overlays/example-keda")
EXAMPLE_ENV = "overlays/example/environment"
# The oldest Kubernetes the manifests are written for (Ingress v1, PDB policy/v1, HPA autoscaling/v2,
# Pod Security labels) and the newest the schemas know.
SCHEMA_VERSIONS = ("1.27", kubernetes_validate.latest_version())
CUSTOM_KINDS = {("rabbitmq.com/v1beta1", "RabbitmqCluster"), ("postgresql.cnpg.io/v1", "Cluster"),
                ("postgresql.cnpg.io/v1", "Database"), ("keda.sh/v1alpha1", "ScaledObject"),
                ("keda.sh/v1alpha1", "TriggerAuthentication")}
# Deployment name -> (service, settings package, environment prefix).
SERVICES = {"requests": ("requests", "requests_service", "REQUESTS_"),
            "settings": ("settings", "settings_service", "SETTINGS_"),
            "digest": ("digest", "digest_service", "DIGEST_"),
            "sis-sync": ("sis_sync", "sis_sync_service", "SIS_SYNC_")}
SHARED_ENV = {"JWT_SECRET"}
SECRET_LOOKING = re.compile(r"SECRET|PASSWORD|DATABASE_URL|RABBITMQ_URL|TOKEN")


# --- rendering ------------------------------------------------------------------------------------

def renderers() -> list[str]:
    """$KUBECTL first (CI: kubectl 1.20), then a different `kubectl` on PATH."""
    found: list[str] = []
    for candidate in (os.environ.get("KUBECTL"), shutil.which("kubectl")):
        if candidate and shutil.which(candidate) and os.path.realpath(shutil.which(candidate)) not in {
                os.path.realpath(f) for f in found}:
            found.append(shutil.which(candidate))
    return found


def client_version(kubectl: str) -> str:
    out = subprocess.run([kubectl, "version", "--client"], check=False, capture_output=True, text=True).stdout
    match = re.search(r'GitVersion:"(v[^"]+)"', out) or re.search(r"Client Version: (v\S+)", out)
    return match.group(1) if match else out.strip()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, dict[str, list[dict]]]:
    """{kubectl: {kustomization: [objects]}}, rendered in a copy of deploy/kubernetes where the
    example's git-ignored secrets.env is made from secrets.env.example."""
    found = renderers()
    if not found:
        message = ("kubectl not found: set KUBECTL (CI: KUBECTL=$(bash deploy/kubernetes/ci/kubectl-1.20.sh)) "
                   "or put kubectl on PATH")
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    copy_root = tmp_path_factory.mktemp("k8s") / "kubernetes"
    shutil.copytree(K8S, copy_root, ignore=shutil.ignore_patterns("secrets.env"))
    example = copy_root / EXAMPLE_ENV
    (example / "secrets.env").write_text((example / "secrets.env.example").read_text()
                                         .replace("JWT_SECRET=\n", "JWT_SECRET=" + "x" * 32 + "\n"))
    result: dict[str, dict[str, list[dict]]] = {}
    for kubectl in found:
        result[kubectl] = {}
        for target in KUSTOMIZATIONS:
            run = subprocess.run([kubectl, "kustomize", str(copy_root / target)], check=False,
                                 capture_output=True, text=True)
            assert run.returncode == 0, f"{client_version(kubectl)} kustomize {target}:\n{run.stderr}"
            result[kubectl][target] = [doc for doc in yaml.safe_load_all(run.stdout) if doc]
    return result


@pytest.fixture(scope="module")
def primary(rendered) -> dict[str, list[dict]]:
    """The renderings of the first kubectl ($KUBECTL when set)."""
    return next(iter(rendered.values()))


def of_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def unhashed(obj: dict) -> tuple[str, str]:
    """(kind, name) with the content hash of a generated ConfigMap/Secret removed."""
    name = obj["metadata"]["name"]
    if obj["kind"] in ("ConfigMap", "Secret"):
        name = re.sub(r"-[a-z0-9]{10}$", "", name)
    return obj["kind"], name


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def test_every_kustomization_renders_the_same_objects_with_every_kubectl(rendered):
    versions = {kubectl: client_version(kubectl) for kubectl in rendered}
    if os.environ.get("REQUIRE_SERVICES") == "1":
        assert any(v.startswith("v1.20.") for v in versions.values()), (
            "CI renders with kubectl 1.20 (the oldest kustomize): "
            "KUBECTL=$(bash deploy/kubernetes/ci/kubectl-1.20.sh); "
            f"found {versions}")
    reference_kubectl, reference = next(iter(rendered.items()))
    for target in KUSTOMIZATIONS:
        assert reference[target], f"{target} renders nothing"
        for kubectl, by_target in rendered.items():
            assert sorted(map(unhashed, by_target[target])) == sorted(map(unhashed, reference[target])), (
                f"{target}: {versions[kubectl]} and {versions[reference_kubectl]} render different objects")


# --- schemas --------------------------------------------------------------------------------------

def test_every_core_object_matches_the_kubernetes_schemas(primary):
    problems, seen = [], set()
    for target, objects in primary.items():
        for obj in objects:
            key = json.dumps(obj, sort_keys=True)  # the overlays share most objects: each is checked once
            if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS or key in seen:
                continue
            seen.add(key)
            for version in SCHEMA_VERSIONS:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.SchemaNotFoundError:
                    problems.append(f"{target}: no schema for {obj['apiVersion']} {obj['kind']} in {version}")
                except kubernetes_validate.ValidationError as exc:
                    problems.append(f"{target}: {obj['kind']}/{obj['metadata']['name']} ({version}): {exc}")
    assert not problems, "\n".join(problems)


def test_the_schema_check_refuses_a_misspelled_field_and_a_wrong_type(primary):
    deployment = of_kind(primary["overlays/example"], "Deployment")["requests"]
    misspelled = copy.deepcopy(deployment)
    misspelled["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/healthz"}}
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    for broken in (misspelled, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(broken, SCHEMA_VERSIONS[0], strict=True)


def test_the_custom_resources_carry_what_their_operators_need(primary):
    from pur_contracts.topology import SUBSCRIPTIONS, Topology

    deps = primary["dependencies"]
    for obj in deps:
        assert (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS, f"unexpected {obj['kind']} in dependencies"
    (rabbit,) = of_kind(deps, "RabbitmqCluster").values()
    assert rabbit["spec"]["replicas"] == 3 and rabbit["spec"]["persistence"]["storage"]
    (cluster,) = of_kind(deps, "Cluster").values()
    assert cluster["spec"]["instances"] == 3 and cluster["spec"]["storage"]["size"]
    assert cluster["spec"]["bootstrap"]["initdb"]["owner"] == "app"
    databases = of_kind(deps, "Database").values()
    assert sorted(d["spec"]["name"] for d in databases) == sorted(f"pur_{s}" for s, _, _ in SERVICES.values())
    for database in databases:
        assert database["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
        assert database["spec"]["owner"] == "app"

    queues = {Topology().queue(service, purpose) for service, purpose in SUBSCRIPTIONS}
    keda = primary["overlays/example-keda"]
    deployments, secrets = of_kind(keda, "Deployment"), of_kind(keda, "Secret")
    auths = of_kind(keda, "TriggerAuthentication")
    scaled = of_kind(keda, "ScaledObject")
    assert scaled, "overlays/example-keda has no ScaledObject"
    for name, obj in scaled.items():
        assert obj["spec"]["scaleTargetRef"]["name"] in deployments, f"ScaledObject {name} scales nothing"
        rabbit_triggers = [t for t in obj["spec"]["triggers"] if t["type"] == "rabbitmq"]
        assert rabbit_triggers, f"ScaledObject {name} does not follow a queue"
        for trigger in rabbit_triggers:
            assert trigger["metadata"]["queueName"] in queues, trigger["metadata"]["queueName"]
            assert trigger["metadata"]["queueName"] == Topology().queue(SERVICES[name][0], "main")
            assert int(trigger["metadata"]["value"]) > 0
            assert trigger["authenticationRef"]["name"] in auths
    for auth in auths.values():
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["key"] in secrets[ref["name"]]["data"], f"{ref} names no key of a rendered Secret"


# --- the project's invariants ---------------------------------------------------------------------

@pytest.mark.parametrize("target", DEPLOYABLE)
def test_every_deployment_is_probed_bounded_non_root_spread_and_has_a_pdb_and_one_autoscaler(primary, target):
    objects = primary[target]
    deployments = of_kind(objects, "Deployment")
    assert sorted(deployments) == sorted(SERVICES)
    pdbs, hpas, scaled = of_kind(objects, "PodDisruptionBudget"), of_kind(objects, "HorizontalPodAutoscaler"), \
        of_kind(objects, "ScaledObject")
    for name, deployment in deployments.items():
        spec, labels = pod_spec(deployment), deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["replicas"] == 2, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["topologySpreadConstraints"], name
        assert spec["terminationGracePeriodSeconds"] >= 30, name
        assert spec.get("automountServiceAccountToken") is False, name
        for container in spec["containers"]:
            assert container["args"] == ["serve"], name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["startupProbe"]["httpGet"]["path"] == "/healthz", name
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) >= {"cpu", "memory"}, f"{name}: {bound}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
        budgets = [p for p in pdbs.values() if selects(p["spec"]["selector"]["matchLabels"], labels)]
        assert len(budgets) == 1 and budgets[0]["spec"]["minAvailable"] == 1, f"{name}: PodDisruptionBudget"
        autoscalers = [h for h in hpas.values() if h["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": name}]
        autoscalers += [s for s in scaled.values() if s["spec"]["scaleTargetRef"]["name"] == name]
        assert len(autoscalers) == 1, f"{name}: {len(autoscalers)} autoscalers (one HPA or one ScaledObject)"
        minimum = autoscalers[0]["spec"].get("minReplicas", autoscalers[0]["spec"].get("minReplicaCount"))
        assert minimum == 2, name


def test_migrations_run_in_one_job_per_service_with_the_deployments_image(primary):
    objects = primary["overlays/example"]
    deployments, jobs = of_kind(objects, "Deployment"), of_kind(objects, "Job")
    assert sorted(jobs) == sorted(f"{name}-migrate" for name in SERVICES)
    for name, deployment in deployments.items():
        (job_container,) = pod_spec(jobs[f"{name}-migrate"])["containers"]
        (container,) = pod_spec(deployment)["containers"]
        assert job_container["args"] == ["migrate"]
        assert job_container["image"] == container["image"]
        prefix = SERVICES[name][2]
        assert {e["name"] for e in job_container["env"]} == {"JWT_SECRET", f"{prefix}DATABASE_URL"}
        assert pod_spec(jobs[f"{name}-migrate"])["securityContext"]["runAsNonRoot"] is True


def test_every_image_is_pinned_by_a_release_tag(primary):
    for target, objects in primary.items():
        for obj in objects:
            template = obj.get("spec", {}).get("template", {}).get("spec", {})
            images = [c["image"] for c in template.get("containers", []) + template.get("initContainers", [])]
            spec = obj.get("spec", {})
            images += [spec[key] for key in ("image", "imageName") if isinstance(spec.get(key), str)]
            for image in images:
                repository, _, tag = image.rpartition(":")
                assert repository and "/" not in tag and tag not in ("", "latest"), f"{target}: {image} is not pinned"


def test_the_base_carries_no_secret_value_and_secrets_env_is_never_committed(primary):
    for target in ("base", "autoscaling/cpu", "autoscaling/keda", "dependencies"):
        assert not of_kind(primary[target], "Secret"), f"{target} defines a Secret"
    for obj in primary["base"]:
        if obj["kind"] == "ConfigMap":
            for key, value in obj["data"].items():
                assert not SECRET_LOOKING.search(key), f"{key} belongs in the Secret"
                assert "@" not in urlsplit(value).netloc, f"{key} carries credentials"
        for container in (pod_spec(obj)["containers"] if obj["kind"] in ("Deployment", "Job") else []):
            for env in container.get("env", []):
                if SECRET_LOOKING.search(env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env["name"]
    ignored = subprocess.run(["git", "check-ignore", "-q", f"deploy/kubernetes/{EXAMPLE_ENV}/secrets.env"],
                             check=False, cwd=ROOT)
    if ignored.returncode == 128:  # not a git checkout
        pytest.skip("git cannot say what is ignored here")
    assert ignored.returncode == 0, "secrets.env must be git-ignored"
    example = (K8S / EXAMPLE_ENV / "secrets.env.example").read_text()
    assert re.search(r"^JWT_SECRET=$", example, re.MULTILINE), "the example holds no real JWT secret"


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_every_reference_resolves(primary, target):
    objects = primary[target]
    config_maps, secrets = of_kind(objects, "ConfigMap"), of_kind(objects, "Secret")
    services, deployments = of_kind(objects, "Service"), of_kind(objects, "Deployment")
    for obj in objects:
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in pod_spec(obj)["containers"]:
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, f"{obj['metadata']['name']}: {source}"
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref is None:
                    continue
                if ref.get("optional"):
                    assert ref["name"] in secrets, f"{obj['metadata']['name']}: {ref}"
                else:
                    keys = secrets.get(ref["name"], {}).get("data", {})
                    assert ref["key"] in keys, f"{obj['metadata']['name']}: {ref}"
    for name, service in services.items():
        matching = [d for d in deployments.values()
                    if selects(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])]
        assert len(matching) == 1, f"Service {name} selects {len(matching)} Deployments"
        ports = {p["name"] for c in pod_spec(matching[0])["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    for ingress in of_kind(objects, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["port"]["name"] in {p["name"] for p in services[backend["name"]]["spec"]["ports"]}
    # The in-cluster URLs of the ConfigMaps (the staff app's calls to the other APIs).
    for config in config_maps.values():
        for key, value in config["data"].items():
            url = urlsplit(value)
            if url.scheme == "http" and url.hostname and "." not in url.hostname:
                assert url.port in {p["port"] for p in services[url.hostname]["spec"]["ports"]}, f"{key}={value}"


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_every_variable_is_a_real_setting_of_its_service_and_every_secret_key_is_documented(primary, target):
    objects = primary[target]
    config_maps = of_kind(objects, "ConfigMap")
    example = (K8S / EXAMPLE_ENV / "secrets.env.example").read_text()
    example_keys = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
    used_secret_keys = set()
    for name, deployment in of_kind(objects, "Deployment").items():
        _, package, prefix = SERVICES[name]
        fields = set(importlib.import_module(f"{package}.config").Settings.model_fields)
        (container,) = pod_spec(deployment)["containers"]
        variables = [e["name"] for e in container["env"]]
        variables += [k for s in container["envFrom"] for k in config_maps[s["configMapRef"]["name"]]["data"]]
        used_secret_keys |= {e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"] if "valueFrom" in e}
        for variable in variables:
            if variable in SHARED_ENV:
                continue
            assert variable.startswith(prefix), f"{name}: {variable} lacks the {prefix} prefix"
            assert variable[len(prefix):].lower() in fields, f"{name}: {variable} is not a setting"
        assert f"{prefix}ENVIRONMENT" in variables and f"{prefix}DATABASE_URL" in variables, name
    assert used_secret_keys == example_keys, "secrets.env.example and the manifests name different keys"


def pod_settings(objects: list[dict], name: str, monkeypatch):
    """The Settings the Deployment `name`'s pod makes from its ConfigMap and Secret (the environment
    of this process is replaced by the pod's for the service's variables)."""
    config_maps, secrets = of_kind(objects, "ConfigMap"), of_kind(objects, "Secret")
    _, package, prefix = SERVICES[name]
    (container,) = pod_spec(of_kind(objects, "Deployment")[name])["containers"]
    environment = {k: v for s in container["envFrom"]
                   for k, v in config_maps[s["configMapRef"]["name"]]["data"].items()}
    for env in container["env"]:
        ref = env["valueFrom"]["secretKeyRef"]
        value = secrets[ref["name"]]["data"].get(ref["key"])
        if value is not None:
            environment[env["name"]] = base64.b64decode(value).decode()
    for variable in list(os.environ):
        if variable.startswith(prefix) or variable in SHARED_ENV:
            monkeypatch.delenv(variable)
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    return importlib.import_module(f"{package}.config").Settings(_env_file=None)


def test_each_service_accepts_the_environment_its_pod_gets(primary, monkeypatch):
    """The values, not only the names: the ConfigMap and the Secret (from secrets.env.example) as the
    pod's environment make a valid Settings of its service (types, choices, the production rules)."""
    objects = primary["overlays/example"]
    for name in of_kind(objects, "Deployment"):
        settings = pod_settings(objects, name, monkeypatch)
        assert settings.environment == "production", name
        assert settings.database_url.startswith("postgresql+asyncpg://"), name
        assert settings.database_url.endswith(f"/pur_{SERVICES[name][0]}"), name


def test_the_public_urls_lead_to_the_right_service_through_the_ingress(primary):
    objects = primary["overlays/example"]
    (ingress,) = of_kind(objects, "Ingress").values()
    data = {k: v for c in of_kind(objects, "ConfigMap").values() for k, v in c["data"].items()}

    def service_for(url: str) -> str:
        parts = urlsplit(url)
        rules = [r for r in ingress["spec"]["rules"] if r["host"] == parts.hostname]
        assert rules, f"no Ingress rule for {parts.hostname}"
        paths = sorted(rules[0]["http"]["paths"], key=lambda p: -len(p["path"]))
        for path in paths:
            prefix = path["path"].rstrip("/")
            if parts.path == prefix or parts.path.startswith(prefix + "/"):
                return path["backend"]["service"]["name"]
        raise AssertionError(f"no Ingress path for {url}")

    assert service_for(data["DIGEST_PUBLIC_BASE_URL"] + "/manage-requests") == "requests"
    assert service_for(data["SETTINGS_PUBLIC_REQUESTS_URL"] + "/district-settings") == "requests"
    assert service_for(data["DIGEST_PUBLIC_API_URL"] + "/api/v1/digest/unsubscribe") == "digest"
    assert service_for(data["DIGEST_SETTINGS_PUBLIC_URL"] + "/districts/d1/settings") == "settings"
    assert all(urlsplit(data[k]).scheme == "https" for k in data if "PUBLIC" in k)
    tls_hosts = {h for t in ingress["spec"]["tls"] for h in t["hosts"]}
    assert {r["host"] for r in ingress["spec"]["rules"]} <= tls_hosts
    assert data["REQUESTS_SECURE_COOKIES"] == "true" and data["REQUESTS_DEV_LOGIN"] == "false"


# PostgreSQL connections a replica opens beyond its pool (`<P>DB_POOL_SIZE`): the outbox relay's
# listener and claiming connection (pur_kit.outbox), and the readiness/dependency probe's short-lived
# one (pur_kit.uow.Database.ping); sis_sync adds its import pool (`import_pool_size`).
RELAY_AND_PROBE_CONNECTIONS = 3
# What else connects: a migration Job per service during a deploy, the operator, superuser slots.
RESERVED_CONNECTIONS = 20


@pytest.mark.parametrize("target", DEPLOYABLE)
def test_every_service_at_its_autoscalers_maximum_fits_postgresqls_max_connections(primary, target, monkeypatch):
    """The connection budget of docs/capacity.md, from what is deployed: each Deployment's most
    replicas (its HorizontalPodAutoscaler's or KEDA ScaledObject's maximum) times the connections one
    replica opens with the pod's own settings, plus the reserve, within the CloudNativePG cluster's
    max_connections."""
    objects = primary[target]
    (cluster,) = of_kind(primary["dependencies"], "Cluster").values()
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    maxima: dict[str, int] = {}
    for hpa in of_kind(objects, "HorizontalPodAutoscaler").values():
        deployment = hpa["spec"]["scaleTargetRef"]["name"]
        maxima[deployment] = max(maxima.get(deployment, 0), hpa["spec"]["maxReplicas"])
    for scaled in of_kind(objects, "ScaledObject").values():
        deployment = scaled["spec"]["scaleTargetRef"]["name"]
        maxima[deployment] = max(maxima.get(deployment, 0), scaled["spec"]["maxReplicaCount"])
    budget = {}
    for name in of_kind(objects, "Deployment"):
        settings = pod_settings(objects, name, monkeypatch)
        per_replica = settings.db_pool_size + RELAY_AND_PROBE_CONNECTIONS + getattr(settings, "import_pool_size", 0)
        budget[name] = per_replica * maxima[name]
    total = sum(budget.values()) + RESERVED_CONNECTIONS
    assert total <= max_connections, f"{budget} + {RESERVED_CONNECTIONS} reserved = {total} > max_connections {max_connections}"
