data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

# Shared by manager and workers: Session Manager (no SSH), pulling the image, and
# pier's own data policy (tasks use the node's role through IMDSv2).
data "aws_iam_policy_document" "node" {
  source_policy_documents = [module.registry.pull_policy_json]

  statement {
    sid       = "ReadSwarmJoinParameters"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.join_token.arn, aws_ssm_parameter.manager_address.arn]
  }
}

# The manager alone writes the join parameters and reads the secrets it turns into the
# stack's settings.
data "aws_iam_policy_document" "manager" {
  statement {
    sid       = "PublishSwarmJoinParameters"
    actions   = ["ssm:PutParameter"]
    resources = [aws_ssm_parameter.join_token.arn, aws_ssm_parameter.manager_address.arn, aws_ssm_parameter.bootstrap.arn]
  }

  statement {
    sid       = "ReadReleasedImageTag"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.image_tag.arn]
  }

  statement {
    sid       = "ReadStackSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = compact([module.api_tokens.secret_arn, module.postgres.password_secret_arn, aws_secretsmanager_secret.grafana_admin.arn])
  }

  statement {
    sid       = "ReadSwarmKit"
    actions   = ["ssm:GetParametersByPath"]
    resources = local.kit_path_arns
  }
}

resource "aws_iam_role" "node" {
  for_each           = toset(["manager", "worker"])
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy_attachment" "ssm" {
  for_each   = aws_iam_role.node
  role       = each.value.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy" "node" {
  for_each = aws_iam_role.node
  name     = "swarm-node"
  role     = each.value.id
  policy   = data.aws_iam_policy_document.node.json
}

resource "aws_iam_role_policy" "data" {
  for_each = aws_iam_role.node
  name     = "pier-data"
  role     = each.value.id
  policy   = module.data.pier_policy_json
}

resource "aws_iam_role_policy" "manager" {
  name   = "swarm-manager"
  role   = aws_iam_role.node["manager"].id
  policy = data.aws_iam_policy_document.manager.json
}

resource "aws_iam_instance_profile" "node" {
  for_each = aws_iam_role.node
  name     = each.value.name
  role     = each.value.name
}
