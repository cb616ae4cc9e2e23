# HTTPS on var.domain_name: a DNS-validated ACM certificate and an alias to the ALB.
resource "aws_acm_certificate" "pier" {
  count             = local.https ? 1 : 0
  domain_name       = var.domain_name
  validation_method = "DNS"

  lifecycle {
    create_before_destroy = true
    precondition {
      condition     = var.route53_zone_id != null
      error_message = "domain_name needs route53_zone_id (the hosted zone that holds it)."
    }
  }
}

resource "aws_route53_record" "validation" {
  for_each = local.https ? {
    for o in aws_acm_certificate.pier[0].domain_validation_options : o.domain_name => o
  } : {}
  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

# ACM validates by looking the record up in public DNS: it only succeeds when the zone
# is delegated to Route 53 (the registrar's NS records are the zone's). Without that it
# would wait 75 minutes (the provider's default); 15 are plenty for a delegated zone,
# and the error then points at deploy/README.md#https-with-your-domain.
resource "aws_acm_certificate_validation" "pier" {
  count                   = local.https ? 1 : 0
  certificate_arn         = aws_acm_certificate.pier[0].arn
  validation_record_fqdns = [for r in aws_route53_record.validation : r.fqdn]

  timeouts {
    create = "15m"
  }
}

resource "aws_route53_record" "pier" {
  count   = local.https ? 1 : 0
  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.pier.dns_name
    zone_id                = aws_lb.pier.zone_id
    evaluate_target_health = true
  }
}
