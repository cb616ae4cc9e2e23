# Settings for `terraform apply` against moto in the test command: a throwaway stack
# that destroy can remove whole.
name                = "pier-test"
deletion_protection = false
force_destroy       = true
alarm_email         = "oncall@example.com"
# moto 5.2.5 does not implement Application Auto Scaling's ListTagsForResource, which the
# provider calls after creating a scalable target: the only resource left out here.
enable_autoscaling = false
# moto answers neither PutFileSystemPolicy nor PutBackupPolicy for EFS: the spool's
# policies are checked as rendered instead (scripts/infra_check.py, spool_* outputs).
spool_policies = false
# moto 5.2.5 implements the Prometheus workspace and its rule groups namespaces but not
# the alert manager definition, nor CloudWatch Logs' saved queries (PutQueryDefinition):
# those two are left out here and checked as rendered (outputs alert_manager_definition,
# log_queries) by scripts/infra_check.py.
alert_manager = false
saved_queries = false
# The collector's traces pipeline and pier's OTEL_EXPORTER_OTLP_ENDPOINT are checked too.
tracing = true
