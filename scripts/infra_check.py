"""Reads back from moto what `terraform apply` of deploy/terraform/aws-ecs made, and
fails (exit 1, one line per problem) where it is not what the module promises.

    infra_check.py OUTPUTS.json            the stack's resources and their settings
    infra_check.py --tls-only BUCKET       a plain-HTTP write is refused by the bucket
                                           policy; then the policy is removed so pier can
                                           use the emulator, which speaks plain HTTP only
    infra_check.py --objects BUCKET TABLE  pier wrote an object and a metadata record
    infra_check.py --metrics-none PLAN.json
                                           the plan of metrics = "none" on the applied
                                           stack removes the workspace, its rules, the
                                           telemetry grant and the sidecar, nothing else
    infra_check.py --swarm-monitoring OUTPUTS.json CIDR
                                           aws-swarm: the kit's files as SSM parameters
                                           (byte for byte the repository's), Grafana's
                                           listener open to CIDR only, to the manager
    infra_check.py --deployer-covers STATE.json
                                           every AWS service the applied stack uses is
                                           granted by deploy/iam/deployer-policy.json
    infra_check.py --gone BUCKET TABLE     destroy removed the bucket and the table
    infra_check.py --alarms PREFIX TOPIC   the alarms that catch a total outage (no
                                           healthy target, the ALB's own 5xx, the 5xx
                                           share) exist with their metric and threshold
    infra_check.py --alertmanager OUTPUTS.json DEST
                                           writes the rendered alert manager config to
                                           DEST (for amtool check-config)
    infra_check.py --log-queries OUTPUTS.json PIER_LOG
                                           every field the saved Logs Insights queries
                                           use is a field of pier's JSON access line

Talks only to AWS_ENDPOINT_URL (moto on 127.0.0.1), with boto3 from moto's venv.
"""

import json
import sys
from pathlib import Path

import boto3

PROBLEMS = []


