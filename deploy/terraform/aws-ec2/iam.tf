data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "instance" {
  name               = "${var.name}-instance"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

# Session Manager instead of SSH.
resource "aws_iam_role_policy_attachment" "ssm" {
  role       = aws_iam_role.instance.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy" "data" {
  name   = "pier-data"
  role   = aws_iam_role.instance.id
  policy = module.data.pier_policy_json
}

data "aws_iam_policy_document" "pull_and_secrets" {
  source_policy_documents = [module.registry.pull_policy_json]

  statement {
    sid       = "ReadApiTokensAndDatabasePassword"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = compact([module.api_tokens.secret_arn, var.database_password_secret_arn])
  }

  statement {
    sid       = "ReadReleasedImageTag"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.image_tag.arn]
  }

  statement {
    sid       = "SayFirstBootIsDone"
    actions   = ["ssm:PutParameter"]
    resources = [aws_ssm_parameter.bootstrap.arn]
  }
}

resource "aws_iam_role_policy" "pull_and_secrets" {
  name   = "pull-image-read-tokens"
  role   = aws_iam_role.instance.id
  policy = data.aws_iam_policy_document.pull_and_secrets.json
}

resource "aws_iam_instance_profile" "instance" {
  name = "${var.name}-instance"
  role = aws_iam_role.instance.name
}
