"""Checks an OpenTelemetry collector configuration the way the collector's own
`validate` command would, for the components this kit uses: no collector binary can be
installed on the test machines (the AWS Distro for OpenTelemetry ships container images
and Go source only; no Debian, PyPI or npm package), so the published configuration
rules are applied here instead:

- top-level sections are only receivers, processors, exporters, extensions, connectors,
  service; component ids are `type` or `type/name`;
- every type is one the ADOT collector distributes (its component list), and every key
  given to one of the components used here is a documented setting of that component;
- service.extensions and every pipeline name only components that are defined; a
  pipeline's kind (traces, metrics, logs) is in its name; memory_limiter comes first;
- every `${env:NAME}` names a variable the container sets (passed as NAME=... args).

    collector_config_check.py CONFIG.yaml [ENV_NAME ...]
Exits 1 with one line per problem.
"""

import re
import sys

import yaml

# ADOT collector components (aws-observability/aws-otel-collector, docs/components.md).
ADOT = {
    "receivers": {"otlp", "prometheus", "awsxray", "awsecscontainermetrics", "statsd", "zipkin", "jaeger",
                  "hostmetrics", "filelog", "kafka", "awscontainerinsightreceiver"},
    "processors": {"batch", "memory_limiter", "resourcedetection", "resource", "attributes", "filter",
                   "metricstransform", "cumulativetodelta", "deltatorate", "probabilistic_sampler", "span",
                   "tail_sampling", "groupbytrace", "k8sattributes", "transform", "metricsgeneration"},
    "exporters": {"awsxray", "awsemf", "prometheusremotewrite", "prometheus", "otlp", "otlphttp", "debug",
                  "logging", "file", "kafka", "awscloudwatchlogs"},
    "extensions": {"health_check", "sigv4auth", "pprof", "zpages", "ecs_observer", "file_storage"},
    "connectors": {"spanmetrics"},
}

# The documented settings of the components this kit configures (each component's
# README in opentelemetry-collector(-contrib) at the version ADOT v0.43 builds).
SETTINGS = {
    ("extensions", "health_check"): {"endpoint", "path", "check_collector_pipeline", "response_body", "tls"},
    ("extensions", "sigv4auth"): {"region", "service", "assume_role"},
    ("receivers", "prometheus"): {"config", "target_allocator", "trim_metric_suffixes"},
    ("receivers", "otlp"): {"protocols"},
    ("processors", "memory_limiter"): {"check_interval", "limit_mib", "spike_limit_mib", "limit_percentage",
                                       "spike_limit_percentage"},
    ("processors", "resourcedetection"): {"detectors", "timeout", "override", "attributes", "ecs", "ec2", "env"},
    ("processors", "resource"): {"attributes"},
    ("processors", "batch"): {"timeout", "send_batch_size", "send_batch_max_size", "metadata_keys",
                              "metadata_cardinality_limit"},
    ("exporters", "prometheusremotewrite"): {"endpoint", "auth", "timeout", "retry_on_failure", "headers", "tls",
                                             "namespace", "external_labels", "resource_to_telemetry_conversion",
                                             "remote_write_queue", "target_info", "export_created_metric",
                                             "max_batch_size_bytes", "add_metric_suffixes", "compression"},
    ("exporters", "awsxray"): {"region", "endpoint", "indexed_attributes", "index_all_attributes",
                               "role_arn", "aws_log_groups", "num_workers", "request_timeout_seconds",
                               "max_retries", "no_verify_ssl", "proxy_address", "local_mode",
                               "telemetry", "resource_arn", "middleware"},
}
RESOURCE_ACTIONS = {"insert", "update", "upsert", "delete", "hash", "extract", "convert"}
DETECTORS = {"env", "ecs", "ec2", "eks", "elastic_beanstalk", "lambda", "system", "docker"}
PIPELINE_KINDS = {"traces", "metrics", "logs"}
ID = re.compile(r"^([a-z0-9_]+)(/[A-Za-z0-9_.-]+)?$")

problems = []


def expect(condition, message):
    if not condition:
        problems.append(message)