def example_task_size():
    """The task size the drill applied: the one examples/small.tfvars sets, so the check
    follows the file a newcomer deploys with instead of repeating its numbers."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parent.parent / "deploy/terraform/aws-ecs/examples/small.tfvars").read_text()
    values = dict(re.findall(r"^(task_cpu|task_memory)\s*=\s*(\d+)", text, re.M))
    return values["task_cpu"], values["task_memory"]


def expect(condition, message):
    if not condition:
        PROBLEMS.append(message)


def finish(what):
    if PROBLEMS:
        for problem in PROBLEMS:
            print(f"infra_check: {problem}", file=sys.stderr)
        sys.exit(1)
    print(f"infra_check: {what}: all as expected")


def check_stack(outputs_path):
    outputs = {k: v["value"] for k, v in json.load(open(outputs_path)).items()}
    bucket, table = outputs["bucket_name"], outputs["table_name"]
    s3 = boto3.client("s3")

    # The bucket: private, encrypted, versioned, TLS only, abandoned uploads cleaned up.
    expect(s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled", "bucket versioning is not enabled")
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    expect(rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms"), "bucket is not encrypted")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    expect(all(block.values()) and len(block) == 4, f"public access not fully blocked: {block}")
    policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    expect(
        any(st["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(st.get("Condition", {})) for st in policy["Statement"]),
        "bucket policy does not deny plain HTTP",
    )
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    expect(any("AbortIncompleteMultipartUpload" in r for r in lifecycle), "no rule aborting incomplete multipart uploads")

    # The table: exactly the schema of src/store/dynamo.rs.
    dynamodb = boto3.client("dynamodb")
    desc = dynamodb.describe_table(TableName=table)["Table"]
    expect(desc["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}], f"table key schema: {desc['KeySchema']}")
    gsis = {g["IndexName"]: g for g in desc.get("GlobalSecondaryIndexes", [])}
    expect("by_time" in gsis, "table has no by_time index")
    if "by_time" in gsis:
        expect(
            gsis["by_time"]["KeySchema"] == [{"AttributeName": "feed", "KeyType": "HASH"}, {"AttributeName": "id", "KeyType": "RANGE"}],
            f"by_time key schema: {gsis['by_time']['KeySchema']}",
        )
        expect(gsis["by_time"]["Projection"]["ProjectionType"] == "ALL", "by_time does not project all attributes")
    expect(desc.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST", "table is not on-demand")
    pitr = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    expect(pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED", "point-in-time recovery is off")

    # ECS: a Fargate service of 2 tasks, read-only root, non-root, settings and secrets.
    ecs = boto3.client("ecs")
    services = ecs.describe_services(cluster=outputs["cluster_name"], services=[outputs["service_name"]])["services"]
    expect(len(services) == 1, "ECS service not found")
    if services:
        service = services[0]
        expect(service["desiredCount"] == 2, f"desired count {service['desiredCount']}, want 2")
        expect(service.get("launchType") == "FARGATE", "service is not on Fargate")
        expect(len(service.get("loadBalancers", [])) == 1, "service is not behind the target group")
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
        containers = {c["name"]: c for c in task["containerDefinitions"]}
        container = containers.get("pier", {})
        expect(container.get("readonlyRootFilesystem") is True, "root filesystem is writable")
        expect(container.get("user") == "10001:10001", f"container user {container.get('user')}")
        env = {e["name"]: e["value"] for e in container.get("environment", [])}
        expect(env.get("PIER_STORAGE") == f"s3://{bucket}", f"PIER_STORAGE is {env.get('PIER_STORAGE')}")
        expect(env.get("PIER_METADATA") == f"dynamodb://{table}", f"PIER_METADATA is {env.get('PIER_METADATA')}")
        expect(env.get("DATABASE_URL", "").startswith("postgres://pier@"), "DATABASE_URL is not the RDS database")
        expect(":" not in env.get("DATABASE_URL", "")[len("postgres://"):].split("@")[0], "DATABASE_URL carries a password")
        secrets = {s["name"] for s in container.get("secrets", [])}
        expect({"PIER_API_TOKENS", "PGPASSWORD"} <= secrets, f"secrets injected: {sorted(secrets)}")
        size = example_task_size()
        expect((task["cpu"], task["memory"]) == size, f"task size {task['cpu']}/{task['memory']}, the example says {size}")
        expect(task.get("executionRoleArn") != task.get("taskRoleArn"), "execution and task roles are the same")
        check_spool(task, container, env, outputs)
        check_telemetry(task, containers, env, outputs)

    # The load balancer: /health checks, deregistration delay = pier's shutdown deadline.
    elbv2 = boto3.client("elbv2")
    groups = elbv2.describe_target_groups(Names=["pier-test"])["TargetGroups"]
    expect(groups and groups[0]["HealthCheckPath"] == "/health", "target group does not check /health")
    if groups:
        attrs = {a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=groups[0]["TargetGroupArn"])["Attributes"]}
        expect(attrs.get("deregistration_delay.timeout_seconds") == "30", f"deregistration delay {attrs.get('deregistration_delay.timeout_seconds')}")
    lbs = elbv2.describe_load_balancers(Names=["pier-test"])["LoadBalancers"]
    listeners = elbv2.describe_listeners(LoadBalancerArn=lbs[0]["LoadBalancerArn"])["Listeners"] if lbs else []
    expect([l["Port"] for l in listeners] == [80], f"listeners on ports {[l['Port'] for l in listeners]}")
    expect(outputs["service_url"] == f"http://{lbs[0]['DNSName']}" if lbs else False, "service_url is not the ALB")

    # ECR: scan on push, keep the last 10 images.
    ecr = boto3.client("ecr")
    repo = ecr.describe_repositories(repositoryNames=["pier-test"])["repositories"][0]
    expect(repo["imageScanningConfiguration"]["scanOnPush"] is True, "ECR scan on push is off")
    lifecycle = json.loads(ecr.get_lifecycle_policy(repositoryName="pier-test")["lifecyclePolicyText"])
    expect(lifecycle["rules"][0]["selection"]["countNumber"] == 10, "ECR lifecycle does not keep 10 images")

    # IAM: the task role reaches this bucket and this table only.
    iam = boto3.client("iam")
    doc = iam.get_role_policy(RoleName="pier-test-task", PolicyName="pier-data")["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    resources = [r for st in doc["Statement"] for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])]
    expect(all(bucket in r or table in r for r in resources), f"task role reaches other resources: {resources}")
    expect("*" not in resources, "task role has a wildcard resource")
    # ...and allows every DynamoDB call pier makes (moto does not enforce IAM, so a
    # missing action would only show as AccessDenied on AWS).
    actions = {a for st in doc["Statement"] for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    needed = dynamodb_actions_pier_calls()
    expect(needed <= actions, f"task role lacks DynamoDB actions pier calls: {sorted(needed - actions)}")

    # CloudWatch: logs kept 30 days; the four alarms.
    logs = boto3.client("logs")
    groups = logs.describe_log_groups(logGroupNamePrefix="/ecs/pier-test")["logGroups"]
    expect(groups and groups[0].get("retentionInDays") == 30, "log group retention is not 30 days")
    names = {a["AlarmName"] for a in boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix="pier-test-")["MetricAlarms"]}
    want = {"pier-test-5xx-rate", "pier-test-p95-latency", "pier-test-unhealthy-hosts", "pier-test-cpu-high",
            "pier-test-no-healthy-target", "pier-test-alb-5xx"}
    expect(want <= names, f"alarms missing: {sorted(want - names)}")

    # Network: two AZs, public and private subnets.
    ec2 = boto3.client("ec2")
    subnets = ec2.describe_subnets(Filters=[{"Name": "tag:Stack", "Values": ["pier-test"]}])["Subnets"]
    expect(len({s["AvailabilityZone"] for s in subnets}) == 2 and len(subnets) == 4, f"{len(subnets)} subnets over {len({s['AvailabilityZone'] for s in subnets})} AZs")
    finish("stack")


# The DynamoDB SDK calls in src/store/dynamo.rs and the IAM action each needs. A
# transaction needs the action of each of its item operations (Put, Update, Delete,
# ConditionCheck builders). `create_table` is left out: it runs in `pier migrate`
# only when the table is missing, and Terraform makes the table.
SDK_CALL_ACTIONS = {
    ".get_item()": "dynamodb:GetItem", ".put_item()": "dynamodb:PutItem",
    ".update_item()": "dynamodb:UpdateItem", ".delete_item()": "dynamodb:DeleteItem",
    ".query()": "dynamodb:Query", ".scan()": "dynamodb:Scan",
    ".describe_table()": "dynamodb:DescribeTable",
    "Put::builder()": "dynamodb:PutItem", "Update::builder()": "dynamodb:UpdateItem",
    "Delete::builder()": "dynamodb:DeleteItem", "ConditionCheck::builder()": "dynamodb:ConditionCheckItem",
}


def dynamodb_actions_pier_calls():
    source = (Path(__file__).resolve().parent.parent / "src/store/dynamo.rs").read_text()
    found = {action for call, action in SDK_CALL_ACTIONS.items() if call in source}
    expect(len(found) >= 5, f"too few DynamoDB calls found in src/store/dynamo.rs: {found}")
    return found


def check_spool(task, container, env, outputs):
    """The spool is the EFS access point, mounted at PIER_SPOOL with TLS and IAM, on an
    encrypted file system with backups, IA lifecycle, a mount target per workload
    subnet and NFS open to the tasks' security group only (SPEC: nothing acknowledged
    is lost when a task is replaced)."""
    volumes = {v["name"]: v for v in task.get("volumes", [])}
    efs = volumes.get("spool", {}).get("efsVolumeConfiguration", {})
    expect(efs.get("transitEncryption") == "ENABLED", f"spool volume without TLS in transit: {efs}")
    auth = efs.get("authorizationConfig", {})
    expect(auth.get("iam") == "ENABLED" and auth.get("accessPointId"), f"spool volume not through an access point with IAM: {efs}")
    mounts = {m["containerPath"]: m["sourceVolume"] for m in container.get("mountPoints", [])}
    expect(env.get("PIER_SPOOL") and mounts.get(env.get("PIER_SPOOL")) == "spool",
           f"PIER_SPOOL={env.get('PIER_SPOOL')} is not the EFS volume (mounts {mounts})")
    client = boto3.client("efs")
    points = client.describe_access_points(AccessPointId=auth.get("accessPointId", "none"))["AccessPoints"] if auth.get("accessPointId") else []
    expect(len(points) == 1, "the spool's access point does not exist")
    if not points:
        return
    point = points[0]
    expect(point["PosixUser"]["Uid"] == 10001 and point["PosixUser"]["Gid"] == 10001, f"access point user {point['PosixUser']}")
    expect(point["RootDirectory"]["CreationInfo"]["OwnerUid"] == 10001, f"access point root owner {point['RootDirectory']}")
    fs_id = point["FileSystemId"]
    expect(efs.get("fileSystemId") == fs_id, "the volume and the access point name different file systems")
    fs = client.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]
    expect(fs["Encrypted"] is True, "the spool's file system is not encrypted")
    expect(outputs.get("spool_file_system_id") == fs_id, "the spool_file_system_id output is another file system")
    # moto has no file system policy API: the policy is checked as Terraform rendered it.
    policy = json.loads(outputs["spool_policy"])
    denies = [st for st in policy["Statement"] if st["Effect"] == "Deny"]
    expect(any(st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false" for st in denies),
           f"the spool policy does not refuse clients without TLS: {policy}")
    allows = [st for st in policy["Statement"] if st["Effect"] == "Allow"]
    expect(allows and all(point["AccessPointArn"] in json.dumps(st.get("Condition", {})) for st in allows),
           "the spool policy allows mounts other than through the access point")
    lifecycle = client.describe_lifecycle_configuration(FileSystemId=fs_id)["LifecyclePolicies"]
    expect(any("TransitionToIA" in p for p in lifecycle), f"no lifecycle to IA: {lifecycle}")
    # moto answers no PutBackupPolicy either: the status is checked as rendered.
    expect(outputs.get("spool_backup_status") == "ENABLED", f"spool backups are {outputs.get('spool_backup_status')}")
    targets = client.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
    ec2 = boto3.client("ec2")
    zones = {t.get("AvailabilityZoneName") or ec2.describe_subnets(SubnetIds=[t["SubnetId"]])["Subnets"][0]["AvailabilityZone"] for t in targets}
    expect(len(targets) == 2 and len(zones) == 2, f"{len(targets)} mount targets in {len(zones)} AZs, want one per AZ")
    for target in targets:
        groups = client.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])["SecurityGroups"]
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": groups}])["SecurityGroupRules"]
        ingress = [r for r in rules if not r["IsEgress"]]
        expect(ingress and all(r["FromPort"] == 2049 and r["ToPort"] == 2049 and r.get("ReferencedGroupInfo") for r in ingress),
               f"the mount target admits more than NFS from the tasks: {ingress}")


REPO = __import__("pathlib").Path(__file__).resolve().parent.parent
RULES_DIR = REPO / "deploy/observability/rules"


def check_telemetry(task, containers, env, outputs):
    """metrics = "amp" (the default) and tracing = true (moto.tfvars): the workspace
    holds the kit's rule files byte for byte, the alert manager routes both severities
    to the stack's topic, every task carries the collector sidecar with the repository's
    configuration and its share of the task, the task role may only remote-write to
    this workspace, and pier sends its spans to the sidecar."""
    import subprocess

    import yaml

    amp = boto3.client("amp")
    workspace_id = outputs.get("prometheus_workspace_id")
    expect(workspace_id, "no Prometheus workspace (metrics = \"amp\" is the default)")
    if not workspace_id:
        return
    workspace = amp.describe_workspace(workspaceId=workspace_id)["workspace"]
    expect(workspace["status"]["statusCode"] == "ACTIVE", f"workspace status {workspace['status']}")
    expect(workspace.get("alias") == "pier-test", f"workspace alias {workspace.get('alias')}")

    # The rule files, read back through the API: one namespace per file, its data the file.
    files = sorted(RULES_DIR.glob("*.yml"))
    namespaces = outputs.get("prometheus_rule_namespaces", {})
    expect(sorted(namespaces) == [f.name for f in files], f"rule namespaces {sorted(namespaces)} for files {[f.name for f in files]}")
    listed = {n["name"] for n in amp.list_rule_groups_namespaces(workspaceId=workspace_id)["ruleGroupsNamespaces"]}
    expect(listed == set(namespaces.values()), f"the workspace holds namespaces {sorted(listed)}")
    for path in files:
        name = namespaces.get(path.name)
        if not name:
            continue
        data = amp.describe_rule_groups_namespace(workspaceId=workspace_id, name=name)["ruleGroupsNamespace"]["data"]
        expect(data == path.read_bytes(), f"namespace {name} is not byte for byte {path} ({len(data)} vs {path.stat().st_size} bytes)")

    # The alert manager: moto has no API for it (moto.tfvars: alert_manager = false), so
    # the definition is checked as rendered; amtool checks the config itself (infra-test).
    definition = yaml.safe_load(outputs["alert_manager_definition"])
    config = yaml.safe_load(definition["alertmanager_config"])
    receivers = {r["name"]: r for r in config["receivers"]}
    topic = outputs["alarm_topic_arn"]
    for severity in ("page", "ticket"):
        routes = [r for r in config["route"].get("routes", []) if r.get("matchers") == [f'severity="{severity}"']]
        expect(len(routes) == 1, f"no single route for severity {severity}")
        receiver = receivers.get(routes[0]["receiver"]) if routes else None
        topics = [c.get("topic_arn") for c in (receiver or {}).get("sns_configs", [])]
        expect(topics == [topic], f"severity {severity} goes to {topics}, not the stack's topic {topic}")
    expect(receivers.get(config["route"]["receiver"], {}).get("sns_configs"), "the default route does not reach the topic")

    # The topic: a key of its own and a policy that lets the alarm services publish.
    sns = boto3.client("sns")
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    expect(attributes.get("KmsMasterKeyId", "").startswith("arn:aws:kms:"), f"topic key {attributes.get('KmsMasterKeyId')}: the AWS-managed key refuses CloudWatch and Prometheus")
    policy = json.loads(attributes["Policy"])
    publishers = {p for st in policy["Statement"] if "sns:Publish" in json.dumps(st.get("Action")) for p in json.dumps(st.get("Principal"))
                  .replace('"', " ").split() if p.endswith(".amazonaws.com")}
    expect({"aps.amazonaws.com", "cloudwatch.amazonaws.com"} <= publishers, f"the topic policy lets only {sorted(publishers)} publish")

    # The sidecar: the repository's configuration, its own health check, not essential,
    # its CPU and memory part of the task's.
    collector = containers.get("collector")
    expect(collector is not None, f"no collector sidecar in the task: {sorted(containers)}")
    if not collector:
        return
    cenv = {e["name"]: e["value"] for e in collector.get("environment", [])}
    rendered = yaml.safe_load(cenv.get("AOT_CONFIG_CONTENT", "{}"))
    expect(rendered == yaml.safe_load(outputs["collector_config"]), "the task's collector config is not the output's")
    base = yaml.safe_load(open(REPO / "deploy/observability/adot/collector.yaml"))
    traces = yaml.safe_load(open(REPO / "deploy/observability/adot/traces.yaml"))
    for section in ("receivers", "processors", "exporters", "extensions"):
        for name, settings in {**base.get(section, {}), **traces.get(section, {})}.items():
            expect(rendered.get(section, {}).get(name) == settings, f"collector {section}.{name} differs from the repository's files")
    expect(rendered["service"]["pipelines"] == {**base["service"]["pipelines"], **traces["service"]["pipelines"]},
           f"collector pipelines {sorted(rendered['service']['pipelines'])}")
    jobs = rendered["receivers"]["prometheus"]["config"]["scrape_configs"]
    expect([(j["job_name"], j["static_configs"][0]["targets"]) for j in jobs] == [("pier", ["127.0.0.1:8000"])],
           f"the collector does not scrape pier on the task's loopback: {jobs}")
    expect(cenv.get("PIER_AMP_REMOTE_WRITE_URL") == workspace["prometheusEndpoint"] + "api/v1/remote_write",
           f"remote write to {cenv.get('PIER_AMP_REMOTE_WRITE_URL')}, the workspace is {workspace['prometheusEndpoint']}")
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as out:
        out.write(cenv.get("AOT_CONFIG_CONTENT", ""))
        out.flush()
        check = subprocess.run([sys.executable, str(REPO / "scripts/collector_config_check.py"), out.name, *cenv],
                               capture_output=True, text=True)
    expect(check.returncode == 0, f"collector config: {check.stderr.strip()}")
    expect(collector.get("essential") is False, "the collector is essential: its failure would stop pier's task")
    expect(collector.get("healthCheck", {}).get("command") == ["/healthcheck"], f"collector health check {collector.get('healthCheck')}")
    pier = containers["pier"]
    expect(pier.get("cpu", 0) + collector.get("cpu", 0) == int(task["cpu"]), f"CPU {pier.get('cpu')} + {collector.get('cpu')} != task {task['cpu']}")
    expect(pier.get("memory", 0) + collector.get("memory", 0) == int(task["memory"]), f"memory {pier.get('memory')} + {collector.get('memory')} != task {task['memory']}")

    # Traces (tracing = true in moto.tfvars): pier sends spans to the sidecar's OTLP port.
    otlp = rendered["receivers"].get("otlp", {}).get("protocols", {}).get("http", {}).get("endpoint")
    expect(otlp == "127.0.0.1:4318", f"the collector's OTLP/HTTP receiver listens on {otlp}")
    expect(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") == "http://127.0.0.1:4318", f"pier's OTEL_EXPORTER_OTLP_ENDPOINT is {env.get('OTEL_EXPORTER_OTLP_ENDPOINT')}")
    expect(rendered["service"]["pipelines"].get("traces", {}).get("exporters") == ["awsxray"], "traces do not go to X-Ray")

    # Least privilege: remote write to this workspace only (and X-Ray for traces).
    iam = boto3.client("iam")
    doc = iam.get_role_policy(RoleName="pier-test-task", PolicyName="pier-telemetry")["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    statements = {st.get("Sid"): st for st in doc["Statement"]}
    write = statements.get("RemoteWriteMetrics", {})
    expect(write.get("Action") in ("aps:RemoteWrite", ["aps:RemoteWrite"]) and write.get("Resource") == workspace["arn"],
           f"remote write statement {write}")
    expect(set(statements) == {"RemoteWriteMetrics", "SendTraces"}, f"telemetry statements {sorted(statements)}")


def write_alertmanager_config(outputs_path, dest):
    import yaml

    outputs = {k: v["value"] for k, v in json.load(open(outputs_path)).items()}
    with open(dest, "w") as out:
        out.write(yaml.safe_load(outputs["alert_manager_definition"])["alertmanager_config"])


def check_log_queries(outputs_path, pier_log):
    """Each saved query filters on fields pier really writes: the access line's keys,
    taken from a log pier wrote in this run (a renamed field fails here)."""
    import re

    outputs = {k: v["value"] for k, v in json.load(open(outputs_path)).items()}
    queries = outputs["log_queries"]
    expect(sorted(queries) == ["errors-by-route", "one-request", "slow-requests"], f"saved queries {sorted(queries)}")
    lines = [json.loads(line) for line in open(pier_log) if line.startswith("{")]
    access = next((line for line in lines if line.get("message") == "request"), None)
    expect(access is not None, f"no JSON access line in {pier_log}")
    if access:
        keywords = {"fields", "filter", "stats", "sort", "limit", "by", "as", "and", "or", "desc", "asc", "count", "not"}
        for name, query in queries.items():
            text = re.sub(r'"[^"]*"', "", query)
            aliases = set(re.findall(r"\bas\s+([a-z_]+)", text))
            used = set(re.findall(r"(?<![@\w])[a-z_]+(?![\w(])", text)) - keywords - aliases
            expect(used <= set(access), f"query {name} uses {sorted(used - set(access))}, which pier's access line lacks")
    finish(f"saved log queries ({len(queries)}) against pier's access line")


def check_metrics_none(plan_path):
    """metrics = "none" leaves all of it out: planned on the applied stack, exactly the
    workspace (with its log group and rule namespaces) and the task role's telemetry
    grant go, and the task definition loses the collector and pier's OTLP endpoint."""
    plan = json.load(open(plan_path))
    deleted, changed = [], {}
    for change in plan["resource_changes"]:
        actions = change["change"]["actions"]
        if actions == ["no-op"] or actions == ["read"]:
            continue
        if "delete" in actions and "create" not in actions:
            deleted.append(change["address"])
        else:
            changed[change["address"]] = change
    expect(any(a.startswith("module.prometheus[0].aws_prometheus_workspace") for a in deleted), f"the workspace is kept: {deleted}")
    expect(sum(a.startswith("module.prometheus[0].aws_prometheus_rule_group_namespace") for a in deleted) == 2,
           f"the rule namespaces are kept: {deleted}")
    expect("aws_iam_role_policy.task_telemetry[0]" in deleted, f"the telemetry grant is kept: {deleted}")
    others = [a for a in deleted if not a.startswith("module.prometheus[0].") and a != "aws_iam_role_policy.task_telemetry[0]"]
    expect(not others, f"metrics = none would also delete {others}")
    task = changed.get("aws_ecs_task_definition.pier")
    expect(task is not None, "the task definition does not change")
    if task:
        containers = json.loads(task["change"]["after"]["container_definitions"])
        expect([c["name"] for c in containers] == ["pier"], f"containers {[c['name'] for c in containers]}")
        env = {e["name"] for e in containers[0].get("environment", [])}
        expect("OTEL_EXPORTER_OTLP_ENDPOINT" not in env, "pier still sends spans to a sidecar that is gone")
    finish("metrics = \"none\" (planned on the applied stack)")


