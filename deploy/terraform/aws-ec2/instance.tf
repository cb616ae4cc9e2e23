# Amazon Linux 2023, the newest image AWS publishes (read once at apply).
data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

locals {
  environment = merge(module.data.environment, {
    AWS_REGION      = var.region
    DATABASE_URL    = var.database_url == "" ? "sqlite:///data/pier.db" : var.database_url
    PIER_LOG_FORMAT = "json"
    # systemd stops the container with SIGTERM; pier finishes in-flight requests.
    PIER_SHUTDOWN_TIMEOUT = "10s"
  })
}

data "aws_subnet" "instance" {
  id = module.network.public_subnet_ids[0]
}

# The data that must outlive the instance — the SQLite items database (when no
# database_url is given) and the upload spool — lives on a volume of its own, attached
# by Terraform and mounted by the instance at /var/lib/pier. A replaced instance (a new
# AMI, a lost host) gets the same volume back.
resource "aws_ebs_volume" "data" {
  #checkov:skip=CKV_AWS_189:encrypted with the AWS-managed aws/ebs key; a customer key costs $1/month and changes nothing for who can read it (IAM does)
  availability_zone = data.aws_subnet.instance.availability_zone
  size              = var.data_volume_gb
  type              = "gp3"
  encrypted         = true
  tags              = { Name = "${var.name}-data" }
}

resource "aws_volume_attachment" "data" {
  device_name = "/dev/sdf"
  volume_id   = aws_ebs_volume.data.id
  instance_id = aws_instance.pier.id
  # On destroy, detach cleanly after stopping pier (the instance stops first).
  stop_instance_before_detaching = true
}

# The released image tag: the unit reads it at every start. A release updates it in
# place and restarts the unit; nothing about the instance changes.
resource "aws_ssm_parameter" "image_tag" {
  #checkov:skip=CKV2_AWS_34:an image tag, not a secret
  name  = "/${var.name}/image-tag"
  type  = "String"
  value = var.image_tag
}

# Set by the instance to its id when its first boot is done; deploys wait for it.
resource "aws_ssm_parameter" "bootstrap" {
  #checkov:skip=CKV2_AWS_34:an instance id, not a secret
  name  = "/${var.name}/instance-ready"
  type  = "String"
  value = "pending"

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_instance" "pier" {
  ami                         = nonsensitive(data.aws_ssm_parameter.al2023.value)
  instance_type               = var.instance_type
  subnet_id                   = module.network.public_subnet_ids[0]
  vpc_security_group_ids      = [aws_security_group.instance.id]
  iam_instance_profile        = aws_iam_instance_profile.instance.name
  associate_public_ip_address = false # the Elastic IP below is the address
  monitoring                  = true
  ebs_optimized               = true
  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    region          = var.region
    registry        = module.registry.repository_url
    image_tag_param = aws_ssm_parameter.image_tag.name
    bootstrap_param = aws_ssm_parameter.bootstrap.name
    data_volume_id  = aws_ebs_volume.data.id
    tokens_secret   = module.api_tokens.secret_arn
    password_secret = var.database_password_secret_arn
    environment     = local.environment
  })

  # IMDSv2 only; hop limit 2 so the container reaches the instance role's credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  # The system only: the data is on aws_ebs_volume.data.
  root_block_device {
    volume_type = "gp3"
    volume_size = 8
    encrypted   = true
  }

  tags = { Name = var.name }

  lifecycle {
    # A newer AMI does not replace a running instance, nor does a change of its
    # first-boot script (it only runs at first boot). Once the Elastic IP is associated,
    # EC2 reports the primary interface as having a public address, which the provider
    # reads back as associate_public_ip_address = true: without ignoring it, the next
    # plan (any release) would replace the instance (found by the deploy drill).
    ignore_changes = [ami, user_data, associate_public_ip_address]
  }
}

resource "aws_eip" "pier" {
  domain   = "vpc"
  instance = aws_instance.pier.id
  tags     = { Name = var.name }
}

# Restart the instance if the hardware under it fails.
resource "aws_cloudwatch_metric_alarm" "recover" {
  alarm_name          = "${var.name}-auto-recover"
  alarm_description   = "The instance failed its system status check: EC2 moves it to healthy hardware."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed_System"
  dimensions          = { InstanceId = aws_instance.pier.id }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  alarm_actions       = ["arn:aws:automate:${var.region}:ec2:recover"]
}
