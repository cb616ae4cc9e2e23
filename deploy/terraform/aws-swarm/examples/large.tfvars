# A larger swarm: c7i.xlarge workers (4 vCPU / 8 GiB), 3-15 of them, 4 replicas each,
# image metadata in DynamoDB. Needs 62 vCPU of standard On-Demand quota at the maximum (15 × 4 + the manager's 2).
#   deploy/scripts/deploy aws-swarm --var-file deploy/terraform/aws-swarm/examples/large.tfvars --tag SHA
name                  = "pier-swarm"
region                = "us-east-1"
manager_instance_type = "t3.medium"
worker_instance_type  = "c7i.xlarge"
min_workers           = 3
max_workers           = 15
replicas_per_worker   = 4
scale_out_cpu_percent = 70
metadata              = "dynamodb"
enable_nat_gateway    = true
db_instance_class     = "db.m7g.large"
# alarm_email         = "oncall@example.com"