def check_swarm_monitoring(outputs_path, cidr):
    """The manager's swarm step reads the stack file and the monitoring files from SSM
    (one parameter per file, gzip + base64): each decodes to the repository's file. The
    load balancer answers Grafana on its own port, from the allowed network only, and
    forwards to the manager on 3000 with Grafana's health check."""
    import base64
    import gzip

    outputs = {k: v["value"] for k, v in json.load(open(outputs_path)).items()}
    path = outputs["swarm_kit_path"]
    ssm = boto3.client("ssm")
    parameters = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=True):
        parameters.update({p["Name"][len(path) + 1:]: p["Value"] for p in page["Parameters"]})
    want = ["swarm/stack.yml"] + [f"observability/{f}" for f in (
        "prometheus-swarm.yml", "rules/recording.yml", "rules/alerts.yml",
        "grafana/provisioning/datasources/prometheus.yml", "grafana/provisioning/dashboards/pier.yml",
        "grafana/dashboards/pier.json")]
    expect(sorted(parameters) == sorted(want), f"kit parameters {sorted(parameters)}")
    for name, value in parameters.items():
        expect(len(value) <= 4096, f"{name}: {len(value)} characters, over a standard parameter's 4 KB")
        expect(gzip.decompress(base64.b64decode(value)) == (REPO / "deploy" / name).read_bytes(),
               f"{name}: the parameter is not the repository's file")
    stack = (REPO / "deploy/swarm/stack.yml").read_text()
    for name in want[1:]:
        expect(f"file: ../{name}" in stack, f"the stack does not deploy {name}")

    elbv2, ec2 = boto3.client("elbv2"), boto3.client("ec2")
    lb = elbv2.describe_load_balancers(Names=["pier-drill-swarm"])["LoadBalancers"][0]
    listeners = {l["Port"]: l for l in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]}
    expect(sorted(listeners) == [80, 3000], f"listeners on {sorted(listeners)}")
    expect(outputs.get("grafana_url") == f"http://{lb['DNSName']}:3000", f"grafana_url {outputs.get('grafana_url')}")
    if 3000 in listeners:
        group_arn = listeners[3000]["DefaultActions"][0]["TargetGroupArn"]
        group = elbv2.describe_target_groups(TargetGroupArns=[group_arn])["TargetGroups"][0]
        expect(group["Port"] == 3000 and group["HealthCheckPath"] == "/api/health", f"Grafana target group {group['Port']} {group['HealthCheckPath']}")
        targets = [t["Target"]["Id"] for t in elbv2.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]]
        expect(targets == [outputs["manager_instance_id"]], f"Grafana targets {targets}")
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": lb["SecurityGroups"]}])["SecurityGroupRules"]
    grafana = [r for r in rules if not r["IsEgress"] and r["FromPort"] == 3000]
    expect([r.get("CidrIpv4") for r in grafana] == [cidr], f"Grafana's port is open to {[r.get('CidrIpv4') for r in grafana]}")
    finish("swarm kit parameters and Grafana's listener")


