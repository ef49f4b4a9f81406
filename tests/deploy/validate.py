#!/usr/bin/env python3
"""Offline validation of rendered Kubernetes manifests.

Usage:
  validate.py schema  --schemas DIR FILE...   every object against its JSON schema
                                              (the only mode needing schemas and jsonschema)
  validate.py policy  FILE...                 our production rules (see check_policy)
  validate.py images  [--dragonfly-operator V] FILE...
                                              every image pinned (tag or digest, no :latest);
                                              Dragonfly by explicit tag, and with V (the
                                              Dragonfly operator release, e.g. v1.6.1) the
                                              Dragonfly version that release supports
  validate.py namespaces FILE...              every namespaced object carries a namespace
                                              (the rendered Namespace, when there is one)
  validate.py operator-names FILE...          no NetworkPolicy named like one an operator
                                              generates for our custom resources; one owner
                                              per Dragonfly policy
  validate.py durability FILE...              CNPG Clusters with replicas commit synchronously
                                              (quorum, data durability required)
  validate.py pdbs FILE...                    PodDisruptionBudgets: unhealthyPodEvictionPolicy
                                              AlwaysAllow
  validate.py spread-taints FILE...           hard topology spreads honour node taints
  validate.py kafka-spread FILE...            no two Kafka nodes of a cluster on one host
  validate.py scrape-token FILE...            the read-only admin token is mounted apart from
                                              the command token, and Prometheus scrapes with it
  validate.py mutate  KIND PATH NEW_KEY IN OUT
                                              copy of the first KIND object of IN with the
                                              key at PATH renamed to NEW_KEY (or, when PATH
                                              ends in a new key, added) -> OUT

Schemas (DIR = shared/k8s-schemas, see its README):
  core kinds:  kubernetes/v1.36-standalone-strict/<kind>[-<group label>]-<version>.json
               (already strict: unknown fields are errors)
  CRDs:        crds/json/<group>/<kind>_<version>.json, loaded with three changes:
               1. every object schema with `properties`, without `additionalProperties`
                  and without `x-kubernetes-preserve-unknown-fields: true` is closed
                  (`additionalProperties: false`), like the API server's strict field
                  validation; nothing below oneOf/anyOf/allOf/not is closed, because
                  `properties` there only say which fields must or may be present;
               2. the root `metadata` ({type: object} in CRDs) becomes ObjectMeta;
               3. `nullable: true` adds "null" to the type.
An object without a schema is an error, never skipped.

Exit status: 0 when everything passed, 1 otherwise, 2 on usage errors.
"""

import copy
import json
import os
import sys

import yaml

# jsonschema is needed by `schema` only: policy, images and mutate run
# without it (and without schemas).
try:
    import jsonschema
except ImportError:  # pragma: no cover - run.sh picks an interpreter that has it
    jsonschema = None


# -- YAML: like the API server sees it (no implicit timestamps) ---------------

class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.load_all(f, Loader=_Loader) if d is not None]


def describe(obj):
    meta = obj.get("metadata") or {}
    return "%s/%s %s" % (obj.get("apiVersion"), obj.get("kind"), meta.get("name"))


# -- schemas -------------------------------------------------------------------

def close_schema(node, under_combinator=False):
    """Closes object schemas in place (see the module docstring)."""
    if isinstance(node, list):
        for item in node:
            close_schema(item, under_combinator)
        return
    if not isinstance(node, dict):
        return
    if node.get("nullable") is True:
        t = node.get("type")
        if isinstance(t, str):
            node["type"] = [t, "null"]
        elif isinstance(t, list) and "null" not in t:
            node["type"] = t + ["null"]
    if (not under_combinator and "properties" in node
            and "additionalProperties" not in node
            and node.get("x-kubernetes-preserve-unknown-fields") is not True):
        node["additionalProperties"] = False
    for key, value in node.items():
        if key in ("oneOf", "anyOf", "allOf", "not"):
            close_schema(value, True)
        elif key == "properties" and isinstance(value, dict):
            for sub in value.values():
                close_schema(sub, under_combinator)
        elif key in ("items", "additionalProperties"):
            close_schema(value, under_combinator)


