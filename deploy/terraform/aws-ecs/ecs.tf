locals {
  image = coalesce(var.image, "${module.registry.repository_url}:${var.image_tag}")

  # pier's settings (README's table). Secrets are not here: see `secrets` below.
  environment = merge(
    module.data.environment,
    {
      DATABASE_URL          = local.database_url
      AWS_REGION            = var.region
      PIER_LOG_FORMAT       = "json"
      PIER_SHUTDOWN_TIMEOUT = "${var.shutdown_timeout_seconds}s"
      # ECS deregisters a task from the ALB (and waits the deregistration delay)
      # before it sends SIGTERM, so pier needs no drain delay of its own here.
      PIER_DRAIN_DELAY = "0s"
      # The spool is on EFS, shared by every task (spool.tf).
      PIER_SPOOL = "/spool"
      RUST_LOG   = "info"
      # Per-client budgets; the ALB (inside the VPC) is the only proxy believed about
      # client addresses in X-Forwarded-For.
      PIER_RATE_LIMIT_READS  = var.rate_limit_reads
      PIER_RATE_LIMIT_WRITES = var.rate_limit_writes
      PIER_TRUSTED_PROXIES   = module.network.vpc_cidr_block
    },
    var.image_metadata == "postgres" ? { PIER_METADATA = "database" } : {},
    local.tracing_environment,
    var.environment,
  )

  secrets = concat(
    [{ name = "PIER_API_TOKENS", valueFrom = module.api_tokens.secret_arn }],
    local.database_password_secret == null ? [] : [{ name = "PGPASSWORD", valueFrom = "${local.database_password_secret}:password::" }],
  )
}

resource "aws_ecs_cluster" "pier" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "pier" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # /data (task storage) and /spool (EFS, shared) are the only writable places; the
  # root is read-only.
  volume {
    name = "data"
  }

  volume {
    name = "spool"
    efs_volume_configuration {
      file_system_id     = module.spool.file_system_id
      transit_encryption = "ENABLED"
      authorization_config {
        access_point_id = module.spool.access_point_id
        iam             = "ENABLED"
      }
    }
  }

  container_definitions = jsonencode(concat([merge({
    name                   = "pier"
    image                  = local.image
    essential              = true
    user                   = "10001:10001"
    readonlyRootFilesystem = true
    portMappings           = [{ containerPort = 8000, protocol = "tcp" }]
    environment            = [for k in sort(keys(local.environment)) : { name = k, value = local.environment[k] }]
    secrets                = local.secrets
    mountPoints = [
      { sourceVolume = "data", containerPath = "/data", readOnly = false },
      { sourceVolume = "spool", containerPath = "/spool", readOnly = false },
    ]
    stopTimeout = var.shutdown_timeout_seconds + 5
    ulimits     = [{ name = "nofile", softLimit = 65536, hardLimit = 65536 }]
    healthCheck = {
      command     = ["CMD", "/usr/local/bin/pier", "healthcheck"]
      interval    = 10
      timeout     = 3
      retries     = 3
      startPeriod = 10
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.pier.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "pier"
      }
    }
    # With the collector sidecar (metrics.tf), the task's CPU and memory are split: the
    # collector's share is reserved, pier's container gets the rest.
    }, local.metrics_on ? { cpu = var.task_cpu - var.collector_cpu, memory = var.task_memory - var.collector_memory } : {}
  )], local.metrics_on ? [local.collector_container] : []))

  lifecycle {
    precondition {
      condition     = !local.metrics_on || (var.task_cpu - var.collector_cpu >= 128 && var.task_memory - var.collector_memory >= 256)
      error_message = "task_cpu and task_memory leave pier less than 128 CPU units or 256 MiB beside the collector (collector_cpu, collector_memory): raise the task size."
    }
    precondition {
      condition     = !var.tracing || local.metrics_on
      error_message = "tracing = true needs the collector sidecar: set metrics = \"amp\"."
    }
  }
}

resource "aws_ecs_service" "pier" {
  name                               = var.name
  cluster                            = aws_ecs_cluster.pier.id
  task_definition                    = aws_ecs_task_definition.pier.arn
  launch_type                        = "FARGATE"
  desired_count                      = var.desired_tasks
  deployment_minimum_healthy_percent = 100 # start-first: new tasks are healthy before old ones stop
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 30
  propagate_tags                     = "SERVICE"
  enable_execute_command             = false

  network_configuration {
    #checkov:skip=CKV_AWS_333:only without a NAT gateway (the enable_nat_gateway variable), and then the security group admits the ALB alone
    subnets          = module.network.workload_subnet_ids
    security_groups  = [aws_security_group.service.id]
    assign_public_ip = module.network.workloads_need_public_ip
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.pier.arn
    container_name   = "pier"
    container_port   = 8000
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true # a release whose tasks never get healthy is undone
  }

  lifecycle {
    ignore_changes = [desired_count] # owned by autoscaling after creation
  }

  # A task mounts the spool at start: its AZ's mount target and the role's grant first.
  depends_on = [aws_lb_listener.http_forward, aws_lb_listener.https, aws_iam_role_policy.execution, aws_iam_role_policy.task_spool, module.spool]
}

# The released image tag, as every stack keeps it: its history is the release history
# (deploy/scripts/deploy --rollback releases the one before the current).
resource "aws_ssm_parameter" "image_tag" {
  #checkov:skip=CKV2_AWS_34:an image tag, not a secret
  name  = "/${var.name}/image-tag"
  type  = "String"
  value = var.image_tag
}