# The IAM service of each resource type's prefix (longest match first). A type not listed
# fails the check: a new kind of resource must be looked at against the deploy policy.
SERVICES = {
    "aws_acm_": "acm", "aws_appautoscaling_": "application-autoscaling", "aws_autoscaling_": "autoscaling",
    "aws_cloudwatch_log_": "logs", "aws_cloudwatch_query_definition": "logs", "aws_cloudwatch_metric_alarm": "cloudwatch",
    "aws_db_": "rds", "aws_dynamodb_": "dynamodb", "aws_ebs_": "ec2", "aws_ecr_": "ecr", "aws_ecs_": "ecs",
    "aws_efs_": "elasticfilesystem", "aws_eip": "ec2", "aws_flow_log": "ec2", "aws_grafana_": "grafana",
    "aws_iam_": "iam", "aws_instance": "ec2", "aws_internet_gateway": "ec2", "aws_kms_": "kms",
    "aws_launch_template": "ec2", "aws_lb": "elasticloadbalancing", "aws_nat_gateway": "ec2",
    "aws_prometheus_": "aps", "aws_route53_": "route53", "aws_route": "ec2", "aws_s3_": "s3",
    "aws_secretsmanager_": "secretsmanager", "aws_security_group": "ec2", "aws_sns_": "sns",
    "aws_ssm_": "ssm", "aws_subnet": "ec2", "aws_volume_attachment": "ec2", "aws_vpc": "ec2",
    "aws_default_security_group": "ec2", "aws_caller_identity": "sts", "aws_iam_policy_document": None,
    "aws_region": None, "aws_availability_zones": "ec2", "aws_partition": None,
}