class Schemas:
    def __init__(self, root):
        self.root = root
        self.cache = {}
        self._object_meta = None

    def object_meta(self):
        if self._object_meta is None:
            core = self.path_core("v1", "ConfigMap")
            with open(core, encoding="utf-8") as f:
                self._object_meta = json.load(f)["properties"]["metadata"]
        return self._object_meta

    def path_core(self, api_version, kind):
        group, _, version = api_version.rpartition("/")
        name = kind.lower()
        if group:
            name += "-" + group.split(".")[0]
        return os.path.join(self.root, "kubernetes", "v1.36-standalone-strict",
                            "%s-%s.json" % (name, version))

    def path_crd(self, api_version, kind):
        """The CRD schema in the schema folder, else the repository's own copy
        (tests/deploy/crds: CRDs the shared folder lacks, e.g. PrometheusRule)."""
        group, _, version = api_version.rpartition("/")
        if not group:
            return None
        name = "%s_%s.json" % (kind.lower(), version)
        shared = os.path.join(self.root, "crds", "json", group, name)
        if os.path.isfile(shared):
            return shared
        return os.path.join(os.path.dirname(os.path.abspath(__file__)), "crds", "json", group, name)

    def validator(self, api_version, kind):
        key = (api_version, kind)
        if key in self.cache:
            return self.cache[key]
        v = None
        core = self.path_core(api_version, kind)
        crd = self.path_crd(api_version, kind)
        if os.path.isfile(core):
            with open(core, encoding="utf-8") as f:
                schema = json.load(f)
        elif crd and os.path.isfile(crd):
            with open(crd, encoding="utf-8") as f:
                schema = json.load(f)
            close_schema(schema)
            schema.setdefault("properties", {})["metadata"] = copy.deepcopy(self.object_meta())
        else:
            schema = None
        if schema is not None:
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
            v = cls(schema)
        self.cache[key] = v
        return v


def error_path(err):
    parts = []
    for p in err.absolute_path:
        parts.append("[%d]" % p if isinstance(p, int) else "." + str(p))
    return "".join(parts) or "."


def cmd_schema(args):
    if len(args) < 3 or args[0] != "--schemas":
        return usage()
    if jsonschema is None:
        print("validate.py: the Python package jsonschema is missing", file=sys.stderr)
        return 1
    schemas = Schemas(args[1])
    failed = 0
    count = 0
    for path in args[2:]:
        for obj in load_docs(path):
            count += 1
            if not isinstance(obj, dict) or "apiVersion" not in obj or "kind" not in obj:
                print("  INVALID %s: not a Kubernetes object (apiVersion/kind missing)" % path)
                failed += 1
                continue
            v = schemas.validator(obj["apiVersion"], obj["kind"])
            if v is None:
                print("  INVALID %s: no schema for %s %s" % (describe(obj), obj["apiVersion"], obj["kind"]))
                failed += 1
                continue
            errors = sorted(v.iter_errors(obj), key=lambda e: list(e.absolute_path))
            if errors:
                failed += 1
                print("  INVALID %s" % describe(obj))
                for e in errors[:10]:
                    print("    at %s: %s" % (error_path(e), e.message[:300]))
                if len(errors) > 10:
                    print("    ... %d more" % (len(errors) - 10))
    print("  %d objects, %d invalid" % (count, failed))
    return 1 if failed else 0


# -- policy: production rules the schemas cannot express -------------------------

