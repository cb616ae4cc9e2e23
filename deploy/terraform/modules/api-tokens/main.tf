# pier's API tokens for writes, in Secrets Manager: comma-separated, several valid at
# once so a token can be rotated without downtime.
#
# Without `tokens`, the first apply generates one (48 random letters and digits from
# Secrets Manager's own generator) and writes it as a write-only value: it is in the
# secret, never in Terraform's plan or state. Read it with
#   aws secretsmanager get-secret-value --secret-id "$(terraform output -raw api_tokens_secret_arn)" \
#     --query SecretString --output text
# Later applies leave the secret's value alone (rotate by `put-secret-value`).
resource "aws_secretsmanager_secret" "api_tokens" {
  #checkov:skip=CKV_AWS_149:the AWS-managed aws/secretsmanager key; a customer key costs $1/month and changes nothing for who can read it (IAM does)
  #checkov:skip=CKV2_AWS_57:tokens are rotated by the operator (add the new one, roll clients, remove the old); there is no Lambda to rotate them
  name                    = "${var.name}/api-tokens"
  description             = "pier API tokens (comma-separated) for POST, PUT and DELETE"
  recovery_window_in_days = var.recovery_window_in_days
}

resource "aws_secretsmanager_secret_version" "api_tokens" {
  count         = length(var.tokens) > 0 ? 1 : 0
  secret_id     = aws_secretsmanager_secret.api_tokens.id
  secret_string = join(",", var.tokens)
}

ephemeral "aws_secretsmanager_random_password" "token" {
  password_length     = 48
  exclude_punctuation = true
  include_space       = false
}

resource "aws_secretsmanager_secret_version" "generated" {
  count     = length(var.tokens) > 0 ? 0 : 1
  secret_id = aws_secretsmanager_secret.api_tokens.id
  # Write-only: sent to Secrets Manager once (version 1), kept in neither plan nor state.
  secret_string_wo         = ephemeral.aws_secretsmanager_random_password.token.random_password
  secret_string_wo_version = 1
}