def check_deployer_covers(state_path):
    """Every AWS service the applied stack's resources belong to has at least one action
    granted by the deploy policy (moto does not enforce IAM, so a service missing from the
    policy would only show as AccessDenied on a real account's first deploy)."""
    state = json.load(open(state_path))
    types = set()

    def walk(module):
        for resource in module.get("resources", []):
            types.add(resource["type"])
        for child in module.get("child_modules", []):
            walk(child)

    walk(state["values"]["root_module"])
    policy = json.load(open(REPO / "deploy/iam/deployer-policy.json"))
    granted = {a.split(":")[0] for st in policy["Statement"] if st["Effect"] == "Allow"
               for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
    needed = {}
    for kind in sorted(types):
        prefix = max((p for p in SERVICES if kind.startswith(p)), key=len, default=None)
        expect(prefix is not None, f"resource type {kind} has no IAM service in infra_check.SERVICES: look at the deploy policy, then add it")
        if prefix is not None and SERVICES[prefix]:
            needed.setdefault(SERVICES[prefix], []).append(kind)
    for service, kinds in sorted(needed.items()):
        expect(service in granted, f"the deploy policy grants nothing of {service}, which {kinds} need")
    finish(f"deploy policy covers the {len(needed)} services of {len(types)} resource types")


def check_outage_alarms(prefix, topic):
    """The alarms that catch a total outage, with the metric, threshold and topic."""
    alarms = {a["AlarmName"]: a for a in boto3.client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]}
    none = alarms.get(f"{prefix}no-healthy-target")
    expect(none is not None, f"no {prefix}no-healthy-target alarm: {sorted(alarms)}")
    if none:
        expect(none["MetricName"] == "HealthyHostCount", f"no-healthy-target watches {none['MetricName']}")
        expect(none["ComparisonOperator"] == "LessThanThreshold" and none["Threshold"] == 1, "no-healthy-target is not < 1")
        expect(none["TreatMissingData"] == "breaching", "no-healthy-target treats missing data as fine")
        expect(topic in none["AlarmActions"], "no-healthy-target does not notify the topic")
        expect({d["Name"] for d in none["Dimensions"]} == {"LoadBalancer", "TargetGroup"}, "no-healthy-target is not per target group")
    elb = alarms.get(f"{prefix}alb-5xx")
    expect(elb is not None, f"no {prefix}alb-5xx alarm")
    if elb:
        expect(elb["MetricName"] == "HTTPCode_ELB_5XX_Count", f"alb-5xx watches {elb['MetricName']}")
        expect(elb["ComparisonOperator"] == "GreaterThanThreshold", "alb-5xx is not a > threshold")
        expect(topic in elb["AlarmActions"], "alb-5xx does not notify the topic")
    ratio = alarms.get(f"{prefix}5xx-rate")
    expect(ratio is not None, f"no {prefix}5xx-rate alarm")
    if ratio:
        metrics = {q["Id"]: q for q in ratio["Metrics"]}
        expect(metrics["errors"]["MetricStat"]["Metric"]["MetricName"] == "HTTPCode_Target_5XX_Count", "5xx-rate counts other errors")
        expect("100 * errors" in metrics["rate"]["Expression"], "5xx-rate is not a share of requests")
        expect(topic in ratio["AlarmActions"], "5xx-rate does not notify the topic")
    finish(f"outage alarms {prefix}*")