def pod_specs(obj):
    """(where, pod spec) of workload objects."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield describe(obj), (spec.get("template") or {}).get("spec") or {}
    elif kind == "CronJob":
        yield describe(obj), ((((spec.get("jobTemplate") or {}).get("spec") or {})
                               .get("template") or {}).get("spec") or {})
    elif kind == "Pod":
        yield describe(obj), spec


def duration_seconds(text):
    """CAF timespans as used in our config: 8s, 500ms, 2min."""
    units = [("min", 60.0), ("ms", 0.001), ("us", 1e-6), ("ns", 1e-9), ("s", 1.0), ("h", 3600.0)]
    for suffix, factor in units:
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def check_policy(objs):
    problems = []
    config = {}
    for obj in objs:
        if obj.get("kind") == "ConfigMap":
            config[(obj.get("metadata") or {}).get("name")] = obj.get("data") or {}

    for obj in objs:
        for where, pod in pod_specs(obj):
            def bad(msg):
                problems.append("%s: %s" % (where, msg))
            psc = pod.get("securityContext") or {}
            if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                bad("pod securityContext.seccompProfile.type is not RuntimeDefault")
            if pod.get("automountServiceAccountToken") is not False:
                bad("automountServiceAccountToken is not false")
            drain = 8.0  # the binaries' default --drain-timeout
            for src in pod.get("containers") or []:
                for ef in src.get("envFrom") or []:
                    data = config.get((ef.get("configMapRef") or {}).get("name"), {})
                    if "PING_DRAIN_TIMEOUT" in data:
                        drain = max(drain, duration_seconds(data["PING_DRAIN_TIMEOUT"]))
            pre_stop = 0.0
            for c in pod.get("containers") or []:
                cmd = (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command") or []
                if len(cmd) == 2 and cmd[0].endswith("sleep"):
                    pre_stop = max(pre_stop, float(cmd[1]))
            grace = pod.get("terminationGracePeriodSeconds")
            if obj.get("kind") != "Job" and (grace is None or grace <= drain + pre_stop):
                bad("terminationGracePeriodSeconds %s not longer than preStop %gs + drain %gs"
                    % (grace, pre_stop, drain))
            all_containers = [("init container", c) for c in pod.get("initContainers") or []]
            all_containers += [("container", c) for c in pod.get("containers") or []]
            for what, c in all_containers:
                name = "%s %s" % (what, c.get("name"))
                res = c.get("resources") or {}
                for section in ("requests", "limits"):
                    for r in ("cpu", "memory"):
                        if r not in (res.get(section) or {}):
                            bad("%s: no resources.%s.%s" % (name, section, r))
                sc = c.get("securityContext") or {}
                if not (sc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                    bad("%s: runAsNonRoot not set" % name)
                if sc.get("readOnlyRootFilesystem") is not True:
                    bad("%s: readOnlyRootFilesystem is not true" % name)
                if sc.get("allowPrivilegeEscalation") is not False:
                    bad("%s: allowPrivilegeEscalation is not false" % name)
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    bad("%s: capabilities.drop lacks ALL" % name)
                if what == "container" and obj.get("kind") != "Job":
                    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                        if probe not in c:
                            bad("%s: no %s" % (name, probe))
                for e in c.get("env") or []:
                    n = e.get("name", "")
                    if ("DSN" in n or "PASSWORD" in n or "TOKEN" in n) and "value" in e \
                            and not n.endswith("_FILE"):
                        bad("%s: %s is inlined; reference a Secret" % (name, n))
    for obj in objs:
        if obj.get("kind") == "ConfigMap":
            for k, v in (obj.get("data") or {}).items():
                if any(s in k for s in ("DSN", "PASSWORD")) or "password=" in str(v).lower():
                    problems.append("%s: %s looks like a credential in a ConfigMap" % (describe(obj), k))
    return problems


def cmd_policy(args):
    if not args:
        return usage()
    problems = []
    for path in args:
        problems += check_policy(load_docs(path))
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


# -- images --------------------------------------------------------------------

# The Dragonfly version each Dragonfly operator release is built and tested
# against: `Version` in internal/resources/version.go of
# dragonflydb/dragonfly-operator at the release tag (the image the operator
# runs when a Dragonfly names none). Add a row when the operator is upgraded.
DRAGONFLY_OF_OPERATOR = {
    "v1.6.1": "v1.39.0",
}


def images(obj):
    for where, pod in pod_specs(obj):
        for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            yield where, c.get("image")
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "Cluster" and "imageName" in spec:
        yield describe(obj), spec["imageName"]
    if kind == "Dragonfly":
        # Without spec.image the operator picks the image: not pinned here.
        yield describe(obj), spec.get("image")


def image_tag(image):
    """The explicit tag of an image reference (None without one)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else None


def image_problem(image):
    if not image:
        return "no image"
    if "@sha256:" in image:
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return "no tag (means :latest)"
    if last.rsplit(":", 1)[1] == "latest":
        return ":latest"
    return None


