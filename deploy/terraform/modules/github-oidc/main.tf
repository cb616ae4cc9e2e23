# GitHub Actions to AWS without long-lived keys: the account trusts GitHub's OIDC
# tokens, and three roles each trust exactly the jobs that need them — the subject
# (`sub`) claim names the repository and the branch, pull request or environment:
#
#   release  repo:OWNER/NAME:ref:refs/heads/main          .github/workflows/release.yml
#            pushes the image (tagged with the commit SHA) to the stacks' ECR repositories
#   deploy   repo:OWNER/NAME:environment:production       .github/workflows/deploy.yml
#            applies Terraform and releases (the deployer policy), only in jobs of the
#            environment, which requires a reviewer's approval
#   plan     repo:OWNER/NAME:pull_request                 .github/workflows/deploy.yml
#            reads the account and the state for `terraform plan` on pull requests
locals {
  issuer       = "token.actions.githubusercontent.com"
  provider_arn = var.create_provider ? aws_iam_openid_connect_provider.github[0].arn : var.existing_provider_arn
  subjects = {
    release = "repo:${var.repository}:ref:refs/heads/main"
    deploy  = "repo:${var.repository}:environment:${var.production_environment}"
    plan    = "repo:${var.repository}:pull_request"
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = var.create_provider ? 1 : 0
  url            = "https://${local.issuer}"
  client_id_list = ["sts.amazonaws.com"]
  # GitHub's certificate chain; AWS trusts GitHub's issuer by its own CA list today, but
  # the API still asks for thumbprints.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

data "aws_iam_policy_document" "trust" {
  for_each = local.subjects
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [local.provider_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "${local.issuer}:sub"
      values   = [each.value]
    }
  }
}

resource "aws_iam_role" "this" {
  for_each             = local.subjects
  name                 = "${var.name}-${each.key}"
  assume_role_policy   = data.aws_iam_policy_document.trust[each.key].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "release" {
  statement {
    sid       = "LogInToEcr"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the action has no resource
  }
  statement {
    sid = "PushImages"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = var.ecr_repository_arns
  }
}

data "aws_iam_policy_document" "state" {
  statement {
    sid       = "ListState"
    actions   = ["s3:ListBucket"]
    resources = [var.state_bucket_arn]
  }
  statement {
    sid       = "ReadWriteStateAndLocks"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${var.state_bucket_arn}/*"]
  }
}

resource "aws_iam_role_policy" "release" {
  name   = "push-images"
  role   = aws_iam_role.this["release"].id
  policy = data.aws_iam_policy_document.release.json
}

resource "aws_iam_role_policy" "deploy" {
  name   = "deploy-stacks"
  role   = aws_iam_role.this["deploy"].id
  policy = var.deploy_policy_json
}

resource "aws_iam_role_policy" "state" {
  for_each = toset(["deploy", "plan"])
  name     = "terraform-state"
  role     = aws_iam_role.this[each.key].id
  policy   = data.aws_iam_policy_document.state.json
}

# Refreshing a secret version reads its value: the plan role may read the stacks'
# secrets (and nothing else beyond ReadOnlyAccess). Only collaborators can open pull
# requests whose jobs get a token (GitHub gives none to pull requests from forks).
data "aws_iam_policy_document" "plan_secrets" {
  statement {
    sid       = "RefreshStackSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["arn:aws:secretsmanager:*:*:secret:${var.stack_name_prefix}*"]
  }
}

resource "aws_iam_role_policy" "plan_secrets" {
  name   = "refresh-stack-secrets"
  role   = aws_iam_role.this["plan"].id
  policy = data.aws_iam_policy_document.plan_secrets.json
}

resource "aws_iam_role_policy_attachment" "plan_read_only" {
  role       = aws_iam_role.this["plan"].name
  policy_arn = "arn:aws:iam::aws:policy/ReadOnlyAccess"
}
