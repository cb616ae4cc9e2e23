output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr_block" {
  description = "The VPC's address range, for security group rules inside it."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "One public subnet per availability zone (load balancers; workloads without NAT)."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "One private subnet per availability zone (databases; workloads with NAT)."
  value       = aws_subnet.private[*].id
}

output "workload_subnet_ids" {
  description = "Where workloads go: private subnets behind NAT, or public subnets without it."
  value       = var.enable_nat_gateway ? aws_subnet.private[*].id : aws_subnet.public[*].id
}

output "workloads_need_public_ip" {
  description = "True when workloads run in public subnets and need a public address to reach AWS APIs."
  value       = !var.enable_nat_gateway
}

output "s3_prefix_list_id" {
  description = "Prefix list of the S3 gateway endpoint, for egress rules."
  value       = aws_vpc_endpoint.gateway["s3"].prefix_list_id
}

output "dynamodb_prefix_list_id" {
  description = "Prefix list of the DynamoDB gateway endpoint, for egress rules."
  value       = aws_vpc_endpoint.gateway["dynamodb"].prefix_list_id
}