def check(config, env_names):
    expect(isinstance(config, dict), "the configuration is not a map")
    sections = {"receivers", "processors", "exporters", "extensions", "connectors", "service"}
    expect(set(config) <= sections, f"unknown top-level sections: {sorted(set(config) - sections)}")
    defined = {}
    for section in sections - {"service"}:
        for component_id, settings in (config.get(section) or {}).items():
            match = ID.match(component_id)
            expect(match is not None, f"{section}: '{component_id}' is not a component id (type or type/name)")
            if not match:
                continue
            kind = match.group(1)
            expect(kind in ADOT[section], f"{section}: '{kind}' is not a component of the ADOT collector")
            allowed = SETTINGS.get((section, kind))
            if allowed is not None and settings:
                expect(set(settings) <= allowed, f"{section}.{component_id}: unknown settings {sorted(set(settings) - allowed)}")
            defined.setdefault(section, set()).add(component_id)
            check_component(section, kind, component_id, settings or {})
    service = config.get("service") or {}
    expect(set(service) <= {"extensions", "pipelines", "telemetry"}, f"service: unknown keys {sorted(set(service) - {'extensions', 'pipelines', 'telemetry'})}")
    for extension in service.get("extensions", []):
        expect(extension in defined.get("extensions", set()), f"service.extensions names '{extension}', which is not defined")
    pipelines = service.get("pipelines") or {}
    expect(pipelines, "no pipeline")
    for name, pipeline in pipelines.items():
        expect(name.split("/")[0] in PIPELINE_KINDS, f"pipeline '{name}' is not traces, metrics or logs")
        expect(set(pipeline) <= {"receivers", "processors", "exporters"}, f"pipeline {name}: unknown keys {sorted(pipeline)}")
        expect(pipeline.get("receivers") and pipeline.get("exporters"), f"pipeline {name} needs receivers and exporters")
        for role in ("receivers", "processors", "exporters"):
            for component in pipeline.get(role, []):
                expect(component in defined.get(role, set()), f"pipeline {name} names {role[:-1]} '{component}', which is not defined")
        processors = pipeline.get("processors", [])
        if "memory_limiter" in processors:
            expect(processors[0] == "memory_limiter", f"pipeline {name}: memory_limiter must come first")
    for variable in sorted(set(re.findall(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}", yaml.safe_dump(config)))):
        expect(variable in env_names, f"${{env:{variable}}} is not set on the container")


def check_component(section, kind, component_id, settings):
    where = f"{section}.{component_id}"
    if kind == "prometheus" and section == "receivers":
        jobs = settings.get("config", {}).get("scrape_configs", [])
        expect(jobs, f"{where}: no scrape_configs")
        for job in jobs:
            expect("job_name" in job, f"{where}: a scrape config without job_name")
            # The collector expands $ itself: a Prometheus $1 must be written $$1.
            expect("$" not in re.sub(r"\$\$|\$\{env:[A-Za-z0-9_]+\}", "", yaml.safe_dump(job)), f"{where}: an unescaped $ in {job.get('job_name')}")
    if kind == "resource":
        for attribute in settings.get("attributes", []):
            expect(attribute.get("action") in RESOURCE_ACTIONS, f"{where}: action {attribute.get('action')}")
            expect("key" in attribute, f"{where}: an attribute without key")
            if attribute.get("action") in {"insert", "update", "upsert"}:
                expect(("value" in attribute) != ("from_attribute" in attribute), f"{where}: {attribute['key']} needs value or from_attribute")
    if kind == "resourcedetection":
        expect(set(settings.get("detectors", [])) <= DETECTORS, f"{where}: unknown detectors {settings.get('detectors')}")
    if kind == "memory_limiter":
        expect("check_interval" in settings, f"{where}: check_interval is required")
        expect(("limit_mib" in settings) or ("limit_percentage" in settings), f"{where}: a limit is required")
    if kind in ("prometheusremotewrite", "otlphttp", "otlp") and section == "exporters":
        expect("endpoint" in settings, f"{where}: endpoint is required")
    if kind == "otlp" and section == "receivers":
        protocols = settings.get("protocols") or {}
        expect(protocols and set(protocols) <= {"grpc", "http"}, f"{where}: protocols {sorted(protocols)}")


if __name__ == "__main__":
    check(yaml.safe_load(open(sys.argv[1])), set(sys.argv[2:]))
    for problem in problems:
        print(f"collector_config_check: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"collector_config_check: {sys.argv[1]}: valid for the ADOT collector's components")
