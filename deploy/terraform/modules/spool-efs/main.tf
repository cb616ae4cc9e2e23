# The spool shared by every replica (README: "One spool for the whole fleet"): an
# encrypted EFS file system, reachable over NFS only from the replicas, mounted through
# an access point that maps every client to pier's user and confines it to /spool.

resource "aws_efs_file_system" "spool" {
  #checkov:skip=CKV_AWS_184:a customer-managed key is the kms_key_arn variable; without one the AWS-managed key still encrypts at rest
  creation_token = "${var.name}-spool"
  encrypted      = true
  kms_key_id     = var.kms_key_arn

  lifecycle_policy {
    transition_to_ia = var.transition_to_ia
  }

  lifecycle_policy {
    transition_to_primary_storage_class = "AFTER_1_ACCESS"
  }

  tags = { Name = "${var.name}-spool" }
}

locals {
  backup_status = "ENABLED"
}

resource "aws_efs_backup_policy" "spool" {
  count          = var.policies ? 1 : 0
  file_system_id = aws_efs_file_system.spool.id

  backup_policy {
    status = local.backup_status
  }
}

resource "aws_efs_access_point" "spool" {
  file_system_id = aws_efs_file_system.spool.id

  posix_user {
    uid = var.uid
    gid = var.uid
  }

  root_directory {
    path = "/spool"
    creation_info {
      owner_uid   = var.uid
      owner_gid   = var.uid
      permissions = "0750"
    }
  }

  tags = { Name = "${var.name}-spool" }
}

# Clients must use TLS and the access point; nobody mounts the root of the file system.
data "aws_iam_policy_document" "spool" {
  statement {
    sid     = "DenyWithoutTls"
    effect  = "Deny"
    actions = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    resources = [aws_efs_file_system.spool.arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "MountThroughTheAccessPointOnly"
    effect    = "Allow"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.spool.arn]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.spool.arn]
    }
    condition {
      test     = "Bool"
      variable = "elasticfilesystem:AccessedViaMountTarget"
      values   = ["true"]
    }
  }
}

resource "aws_efs_file_system_policy" "spool" {
  count          = var.policies ? 1 : 0
  file_system_id = aws_efs_file_system.spool.id
  policy         = data.aws_iam_policy_document.spool.json
}

resource "aws_security_group" "spool" {
  name        = "${var.name}-spool"
  description = "pier spool (EFS): NFS from the replicas only"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "nfs_from_replicas" {
  count                        = length(var.client_security_group_ids) # ids unknown until apply
  security_group_id            = aws_security_group.spool.id
  description                  = "NFS from pier replicas"
  referenced_security_group_id = var.client_security_group_ids[count.index]
  from_port                    = 2049
  to_port                      = 2049
  ip_protocol                  = "tcp"
}

resource "aws_efs_mount_target" "spool" {
  count           = length(var.subnet_ids)
  file_system_id  = aws_efs_file_system.spool.id
  subnet_id       = var.subnet_ids[count.index]
  security_groups = [aws_security_group.spool.id]
}

# What a replica's role needs: mount and write through the access point.
data "aws_iam_policy_document" "client" {
  statement {
    sid       = "MountTheSpool"
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.spool.arn]
    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.spool.arn]
    }
  }
}