def empty_bucket(bucket):
    """Deletes every version and delete marker of the versioned bucket, one request
    each. Terraform's force_destroy empties it with batched DeleteObjects, which moto
    refused with an unparseable 500 (the TLS-only policy, over moto's plain HTTP) once
    the bucket held delete markers (pier leaves one per upload: the id key it deletes
    after promoting the bytes to their content key)."""
    s3 = boto3.client("s3")
    # The TLS-only policy (put back by the second apply) refuses moto's plain HTTP, as
    # it refused the batched deletes; lifted as for pier's run, and destroyed anyway.
    s3.delete_bucket_policy(Bucket=bucket)
    removed = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for version in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
            removed += 1
    left = s3.list_object_versions(Bucket=bucket)
    expect(not left.get("Versions") and not left.get("DeleteMarkers"), "versions left in the bucket")
    finish(f"bucket emptied ({removed} versions and delete markers)")


def check_objects(bucket, table):
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    # Content-addressed (objects/AB/<sha256>); the upload's id key is gone once promoted.
    expect(any(k.startswith("objects/") for k in keys), f"no image object in the bucket: {keys}")
    expect(not any(k.startswith("images/") for k in keys), f"an id key was left behind: {keys}")
    count = boto3.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"]
    expect(count >= 1, "no metadata record in the table")
    finish(f"pier's writes ({len(keys)} objects, {count} records)")


