# The smallest useful pier on ECS Fargate: 2 tasks of 0.5 vCPU / 1 GiB (2-6 under
# autoscaling), tasks in public subnets behind the ALB (no NAT gateway), a single-AZ
# db.t4g.micro for the items, DynamoDB for image metadata. About $76/month at rest
# (deploy/terraform/README.md#cost). Needs 1 vCPU of Fargate On-Demand quota (default 6).
#   deploy/scripts/deploy aws-ecs --var-file deploy/terraform/aws-ecs/examples/small.tfvars --tag SHA
# Every deploy reads this same file: name and region come from here, never from flags.
name               = "pier"
region             = "us-east-1"
task_cpu           = 512
task_memory        = 1024
desired_tasks      = 2
min_tasks          = 2
max_tasks          = 6
cpu_target_percent = 70
enable_nat_gateway = false
db_instance_class  = "db.t4g.micro"
db_multi_az        = false
log_retention_days = 30
# alarm_email      = "oncall@example.com"
# domain_name      = "images.example.com"      # needs a Route 53 zone delegated to AWS:
# route53_zone_id  = "Z0123456789ABCDEFGHIJ"   # deploy/README.md#https-with-your-domain
