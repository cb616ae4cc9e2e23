"""Reads back from moto what `terraform apply` of deploy/terraform/aws-ecs made, and
fails (exit 1, one line per problem) where it is not what the module promises.

    infra_check.py OUTPUTS.json            the stack's resources and their settings
    infra_check.py --tls-only BUCKET       a plain-HTTP write is refused by the bucket
                                           policy; then the policy is removed so pier can
                                           use the emulator, which speaks plain HTTP only
    infra_check.py --objects BUCKET TABLE  pier wrote an object and a metadata record
    infra_check.py --gone BUCKET TABLE     destroy removed the bucket and the table
    infra_check.py --alarms PREFIX TOPIC   the alarms that catch a total outage (no
                                           healthy target, the ALB's own 5xx, the 5xx
                                           share) exist with their metric and threshold

Talks only to AWS_ENDPOINT_URL (moto on 127.0.0.1), with boto3 from moto's venv.
"""

import json
import sys

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
        container = task["containerDefinitions"][0]
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


def check_objects(bucket, table):
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])]
    expect(any(k.startswith("images/") for k in keys), f"no image object in the bucket: {keys}")
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
    elif sys.argv[1] == "--objects":
        check_objects(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--alarms":
        check_outage_alarms(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "--gone":
        check_gone(sys.argv[2], sys.argv[3])
    else:
        check_stack(sys.argv[1])
