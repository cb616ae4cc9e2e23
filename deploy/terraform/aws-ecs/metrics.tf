# Metrics where the tasks run: with metrics = "amp", an Amazon Managed Service for
# Prometheus workspace that holds the kit's own rules (deploy/observability/rules, the
# files promtool tests) and sends what fires to the stack's SNS topic, and in every task
# an AWS Distro for OpenTelemetry collector that scrapes pier on the task's loopback and
# remote-writes to it (deploy/observability/adot/collector.yaml). With tracing = true the
# same collector forwards pier's request spans to X-Ray (adot/traces.yaml).
locals {
  metrics_on = var.metrics == "amp"
  tracing_on = local.metrics_on && var.tracing
  grafana_on = local.metrics_on && var.managed_grafana

  adot_dir    = "${path.module}/../../observability/adot"
  adot_base   = yamldecode(file("${local.adot_dir}/collector.yaml"))
  adot_traces = yamldecode(file("${local.adot_dir}/traces.yaml"))
  # With tracing, the two files merged section by section (Terraform's merge is shallow).
  collector_config_yaml = local.tracing_on ? yamlencode(merge(local.adot_base, {
    receivers  = merge(local.adot_base.receivers, local.adot_traces.receivers)
    processors = merge(local.adot_base.processors, local.adot_traces.processors)
    exporters  = merge(local.adot_base.exporters, local.adot_traces.exporters)
    service = merge(local.adot_base.service, {
      pipelines = merge(local.adot_base.service.pipelines, local.adot_traces.service.pipelines)
    })
  })) : yamlencode(local.adot_base)

  # The sidecar, counted in the task's size: pier's container gets what is left.
  collector_container = {
    name              = "collector"
    image             = var.collector_image
    essential         = false # a collector failure stops metrics, never the service
    cpu               = var.collector_cpu
    memory            = var.collector_memory
    memoryReservation = floor(var.collector_memory / 2)
    environment = [
      { name = "AOT_CONFIG_CONTENT", value = local.collector_config_yaml },
      { name = "AWS_REGION", value = var.region },
      { name = "PIER_AMP_REMOTE_WRITE_URL", value = local.metrics_on ? module.prometheus[0].remote_write_url : "" },
    ]
    readonlyRootFilesystem = true
    healthCheck = {
      # The image's own probe of the health_check extension (127.0.0.1:13133).
      command     = ["/healthcheck"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 10
    }
    restartPolicy = { enabled = true, restartAttemptPeriod = 60 }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.pier.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "collector"
      }
    }
  }
  tracing_environment = local.tracing_on ? { OTEL_EXPORTER_OTLP_ENDPOINT = "http://127.0.0.1:4318" } : {}
}

module "prometheus" {
  count              = local.metrics_on ? 1 : 0
  source             = "../modules/managed-prometheus"
  name               = var.name
  region             = var.region
  rules_dir          = "${path.module}/../../observability/rules"
  alert_topic_arn    = module.alarms.topic_arn
  alert_manager      = var.alert_manager
  log_retention_days = var.log_retention_days
}

# The task role may write samples to this workspace and nothing else; traces need X-Ray.
data "aws_iam_policy_document" "task_telemetry" {
  count = local.metrics_on ? 1 : 0

  statement {
    sid       = "RemoteWriteMetrics"
    actions   = ["aps:RemoteWrite"]
    resources = [module.prometheus[0].workspace_arn]
  }

  dynamic "statement" {
    for_each = local.tracing_on ? [1] : []
    content {
      #checkov:skip=CKV_AWS_356:X-Ray's PutTraceSegments has no resource-level permissions
      sid       = "SendTraces"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "task_telemetry" {
  count  = local.metrics_on ? 1 : 0
  name   = "pier-telemetry"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task_telemetry[0].json
}

# Amazon Managed Grafana reading the workspace (off by default: it needs IAM Identity
# Center). The dashboard JSON is imported by hand or by the Grafana API (README).
data "aws_iam_policy_document" "grafana_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["grafana.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "grafana" {
  count              = local.grafana_on ? 1 : 0
  name               = "${var.name}-grafana"
  assume_role_policy = data.aws_iam_policy_document.grafana_assume.json
}

data "aws_iam_policy_document" "grafana" {
  count = local.grafana_on ? 1 : 0
  statement {
    sid       = "QueryMetrics"
    actions   = ["aps:QueryMetrics", "aps:GetSeries", "aps:GetLabels", "aps:GetMetricMetadata", "aps:DescribeWorkspace"]
    resources = [module.prometheus[0].workspace_arn]
  }
  statement {
    sid       = "ListWorkspaces"
    actions   = ["aps:ListWorkspaces"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "grafana" {
  count  = local.grafana_on ? 1 : 0
  name   = "read-prometheus"
  role   = aws_iam_role.grafana[0].id
  policy = data.aws_iam_policy_document.grafana[0].json
}

resource "aws_grafana_workspace" "pier" {
  count                    = local.grafana_on ? 1 : 0
  name                     = var.name
  account_access_type      = "CURRENT_ACCOUNT"
  authentication_providers = ["AWS_SSO"]
  permission_type          = "CUSTOMER_MANAGED"
  role_arn                 = aws_iam_role.grafana[0].arn
  data_sources             = ["PROMETHEUS"]
}

# CloudWatch Logs Insights: the questions asked of pier's JSON logs most often, saved
# with the log group (field names are those of pier's access line: route, status,
# latency_ms, request_id).
locals {
  log_queries = {
    "errors-by-route" = <<-QUERY
      fields @timestamp, route, status
      | filter message = "request" and status >= 500
      | stats count(*) as errors by route, status
      | sort errors desc
    QUERY
    "slow-requests"   = <<-QUERY
      fields @timestamp, method, route, status, latency_ms, request_id
      | filter message = "request" and latency_ms > 500
      | sort latency_ms desc
      | limit 100
    QUERY
    "one-request"     = <<-QUERY
      fields @timestamp, level, message, method, route, status, latency_ms
      | filter request_id = "PASTE-THE-X-REQUEST-ID"
      | sort @timestamp asc
    QUERY
  }
}

resource "aws_cloudwatch_query_definition" "pier" {
  for_each        = var.saved_queries ? local.log_queries : {}
  name            = "${var.name}/${each.key}"
  log_group_names = [aws_cloudwatch_log_group.pier.name]
  query_string    = each.value
}
