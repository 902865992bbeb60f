"""k8s/ deploys: the base and both overlays render with kustomize, every
object they make (and k8s/px.yaml, which `kubectl apply -f k8s/` applies)
matches the Kubernetes API schemas of the oldest and newest release
kubernetes-validate ships (strict: an unknown field is an error), and the
manifests hold what docs/deploy.md promises: probes on the endpoints the
module and the worker serve, non-root read-only pods with writable
emptyDirs where they write, resources everywhere, selectors that select,
worker replicas within the topic's partitions. A planted bad manifest is
rejected by the same checks.

Tools: kustomize and the Python package kubernetes-validate, both installed
by scripts/install-deps.sh (no network at test time)."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

import kubernetes_validate

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(REPO, "k8s")
KUSTOMIZE = os.path.join(
    os.environ.get("PX_KUSTOMIZE_HOME",
                   os.path.expanduser("~/.cache/px/kustomize-v5.0.3")),
    "kustomize")
TARGETS = {"base": "base", "dev": "overlays/dev", "prod": "overlays/prod"}
# the oldest Kubernetes still commonly run, and the newest the package knows
VERSIONS = ["1.28", kubernetes_validate.latest_version()]
PX_PARTS = ("nginx-px", "px-worker")
TEMPLATE_SECRETS = os.path.join(K8S, "secrets.yaml.example")


def kustomize_build(path):
    assert os.access(KUSTOMIZE, os.X_OK), \
        "no kustomize at %s: bash scripts/install-deps.sh" % KUSTOMIZE
    r = subprocess.run([KUSTOMIZE, "build", path], capture_output=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout.decode()


def docs_of(text):
    return [d for d in yaml.safe_load_all(text) if d]


_renders = {}


def render(target):
    if target not in _renders:
        _renders[target] = docs_of(kustomize_build(os.path.join(K8S, TARGETS[target])))
    return _renders[target]


def problems(objs, version):
    """The schema errors of objs against Kubernetes `version`, one string each."""
    out = []
    for o in objs:
        try:
            kubernetes_validate.validate(o, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            out.append("%s/%s: %s at %s" % (o.get("kind"), o.get("metadata", {}).get("name"),
                                            e.message, "/".join(map(str, e.path))))
        except kubernetes_validate.SchemaNotFoundError as e:
            out.append("%s/%s: no schema (%s)" % (o.get("kind"), o.get("apiVersion"), e))
    return out


def of_kind(objs, kind):
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def workloads(objs):
    return {o["metadata"]["name"]: o for o in objs
            if o["kind"] in ("Deployment", "StatefulSet", "Job")}


def pod_spec(w):
    return w["spec"]["template"]["spec"]


# --- schemas ---------------------------------------------------------------------

@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_render_matches_the_kubernetes_schemas(target, version):
    objs = render(target)
    assert objs
    assert problems(objs, version) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_the_secret_template_matches_the_schemas(version):
    with open(TEMPLATE_SECRETS) as f:
        objs = docs_of(f.read())
    assert [o["kind"] for o in objs] == ["Secret", "Secret"]
    assert problems(objs, version) == []


BAD = {
    # a typo: strict schemas know every field
    "unknown field": ("imagePullPolicy: IfNotPresent", "imagePullPolcy: IfNotPresent"),
    # a port by name where a number is required
    "wrong type": ("containerPort: 8000", "containerPort: http-port"),
    # a probe with no handler but an unknown one
    "bad probe": ("httpGet:\n              path: /health",
                  "httpGet:\n              url: /health"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_planted_bad_manifest_is_rejected(case, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(os.path.join(K8S, "base"), base)
    old, new = BAD[case]
    path = base / "nginx-px.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    objs = docs_of(kustomize_build(str(base)))
    found = problems(objs, VERSIONS[-1])
    assert len(found) == 1 and found[0].startswith("Deployment/nginx-px"), found


def test_a_kustomization_naming_a_missing_file_fails(tmp_path):
    base = tmp_path / "base"
    shutil.copytree(os.path.join(K8S, "base"), base)
    os.remove(base / "px-worker.yaml")
    r = subprocess.run([KUSTOMIZE, "build", str(base)], capture_output=True, timeout=60)
    assert r.returncode != 0 and b"px-worker.yaml" in r.stderr, r.stderr


# --- kubectl apply -f k8s/ ---------------------------------------------------------

def test_apply_f_applies_the_rendered_prod_overlay():
    # kubectl apply -f DIR reads DIR's *.yaml, *.yml and *.json, not subdirs
    applied = sorted(n for n in os.listdir(K8S)
                     if n.endswith((".yaml", ".yml", ".json"))
                     and os.path.isfile(os.path.join(K8S, n)))
    assert applied == ["px.yaml"], applied
    with open(os.path.join(K8S, "px.yaml")) as f:
        text = f.read()
    body = re.sub(r"\A(#[^\n]*\n)+", "", text)
    assert body == kustomize_build(os.path.join(K8S, TARGETS["prod"])), \
        "k8s/px.yaml is out of date: make k8s"


# --- what the manifests promise ----------------------------------------------------

@pytest.mark.parametrize("target", sorted(TARGETS))
def test_everything_is_in_the_px_namespace(target):
    objs = render(target)
    assert "px" in of_kind(objs, "Namespace")
    for o in objs:
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == "px", o["metadata"]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_selectors_select(target):
    objs = render(target)
    pods = {n: w["spec"]["template"]["metadata"]["labels"]
            for n, w in workloads(objs).items()}

    def selects(sel):
        return [n for n, labels in pods.items()
                if sel and all(labels.get(k) == v for k, v in sel.items())]

    for name, w in workloads(objs).items():
        if w["kind"] != "Job":
            assert selects(w["spec"]["selector"]["matchLabels"]) == [name], name
    for name, s in of_kind(objs, "Service").items():
        if s["spec"].get("type") != "ExternalName":
            assert len(selects(s["spec"]["selector"])) == 1, name
    for name, p in of_kind(objs, "PodDisruptionBudget").items():
        assert selects(p["spec"]["selector"]["matchLabels"]) == [name], name
    hpa = of_kind(objs, "HorizontalPodAutoscaler")["nginx-px"]
    ref = hpa["spec"]["scaleTargetRef"]
    assert ref["kind"] == "Deployment" and ref["name"] in of_kind(objs, "Deployment")
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_every_container_has_resources(target):
    for name, w in workloads(render(target)).items():
        for c in pod_spec(w)["containers"]:
            res = c.get("resources", {})
            assert {"cpu", "memory"} <= set(res.get("requests", {})), name
            assert {"cpu", "memory"} <= set(res.get("limits", {})), name


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("part", PX_PARTS)
def test_px_pods_are_non_root_read_only_with_writable_tmp(target, part):
    w = of_kind(render(target), "Deployment")[part]
    spec = pod_spec(w)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001   # the images' user px
    (c,) = spec["containers"]
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # where each writes (docker-compose.yml's tmpfs): an emptyDir
    tmp = {"nginx-px": "/tmp/nginx", "px-worker": "/tmp"}[part]
    vols = {v["name"]: v for v in spec["volumes"]}
    mount = [m for m in c["volumeMounts"] if m["mountPath"] == tmp]
    assert mount and "emptyDir" in vols[mount[0]["name"]], c["volumeMounts"]
    assert all(m.get("readOnly") for m in c["volumeMounts"]
               if "emptyDir" not in vols[m["name"]]), c["volumeMounts"]


def nginx_conf(objs):
    return of_kind(objs, "ConfigMap")["nginx-px-conf"]["data"]["nginx.conf"]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_nginx_probes_what_the_module_serves(target):
    objs = render(target)
    spec = pod_spec(of_kind(objs, "Deployment")["nginx-px"])
    (c,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8000}
    assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    conf = nginx_conf(objs)
    assert re.search(r"listen 8000;", conf)
    assert re.search(r"location = /health \{ px_health; \}", conf)
    assert re.search(r"location = /ready \{ px_ready; \}", conf)
    # the conf the args name is the ConfigMap's, mounted where they say
    conf_path = c["args"][c["args"].index("-c") + 1]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    vol = [v for v in spec["volumes"] if v["name"] == "conf"][0]
    assert vol["configMap"]["name"] == "nginx-px-conf"
    assert conf_path == mounts["conf"] + "/nginx.conf"
    assert mounts["keys"] == "/etc/px/keys"      # docker/nginx-entrypoint.sh


def test_nginx_conf_is_the_images_own():
    """The ConfigMap's nginx.conf is docker/nginx.conf (which
    tests/integration/test_shipped_confs.py runs through `nginx -t` with the
    module) but for its opening comment."""
    with open(os.path.join(REPO, "docker", "nginx.conf")) as f:
        image = f.read()
    conf = nginx_conf(render("base"))
    tail = lambda t: t[t.index("load_module"):]   # noqa: E731
    assert tail(conf) == tail(image)


def worker_settings():
    with open(os.path.join(REPO, "conf", "px-worker.conf")) as f:
        return set(re.findall(r"^# ?([A-Z][A-Z0-9_]+) =", f.read(), re.M))


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_worker_settings_and_health_probes(target):
    objs = render(target)
    env = of_kind(objs, "ConfigMap")["px-worker-env"]["data"]
    unknown = set(env) - worker_settings()
    assert not unknown, "not px-worker settings (conf/px-worker.conf): %s" % unknown
    spec = pod_spec(of_kind(objs, "Deployment")["px-worker"])
    (c,) = spec["containers"]
    assert c["envFrom"] == [{"configMapRef": {"name": "px-worker-env"}}]
    port = env["PX_HEALTH_PORT"]
    assert port != "0"
    # the health port listens on 127.0.0.1 in the pod: exec probes
    assert c["livenessProbe"]["exec"]["command"] == [
        "/usr/local/bin/worker-entrypoint.sh", "--healthcheck"]
    assert c["startupProbe"]["exec"] == c["livenessProbe"]["exec"]
    assert "http://127.0.0.1:%s/ready" % port in c["readinessProbe"]["exec"]["command"]
    # the drain (10 s) fits in the grace period
    assert spec["terminationGracePeriodSeconds"] >= 30


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_worker_replicas_within_partitions(target):
    objs = render(target)
    w = of_kind(objs, "Deployment")["px-worker"]
    partitions = int(w["metadata"]["annotations"]["px.kafka/partitions"])
    assert 1 <= w["spec"]["replicas"] <= partitions
    job = of_kind(objs, "Job").get("kafka-topics")
    if target == "dev":
        script = job["spec"]["template"]["spec"]["containers"][0]["args"][0]
        m = re.search(r"--topic px\.events\.raw --partitions (\d+)", script)
        assert m and int(m.group(1)) == partitions, script
    else:
        assert job is None


def refs(node):
    """(kind, body) of each configMap, configMapRef, secret and
    secretKeyRef anywhere in node."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("configMap", "configMapRef", "secret", "secretKeyRef"):
                yield k, v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_references_resolve(target):
    """Every ConfigMap a pod names is in the render; every Secret is one of
    the template's (created by the operator, never shipped with a value)."""
    objs = render(target)
    with open(TEMPLATE_SECRETS) as f:
        template = {o["metadata"]["name"]: o for o in docs_of(f.read())}
    cms = set(of_kind(objs, "ConfigMap"))
    assert not of_kind(objs, "Secret"), "a Secret in the manifests"
    seen = set()
    for name, w in workloads(objs).items():
        for kind, ref in refs(pod_spec(w)):
            seen.add(kind)
            if kind in ("configMap", "configMapRef"):
                assert ref["name"] in cms, (name, ref)
            elif kind == "secret":
                assert ref["secretName"] in template, (name, ref)
            else:
                assert ref["key"] in template[ref["name"]]["stringData"], (name, ref)
    assert {"configMap", "configMapRef", "secret", "secretKeyRef"} <= seen, seen
    for s in template.values():
        assert all("REPLACE" in v for v in s["stringData"].values()), s


def test_dev_runs_the_services_the_base_names():
    objs = render("dev")
    sets = of_kind(objs, "StatefulSet")
    assert set(sets) == {"kafka", "redis", "clickhouse"}
    svcs = of_kind(objs, "Service")
    env = of_kind(objs, "ConfigMap")["px-worker-env"]["data"]
    for url in (env["KAFKA_BOOTSTRAP_SERVERS"], env["REDIS_URL"], env["CLICKHOUSE_URL"]):
        host = re.sub(r"^\w+://", "", url).split(":")[0]
        assert host in svcs and host in sets, url
    assert "px_kafka_brokers kafka:9092;" in nginx_conf(objs)
