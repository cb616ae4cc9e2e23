# One t3.micro with pier in Docker: SQLite items on a 20 GiB data volume that outlives
# the instance, images in S3 and DynamoDB. About $17/month. Needs 2 vCPU of standard
# On-Demand instance quota.
#   deploy/scripts/deploy aws-ec2 --var-file deploy/terraform/aws-ec2/examples/small.tfvars --tag SHA
name           = "pier-single"
region         = "us-east-1"
instance_type  = "t3.micro"
data_volume_gb = 20
