"""Reads `terraform show -json PLAN` and fails on any change a converged stack must not
have, attribute by attribute.

    plan_drift.py PLAN.json

A plan right after an apply should change nothing. Against moto it cannot quite: moto
stores a few attributes differently from AWS, so the next plan wants to set them again.
Those are listed below, each as (resource address pattern, attribute path pattern,
why); a change is allowed only when *every* attribute it touches is listed for its
resource. Any create, delete or replace, and any other attribute, is drift: the plan is
printed and the script exits 1.
"""

import json
import re
import sys

# (resource address, attribute path, reason); both are full-match regular expressions,
# the path written as dotted keys with list indexes (`parameter.0.value`).
ALLOWED = [
    (
        r"(module\.[a-z_]+(\[\d+\])?\.)?aws_vpc_security_group_(ingress|egress)_rule\.[a-z_]+(\[\d+\])?",
        r"referenced_security_group_id",
        "moto answers the referenced group as ACCOUNT/sg-…, AWS as sg-…",
    ),
    (
        r"module\.postgres\[0\]\.aws_db_parameter_group\.this",
        r"parameter(\..*)?",
        "moto does not return a parameter group's user parameters",
    ),
]


def changed_paths(before, after, unknown, prefix=""):
    """Attribute paths whose value differs between `before` and `after` (or becomes
    unknown), as dotted strings."""
    if unknown is True:
        return [prefix or "(whole)"]
    if isinstance(before, dict) and isinstance(after, dict):
        paths = []
        unknown = unknown if isinstance(unknown, dict) else {}
        for key in sorted(set(before) | set(after) | set(unknown)):
            child = f"{prefix}.{key}" if prefix else key
            paths += changed_paths(before.get(key), after.get(key), unknown.get(key), child)
        return paths
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        paths = []
        unknown = unknown if isinstance(unknown, list) else [None] * len(after)
        for index, (b, a) in enumerate(zip(before, after)):
            u = unknown[index] if index < len(unknown) else None
            paths += changed_paths(b, a, u, f"{prefix}.{index}")
        return paths
    return [] if before == after else [prefix or "(whole)"]


def allowed(address, path):
    for address_pattern, path_pattern, reason in ALLOWED:
        if re.fullmatch(address_pattern, address) and re.fullmatch(path_pattern, path):
            return reason
    return None


def main():
    plan = json.load(open(sys.argv[1]))
    drift = []
    tolerated = []
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        address = change["address"]
        if actions in (["no-op"], ["read"]):
            continue
        if actions != ["update"]:
            drift.append(f"{address}: {'/'.join(actions)}")
            continue
        paths = changed_paths(
            change["change"].get("before"),
            change["change"].get("after"),
            change["change"].get("after_unknown"),
        )
        for path in paths:
            reason = allowed(address, path)
            if reason:
                tolerated.append(f"{address}: {path} ({reason})")
            else:
                drift.append(f"{address}: {path} changes")
    for line in tolerated:
        print(f"  tolerated: {line}")
    if drift:
        print("drift after apply (not a known moto difference):", file=sys.stderr)
        for line in drift:
            print(f"  {line}", file=sys.stderr)
        sys.exit(1)
    print(f"converged: {len(tolerated)} attribute(s) moto stores differently, nothing else")


if __name__ == "__main__":
    main()
