data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

locals {
  ami = nonsensitive(data.aws_ssm_parameter.al2023.value)

  # Where every worker mounts the spool's EFS file system; the stack binds it at /spool.
  spool_dir = "/var/lib/pier/spool"

  # The manager's swarm step (templates/swarm-up.sh.tftpl): in its user data for the
  # first boot, and sent again by every deploy (deploy/scripts/deploy), so a change of
  # settings reaches a running manager without replacing it.
  swarm_up = templatefile("${path.module}/templates/swarm-up.sh.tftpl", {
    region             = var.region
    registry           = module.registry.repository_url
    kit_path           = local.kit_path
    grafana_secret     = aws_secretsmanager_secret.grafana_admin.arn
    join_token_param   = aws_ssm_parameter.join_token.name
    manager_addr_param = aws_ssm_parameter.manager_address.name
    image_tag_param    = aws_ssm_parameter.image_tag.name
    tokens_secret      = module.api_tokens.secret_arn
    db_secret          = module.postgres.password_secret_arn
    db_address         = module.postgres.address
    storage            = module.data.environment["PIER_STORAGE"]
    metadata           = lookup(module.data.environment, "PIER_METADATA", "database")
    reserve_manager    = true
    spool_dir          = local.spool_dir
  })
}

# One manager: keeps the swarm's state and runs Prometheus and Grafana, no pier tasks. If it is lost,
# pier's data is not (PostgreSQL, S3); a new manager re-creates the swarm and the
# workers rejoin it (templates/worker.sh.tftpl). For a manager quorum, run three (see
# the README). Nothing in its user data changes with a release: releases go through
# `docker service update` (deploy/scripts/deploy), never through Terraform replacing it.
resource "aws_instance" "manager" {
  ami                         = local.ami
  instance_type               = var.manager_instance_type
  subnet_id                   = module.network.workload_subnet_ids[0]
  vpc_security_group_ids      = [aws_security_group.nodes.id]
  iam_instance_profile        = aws_iam_instance_profile.node["manager"].name
  associate_public_ip_address = module.network.workloads_need_public_ip
  monitoring                  = true
  ebs_optimized               = true
  user_data = templatefile("${path.module}/templates/manager.sh.tftpl", {
    region              = var.region
    registry            = module.registry.repository_url
    swarm_up_base64     = base64encode(local.swarm_up)
    bootstrap_param     = aws_ssm_parameter.bootstrap.name
    replicas_per_worker = var.replicas_per_worker
    min_replicas        = var.min_workers * var.replicas_per_worker
  })

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = 20
    encrypted   = true
  }

  tags = { Name = "${var.name}-manager", Role = "swarm-manager" }

  lifecycle {
    # A newer AMI does not replace a running manager, nor does a change of its first-boot
    # script (which only runs at first boot; deploys send the swarm step itself).
    ignore_changes = [ami, user_data]
  }
}

resource "aws_launch_template" "worker" {
  #checkov:skip=CKV_AWS_341:hop limit 2 lets pier's containers (one network hop away) reach the node role through IMDSv2; tokens stay required
  name_prefix   = "${var.name}-worker-"
  image_id      = local.ami
  instance_type = var.worker_instance_type
  ebs_optimized = true
  user_data = base64encode(templatefile("${path.module}/templates/worker.sh.tftpl", {
    region             = var.region
    join_token_param   = aws_ssm_parameter.join_token.name
    manager_addr_param = aws_ssm_parameter.manager_address.name
    spool_file_system  = module.spool.file_system_id
    spool_access_point = module.spool.access_point_id
    spool_dir          = local.spool_dir
  }))

  iam_instance_profile {
    arn = aws_iam_instance_profile.node["worker"].arn
  }

  network_interfaces {
    associate_public_ip_address = module.network.workloads_need_public_ip
    security_groups             = [aws_security_group.nodes.id]
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  monitoring {
    enabled = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      volume_type = "gp3"
      volume_size = 20
      encrypted   = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.name}-worker", Role = "swarm-worker" }
  }
}

resource "aws_autoscaling_group" "workers" {
  name                      = "${var.name}-workers"
  min_size                  = var.min_workers
  max_size                  = var.max_workers
  desired_capacity          = var.min_workers
  vpc_zone_identifier       = module.network.workload_subnet_ids
  target_group_arns         = [aws_lb_target_group.nodes.arn]
  health_check_type         = "ELB"
  health_check_grace_period = 300
  default_cooldown          = 300
  enabled_metrics           = ["GroupInServiceInstances", "GroupDesiredCapacity"]

  launch_template {
    id      = aws_launch_template.worker.id
    version = aws_launch_template.worker.latest_version
  }

  # A changed launch template replaces workers one at a time.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 50
    }
  }

  tag {
    key                 = "Name"
    value               = "${var.name}-worker"
    propagate_at_launch = true
  }

  lifecycle {
    ignore_changes = [desired_capacity] # owned by the scaling policies
  }

  # Workers join with the token the manager publishes at boot.
  depends_on = [aws_instance.manager]
}