def cmd_images(args):
    operator = None
    if args[:1] == ["--dragonfly-operator"]:
        if len(args) < 2:
            return usage()
        operator, args = args[1], args[2:]
    if not args:
        return usage()
    problems = []
    if operator is not None and operator not in DRAGONFLY_OF_OPERATOR:
        problems.append("Dragonfly operator %s: its Dragonfly version is not known to "
                        "validate.py (DRAGONFLY_OF_OPERATOR)" % operator)
    for path in args:
        for obj in load_docs(path):
            for where, image in images(obj):
                p = image_problem(image)
                if obj.get("kind") == "Dragonfly" and not p:
                    tag = image_tag(image)
                    want = DRAGONFLY_OF_OPERATOR.get(operator)
                    if tag is None:
                        p = "no explicit tag (pin the Dragonfly version by tag)"
                    elif want and tag != want:
                        p = "tag %s, but Dragonfly operator %s supports %s" % (tag, operator, want)
                if p:
                    problems.append("%s: image %r: %s" % (where, image, p))
                if obj.get("kind") == "Kafka" and not ((obj.get("spec") or {}).get("kafka") or {}).get("version"):
                    problems.append("%s: spec.kafka.version not pinned" % describe(obj))
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


# -- production hardening (issue 11) ---------------------------------------------

def report(problems):
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


def all_objects(args):
    objs = []
    for path in args:
        objs += [o for o in load_docs(path) if isinstance(o, dict)]
    return objs


def name_of(obj):
    return (obj.get("metadata") or {}).get("name")


