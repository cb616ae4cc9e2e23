# The single instance with its items in an external PostgreSQL you already run (RDS or
# elsewhere); its password comes from a Secrets Manager secret you create first:
#   aws secretsmanager create-secret --name pier/db-password --secret-string '…'
#   deploy/scripts/deploy aws-ec2 --var-file deploy/terraform/aws-ec2/examples/postgres.tfvars --tag SHA
name                         = "pier-single"
region                       = "us-east-1"
instance_type                = "t3.small"
data_volume_gb               = 20
database_url                 = "postgres://pier@db.example.internal:5432/pier?sslmode=require"
database_password_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pier/db-password-AbCdEf"
