"""Reads `terraform show -json` of a plan that only changes image_tag, and fails if the
release would replace, destroy or touch what must outlive releases.

    plan_release.py RELEASE_PLAN.json NEW_TAG [BASELINE_PLAN.json]

Releasing a new image must never replace an instance, a launch template, a volume or its
attachment, the Auto Scaling group, the load balancer, the database or the ECS
cluster and service — and it must actually release something: the plan has to carry
NEW_TAG into the stack (the image-tag parameter, or a new task definition).

With BASELINE_PLAN (a plan of the same stack with the tag it runs now), each of those
resources must also change in the release plan exactly as it does in the baseline,
attribute by attribute: the new tag adds no change of its own to them. (An in-place
update of a launch template makes a new version, and the Auto Scaling group's instance
refresh then replaces every worker: "not replaced" alone would let that through.)
"""

import json
import sys

from plan_drift import changed_paths

PROTECTED = {
    "aws_instance",
    "aws_launch_template",
    "aws_autoscaling_group",
    "aws_ebs_volume",
    "aws_volume_attachment",
    "aws_eip",
    "aws_lb",
    "aws_lb_target_group",
    "aws_lb_listener",
    "aws_db_instance",
    "aws_ecs_cluster",
    "aws_ecs_service",
    "aws_dynamodb_table",
    "aws_s3_bucket",
    "aws_secretsmanager_secret",
}


# What a release is meant to change on a protected resource: the ECS service is pointed at
# the new task definition (that is the release; ECS then rolls the tasks, start-first).
RELEASED = {"aws_ecs_service": {"task_definition"}}


def protected_changes(plan):
    """address → (actions, changed attribute paths) of every protected resource, leaving
    out what a release is meant to change."""
    out = {}
    for change in plan.get("resource_changes", []):
        if change["type"] not in PROTECTED or change.get("mode") != "managed":
            continue
        body = change["change"]
        actions = "/".join(body["actions"])
        paths = changed_paths(body.get("before"), body.get("after"), body.get("after_unknown"))
        paths = sorted(p for p in paths if p not in RELEASED.get(change["type"], set()))
        if actions == "update" and not paths:
            actions = "no-op"
        out[change["address"]] = (actions, paths)
    return out


def main():
    plan = json.load(open(sys.argv[1]))
    tag = sys.argv[2]
    problems, carried, changed = [], False, []
    if len(sys.argv) > 3:
        baseline = protected_changes(json.load(open(sys.argv[3])))
        for address, change in protected_changes(plan).items():
            before = baseline.get(address, ("no-op", []))
            if change != before:
                problems.append(f"{address}: the new tag changes it ({change[0]} {change[1]}; without it: {before[0]} {before[1]})")
    for change in plan.get("resource_changes", []):
        actions = change["change"]["actions"]
        if actions in (["no-op"], ["read"]):
            continue
        changed.append(f"{change['address']}: {'/'.join(actions)}")
        if change["type"] in PROTECTED and ("delete" in actions or "create" in actions):
            problems.append(f"{change['address']} would be {'/'.join(actions)}")
        if tag in json.dumps(change["change"].get("after")):
            carried = True
    for line in changed:
        print(f"  {line}")
    if not carried:
        problems.append(f"nothing in the plan carries the new tag {tag}: the release would change nothing")
    if problems:
        for line in problems:
            print(f"release plan: {line}", file=sys.stderr)
        sys.exit(1)
    compared = " or changed by the tag" if len(sys.argv) > 3 else ""
    print(f"release plan: {tag} reaches the stack; nothing protected is replaced, destroyed{compared}")


if __name__ == "__main__":
    main()