def labels_match(selector, labels):
    """Kubernetes label selector semantics (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


# Kinds that are not namespaced (the API server ignores metadata.namespace on
# them); everything else must carry the namespace, or it lands wherever the
# kubectl context points.
CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "StorageClass", "VolumeSnapshotClass",
    "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "APIService",
    "PriorityClass", "RuntimeClass", "IngressClass", "CSIDriver", "CSINode",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ClusterIssuer", "ClusterImageCatalog",
}


def cmd_namespaces(args):
    if not args:
        return usage()
    problems = []
    objs = all_objects(args)
    rendered = [name_of(o) for o in objs if o.get("kind") == "Namespace"]
    for obj in objs:
        if obj.get("kind") in CLUSTER_SCOPED:
            continue
        ns = (obj.get("metadata") or {}).get("namespace")
        if not ns:
            problems.append("%s: no namespace" % describe(obj))
        elif len(rendered) == 1 and ns != rendered[0]:
            problems.append("%s: namespace %s, not the rendered Namespace %s"
                            % (describe(obj), ns, rendered[0]))
    return report(problems)


def operator_network_policies(obj):
    """Names of the NetworkPolicies an operator generates for a custom resource."""
    kind, name = obj.get("kind"), name_of(obj)
    if kind == "Dragonfly":
        # dragonfly-operator 1.6.1 (generateNetworkPolicy): named like the
        # Dragonfly; with networkPolicyEnabled: false it deletes that name.
        return [name]
    if kind == "Kafka":
        # Strimzi (KafkaResources / CruiseControlResources / EntityOperator).
        return [name + "-network-policy-kafka", name + "-network-policy-cruise-control",
                name + "-entity-operator"]
    return []


def cmd_operator_names(args):
    if not args:
        return usage()
    problems = []
    objs = all_objects(args)
    policies = [o for o in objs if o.get("kind") == "NetworkPolicy"]
    for cr in objs:
        for generated in operator_network_policies(cr):
            for np in policies:
                if name_of(np) == generated:
                    problems.append("%s: same name as the NetworkPolicy the operator of %s "
                                    "generates" % (describe(np), describe(cr)))
        if cr.get("kind") == "Dragonfly":
            # Pods of a Dragonfly carry app=<name>. A policy of ours for them
            # means the operator's must be off: policies add up, and the
            # operator's opens the client port to every pod of the namespace.
            pod_labels = {"app": name_of(cr)}
            ours = [np for np in policies
                    if (np.get("spec") or {}).get("podSelector")
                    and labels_match(np["spec"]["podSelector"], pod_labels)
                    and (np["spec"]["podSelector"].get("matchLabels")
                         or np["spec"]["podSelector"].get("matchExpressions"))]
            if ours and (cr.get("spec") or {}).get("networkPolicyEnabled") is not False:
                problems.append("%s: NetworkPolicy %s of ours selects its pods, but "
                                "spec.networkPolicyEnabled is not false (two owners)"
                                % (describe(cr), ", ".join(name_of(np) for np in ours)))
    return report(problems)


def cmd_durability(args):
    if not args:
        return usage()
    problems = []
    for obj in all_objects(args):
        if obj.get("kind") != "Cluster" or not obj.get("apiVersion", "").startswith("postgresql.cnpg.io/"):
            continue
        spec = obj.get("spec") or {}
        instances = spec.get("instances", 1)
        sync = (spec.get("postgresql") or {}).get("synchronous")
        where = describe(obj)
        if instances < 2:
            if sync and sync.get("dataDurability", "required") == "required":
                problems.append("%s: %d instance with required synchronous replication: "
                                "no standby can acknowledge, writes would block" % (where, instances))
            continue
        if not sync:
            problems.append("%s: %d instances without spec.postgresql.synchronous: commits are "
                            "acknowledged before a standby has them (a failover loses them)"
                            % (where, instances))
            continue
        if sync.get("method") != "any":
            problems.append("%s: synchronous.method %r, not 'any' (quorum)" % (where, sync.get("method")))
        number = sync.get("number", 0)
        if not 1 <= number <= instances - 1:
            problems.append("%s: synchronous.number %r not in 1..%d" % (where, number, instances - 1))
        if sync.get("dataDurability") != "required":
            problems.append("%s: synchronous.dataDurability %r, not 'required'"
                            % (where, sync.get("dataDurability")))
        if sync.get("failoverQuorum") is not True:
            problems.append("%s: synchronous.failoverQuorum not true (a failover may promote a "
                            "standby without the acknowledged commits)" % where)
        if spec.get("minSyncReplicas") or spec.get("maxSyncReplicas"):
            problems.append("%s: deprecated minSyncReplicas/maxSyncReplicas set as well" % where)
    return report(problems)


def cmd_pdbs(args):
    if not args:
        return usage()
    problems = []
    for obj in all_objects(args):
        if obj.get("kind") != "PodDisruptionBudget":
            continue
        policy = (obj.get("spec") or {}).get("unhealthyPodEvictionPolicy")
        if policy != "AlwaysAllow":
            problems.append("%s: unhealthyPodEvictionPolicy %s, not AlwaysAllow (pods that never "
                            "got ready block node drains)" % (describe(obj), policy))
    return report(problems)


def walk_spreads(node, where):
    """(path, constraint) of every topologySpreadConstraints entry below node."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "topologySpreadConstraints" and isinstance(v, list):
                for i, c in enumerate(v):
                    yield "%s.%s[%d]" % (where, k, i), c
            else:
                yield from walk_spreads(v, where + "." + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk_spreads(v, "%s[%d]" % (where, i))


def cmd_spread_taints(args):
    if not args:
        return usage()
    problems = []
    for obj in all_objects(args):
        for path, c in walk_spreads(obj.get("spec") or {}, "spec"):
            if isinstance(c, dict) and c.get("whenUnsatisfiable") == "DoNotSchedule" \
                    and c.get("nodeTaintsPolicy") != "Honor":
                problems.append("%s: %s (%s, DoNotSchedule): nodeTaintsPolicy %s, not Honor "
                                "(tainted nodes count as domains the pods cannot use)"
                                % (describe(obj), path, c.get("topologyKey"), c.get("nodeTaintsPolicy")))
    return report(problems)


HOSTNAME = "kubernetes.io/hostname"


def strimzi_node_labels(cluster, pool, extra):
    """Labels Strimzi puts on the pods of a KafkaNodePool (operator-common Labels)."""
    roles = (pool.get("spec") or {}).get("roles") or []
    labels = {
        "strimzi.io/cluster": cluster,
        "strimzi.io/kind": "Kafka",
        "strimzi.io/name": cluster + "-kafka",
        "strimzi.io/component-type": "kafka",
        "strimzi.io/pool-name": name_of(pool),
        "strimzi.io/broker-role": "true" if "broker" in roles else "false",
        "strimzi.io/controller-role": "true" if "controller" in roles else "false",
    }
    labels.update(extra or {})
    return labels


def cmd_kafka_spread(args):
    if not args:
        return usage()
    problems = []
    objs = all_objects(args)
    for kafka in objs:
        if kafka.get("kind") != "Kafka":
            continue
        cluster = name_of(kafka)
        kpod = ((((kafka.get("spec") or {}).get("kafka") or {}).get("template") or {}).get("pod") or {})
        pools = [p for p in objs if p.get("kind") == "KafkaNodePool"
                 and ((p.get("metadata") or {}).get("labels") or {}).get("strimzi.io/cluster") == cluster]
        if not pools:
            problems.append("%s: no KafkaNodePool" % describe(kafka))
        pods = []  # (pool, labels, pod template)
        for pool in pools:
            ppod = (((pool.get("spec") or {}).get("template") or {}).get("pod") or {})
            pod = dict(kpod)
            pod.update({k: v for k, v in ppod.items() if v is not None})
            labels = strimzi_node_labels(cluster, pool, (pod.get("metadata") or {}).get("labels"))
            pods.append((pool, labels, pod))
        total = sum((p.get("spec") or {}).get("replicas", 0) for p, _, _ in pods)
        entity_operator = {"strimzi.io/cluster": cluster, "strimzi.io/kind": "Kafka",
                           "strimzi.io/name": cluster + "-entity-operator",
                           "strimzi.io/component-type": "entity-operator"}
        for pool, labels, pod in pods:
            where = "%s (pool %s)" % (describe(kafka), name_of(pool))
            hard = False
            anti = ((pod.get("affinity") or {}).get("podAntiAffinity") or {})
            for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
                if term.get("topologyKey") != HOSTNAME:
                    continue
                sel = term.get("labelSelector")
                if all(labels_match(sel, l) for _, l, _ in pods):
                    hard = True
                    if labels_match(sel, entity_operator):
                        problems.append("%s: the required anti-affinity also selects the entity "
                                        "operator pod (it would keep a node from its broker)" % where)
            for c in pod.get("topologySpreadConstraints") or []:
                if (c.get("topologyKey") == HOSTNAME and c.get("whenUnsatisfiable") == "DoNotSchedule"
                        and c.get("maxSkew") == 1 and c.get("minDomains", 1) >= total
                        and all(labels_match(c.get("labelSelector"), l) for _, l, _ in pods)):
                    hard = True
            if not hard:
                problems.append("%s: no required pod anti-affinity over %s (nor a DoNotSchedule "
                                "spread with minDomains >= %d) for all Kafka nodes: two of them, "
                                "KRaft voters, may share a host" % (where, HOSTNAME, total))
    return report(problems)


# -- admin tokens: file path -> Secret key ------------------------------------------

def mounted_secret(pod, container, path):
    """(secret, key) of the Secret file at path in container, else None."""
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    for m in container.get("volumeMounts") or []:
        mount = (m.get("mountPath") or "").rstrip("/")
        vol = volumes.get(m.get("name")) or {}
        if m.get("subPath"):
            if path != mount:
                continue
            rel = m["subPath"]
        elif path.startswith(mount + "/"):
            rel = path[len(mount) + 1:]
        else:
            continue
        sources = []
        if "secret" in vol:
            sources.append((vol["secret"].get("secretName"), vol["secret"].get("items")))
        for src in ((vol.get("projected") or {}).get("sources") or []):
            if "secret" in src:
                sources.append((src["secret"].get("name"), src["secret"].get("items")))
        for secret, items in sources:
            if items:
                for it in items:
                    if it.get("path") == rel:
                        return secret, it.get("key")
            elif "/" not in rel:
                return secret, rel
    return None


def container_setting(container, config, env_name):
    """Value of a PING_* setting of a container (env, then its ConfigMaps)."""
    for e in container.get("env") or []:
        if e.get("name") == env_name and "value" in e:
            return e["value"]
    for ef in container.get("envFrom") or []:
        data = config.get((ef.get("configMapRef") or {}).get("name"), {})
        if env_name in data:
            return data[env_name]
    return None


def cmd_scrape_token(args):
    if not args:
        return usage()
    problems = []
    objs = all_objects(args)
    config = {name_of(o): o.get("data") or {} for o in objs if o.get("kind") == "ConfigMap"}
    tokens = {}  # Deployment name -> (command (secret, key), read-only (secret, key))
    for obj in objs:
        for where, pod in pod_specs(obj):
            for c in pod.get("containers") or []:
                cmd_file = container_setting(c, config, "PING_ADMIN_TOKEN_FILE")
                read_file = container_setting(c, config, "PING_ADMIN_READ_TOKEN_FILE")
                if not cmd_file and not read_file:
                    continue
                cmd = mounted_secret(pod, c, cmd_file) if cmd_file else None
                read = mounted_secret(pod, c, read_file) if read_file else None
                name = "%s container %s" % (where, c.get("name"))
                if read_file and not read:
                    problems.append("%s: PING_ADMIN_READ_TOKEN_FILE %s is no mounted Secret key"
                                    % (name, read_file))
                if read and read == cmd:
                    problems.append("%s: the read-only token is the command token (%s/%s)"
                                    % (name, read[0], read[1]))
                tokens[name_of(obj)] = (cmd, read, name, obj)
    services = [o for o in objs if o.get("kind") == "Service"]
    for sm in objs:
        if sm.get("kind") != "ServiceMonitor":
            continue
        spec = sm.get("spec") or {}
        scraped = []
        for svc in services:
            if not labels_match(spec.get("selector"), (svc.get("metadata") or {}).get("labels")):
                continue
            selector = (svc.get("spec") or {}).get("selector") or {}
            for name, (cmd, read, where, dep) in tokens.items():
                tmpl = (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {})
                if selector and all((tmpl.get("labels") or {}).get(k) == v for k, v in selector.items()):
                    scraped.append((cmd, read, where))
        if not scraped:
            problems.append("%s: scrapes no Deployment with an admin token" % describe(sm))
        for i, ep in enumerate(spec.get("endpoints") or []):
            cred = (ep.get("authorization") or {}).get("credentials") or ep.get("bearerTokenSecret")
            ref = (cred.get("name"), cred.get("key")) if cred else None
            at = "%s endpoints[%d]" % (describe(sm), i)
            if ref is None:
                problems.append("%s: no bearer token" % at)
                continue
            for cmd, read, where in scraped:
                if ref == cmd:
                    problems.append("%s: scrapes %s with the command token %s/%s; use the read-only "
                                    "token (PING_ADMIN_READ_TOKEN_FILE)" % (at, where, ref[0], ref[1]))
                elif read is None:
                    problems.append("%s: %s has no read-only token (PING_ADMIN_READ_TOKEN_FILE)"
                                    % (at, where))
                elif ref != read:
                    problems.append("%s: token %s/%s is not the read-only token %s/%s of %s"
                                    % (at, ref[0], ref[1], read[0], read[1], where))
    return report(problems)


# -- mutate: negative samples ----------------------------------------------------

def cmd_mutate(args):
    if len(args) != 5:
        return usage()
    kind, path, new_key, src, dst = args
    objs = [o for o in load_docs(src) if o.get("kind") == kind]
    if not objs:
        print("  no %s in %s" % (kind, src))
        return 1
    obj = copy.deepcopy(objs[0])
    steps = path.split(".")
    node = obj
    for step in steps[:-1]:
        node = node[int(step)] if isinstance(node, list) else node[step]
    last = steps[-1]
    if last in node:
        node[new_key] = node.pop(last)
    else:
        # PATH names a key that is not there: add NEW_KEY with a plausible value.
        node[new_key] = last
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(obj, f, sort_keys=False)
    return 0


def usage():
    print(__doc__, file=sys.stderr)
    return 2


def main(argv):
    if len(argv) < 2:
        return usage()
    cmds = {"schema": cmd_schema, "policy": cmd_policy, "images": cmd_images, "mutate": cmd_mutate,
            "namespaces": cmd_namespaces, "operator-names": cmd_operator_names,
            "durability": cmd_durability, "pdbs": cmd_pdbs, "spread-taints": cmd_spread_taints,
            "kafka-spread": cmd_kafka_spread, "scrape-token": cmd_scrape_token}
    if argv[1] not in cmds:
        return usage()
    return cmds[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
