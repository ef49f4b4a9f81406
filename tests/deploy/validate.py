#!/usr/bin/env python3
"""Offline validation of rendered Kubernetes manifests.

Usage:
  validate.py schema  --schemas DIR FILE...   every object against its JSON schema
                                              (the only mode needing schemas and jsonschema)
  validate.py policy  FILE...                 our production rules (see check_policy)
  validate.py images  FILE...                 every image pinned (tag or digest, no :latest)
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
        group, _, version = api_version.rpartition("/")
        if not group:
            return None
        return os.path.join(self.root, "crds", "json", group,
                            "%s_%s.json" % (kind.lower(), version))

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

def images(obj):
    for where, pod in pod_specs(obj):
        for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
            yield where, c.get("image")
    spec = obj.get("spec") or {}
    kind = obj.get("kind")
    if kind == "Cluster" and "imageName" in spec:
        yield describe(obj), spec["imageName"]
    if kind == "Dragonfly" and "image" in spec:
        yield describe(obj), spec["image"]


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
    if not args:
        return usage()
    problems = []
    for path in args:
        for obj in load_docs(path):
            for where, image in images(obj):
                p = image_problem(image)
                if p:
                    problems.append("%s: image %r: %s" % (where, image, p))
                if obj.get("kind") == "Kafka" and not ((obj.get("spec") or {}).get("kafka") or {}).get("version"):
                    problems.append("%s: spec.kafka.version not pinned" % describe(obj))
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


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
    cmds = {"schema": cmd_schema, "policy": cmd_policy, "images": cmd_images, "mutate": cmd_mutate}
    if argv[1] not in cmds:
        return usage()
    return cmds[argv[1]](argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