def prove_tls_only_then_open(bucket):
    s3 = boto3.client("s3")
    try:
        s3.put_object(Bucket=bucket, Key="plain-http-probe", Body=b"x")
        expect(False, "a plain-HTTP PutObject was accepted despite the TLS-only policy")
    except s3.exceptions.ClientError as error:
        code = error.response["ResponseMetadata"]["HTTPStatusCode"]
        expect(code == 403, f"plain-HTTP PutObject answered {code}, want 403")
    s3.delete_bucket_policy(Bucket=bucket)
    finish("TLS-only bucket policy (refused plain HTTP; removed for the emulator run)")


def check_gone(bucket, table):
    buckets = [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    expect(bucket not in buckets, "the bucket survived destroy")
    expect(table not in boto3.client("dynamodb").list_tables()["TableNames"], "the table survived destroy")
    ecs = boto3.client("ecs")
    arns = ecs.list_clusters()["clusterArns"]
    active = [c["clusterName"] for c in ecs.describe_clusters(clusters=arns)["clusters"] if c["status"] == "ACTIVE"] if arns else []
    expect(not active, f"ECS clusters still active after destroy: {active}")  # deleted ones linger INACTIVE
    finish("destroy")


if __name__ == "__main__":
    if sys.argv[1] == "--tls-only":
        prove_tls_only_then_open(sys.argv[2])
    elif sys.argv[1] == "--empty-bucket":
        empty_bucket(sys.argv[2])
    elif sys.argv[1] == "--objects":
        check_objects(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--alarms":
        check_outage_alarms(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--alertmanager":
        write_alertmanager_config(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--log-queries":
        check_log_queries(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--metrics-none":
        check_metrics_none(sys.argv[2])
    elif sys.argv[1] == "--swarm-monitoring":
        check_swarm_monitoring(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--deployer-covers":
        check_deployer_covers(sys.argv[2])
    elif sys.argv[1] == "--gone":
        check_gone(sys.argv[2], sys.argv[3])
    else:
        check_stack(sys.argv[1])
