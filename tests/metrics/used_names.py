#!/usr/bin/env python3
"""Prints the metric names (ping_*, process_*) that the PromQL expressions of
the monitoring component use: every panel target and template query of each
Grafana dashboard (dashboards/*.json, or a ConfigMap holding one) and every
rule of each PrometheusRule. One name a line.

usage: used_names.py DEPLOY_COMPONENT_DIR
"""
import json
import pathlib
import re
import sys

import yaml

NAME = re.compile(r"\b((?:ping|process)_[a-zA-Z0-9_]+)\b")


def targets(panel):
    for t in panel.get("targets", []):
        if "expr" in t:
            yield t["expr"]
    for p in panel.get("panels", []):
        yield from targets(p)


def dashboard(dash):
    for panel in dash.get("panels", []):
        yield from targets(panel)
    for var in dash.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if isinstance(q, str):
            yield q


def expressions(doc):
    kind = doc.get("kind")
    if kind == "ConfigMap":
        for key, text in (doc.get("data") or {}).items():
            if key.endswith(".json"):
                yield from dashboard(json.loads(text))
    elif kind == "PrometheusRule":
        for group in doc["spec"]["groups"]:
            for rule in group["rules"]:
                yield rule["expr"]


def main():
    root = pathlib.Path(sys.argv[1])
    names = set()
    found = 0
    for path in sorted(root.glob("**/*.json")):
        for expr in dashboard(json.loads(path.read_text())):
            found += 1
            names.update(NAME.findall(re.sub(r'"[^"]*"', '""', expr)))
    for path in sorted(root.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            for expr in expressions(doc):
                found += 1
                # Label values and strings are not names.
                expr = re.sub(r'"[^"]*"', '""', expr)
                names.update(NAME.findall(expr))
    if found == 0:
        sys.exit("no dashboard or rule expressions under %s" % root)
    for n in sorted(names):
        print(n)


if __name__ == "__main__":
    main()
