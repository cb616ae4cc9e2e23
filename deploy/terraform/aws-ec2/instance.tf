# Amazon Linux 2023, the newest image AWS publishes (read once at apply).
data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}

locals {
  image = "${module.registry.repository_url}:${var.image_tag}"
  environment = merge(module.data.environment, {
    AWS_REGION      = var.region
    DATABASE_URL    = "sqlite:///data/pier.db"
    PIER_LOG_FORMAT = "json"
  })
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
  user_data_replace_on_change = true
  user_data = templatefile("${path.module}/templates/user-data.sh.tftpl", {
    region        = var.region
    registry      = module.registry.repository_url
    image         = local.image
    tokens_secret = module.api_tokens.secret_arn
    environment   = local.environment
  })

  # IMDSv2 only; hop limit 2 so the container reaches the instance role's credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.data_volume_gb
    encrypted             = true
    delete_on_termination = false # the SQLite items database and the spool outlive the instance
  }

  tags = { Name = var.name }

  lifecycle {
    ignore_changes = [ami] # a newer AMI does not replace a running instance
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
