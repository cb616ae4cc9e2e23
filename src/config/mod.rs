//! Settings: every one an environment variable with a matching flag, parsed and
//! validated once at start-up. This is the only module that reads the environment.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

mod parse;

pub use parse::parse_duration;
pub(crate) use parse::*;

/// Where and how the service stores SQL data. Parsed from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An SQLite file, created with its directory when missing.
    Sqlite(PathBuf),
    /// A PostgreSQL server (the URL as given; never logged, it may hold a password).
    #[cfg(feature = "postgres")]
    Postgres(String),
}

/// Where image bytes live. Parsed from `PIER_STORAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A directory on local disk, created when missing.
    File(PathBuf),
    /// Process memory: fast tests and throwaway demos; lost on exit.
    Memory,
    /// An S3 (or S3-compatible) bucket, with an optional key prefix.
    #[cfg(feature = "aws")]
    S3 {
        /// The bucket name.
        bucket: String,
        /// Keys are stored under this prefix (no leading or trailing `/`).
        prefix: Option<String>,
    },
}

/// A secret setting: its `Debug` never shows the value, so it cannot reach a log.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The standard AWS settings, for S3 and S3-compatible servers (MinIO, test servers).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "AWS")]
pub struct AwsSettings {
    /// A custom endpoint (e.g. `http://127.0.0.1:9000`); requests then use path-style URLs.
    #[arg(long = "aws-endpoint-url", env = "AWS_ENDPOINT_URL", global = true)]
    pub endpoint_url: Option<String>,
    /// Region of the bucket.
    #[arg(
        long = "aws-region",
        env = "AWS_REGION",
        default_value = "us-east-1",
        global = true
    )]
    pub region: String,
    /// Access key id; when unset the SDK's usual sources (instance/task role) are used.
    #[arg(
        long = "aws-access-key-id",
        env = "AWS_ACCESS_KEY_ID",
        global = true,
        hide_env_values = true
    )]
    pub access_key_id: Option<String>,
    /// Secret access key.
    #[arg(long = "aws-secret-access-key", env = "AWS_SECRET_ACCESS_KEY", value_parser = parse_secret, global = true, hide_env_values = true)]
    pub secret_access_key: Option<Secret>,
    /// Session token for temporary credentials.
    #[arg(long = "aws-session-token", env = "AWS_SESSION_TOKEN", value_parser = parse_secret, global = true, hide_env_values = true)]
    pub session_token: Option<Secret>,
}

/// Origins allowed by CORS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No cross-origin access (the default).
    #[default]
    None,
    /// Any origin (`*`): fine for a token-protected API, whose tokens are not cookies.
    Any,
    /// These origins.
    List(Vec<axum::http::HeaderValue>),
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Whether `addr` is one of the trusted proxies.
    pub fn contains(&self, addr: &std::net::IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(addr))
    }
}

impl Settings {
    /// The API tokens, parsed: `None` when unset or empty (writes open), an error (naming
    /// the problem, never a token) when a token is malformed or the file is unreadable.
    pub fn api_tokens(&self) -> Result<Option<crate::http::auth::ApiTokens>, String> {
        match &self.access.api_tokens {
            Some(secret) if !secret.0.trim().is_empty() => {
                crate::http::auth::ApiTokens::parse(&secret.0)
                    .map(Some)
                    .map_err(|reason| format!("PIER_API_TOKENS: {reason}"))
            }
            _ => Ok(None),
        }
    }
}

impl AwsSettings {
    /// Treats empty values as unset. Compose and stack files pass optional settings as
    /// `${AWS_ENDPOINT_URL:-}`, which sets an empty variable: that must mean "the SDK's
    /// defaults" (real AWS, the task or instance role), not an empty endpoint or key.
    pub fn without_empty_values(self) -> Self {
        fn some_text(value: Option<String>) -> Option<String> {
            value.filter(|v| !v.trim().is_empty())
        }
        fn some_secret(value: Option<Secret>) -> Option<Secret> {
            value.filter(|v| !v.0.trim().is_empty())
        }
        Self {
            endpoint_url: some_text(self.endpoint_url),
            region: if self.region.trim().is_empty() {
                "us-east-1".to_owned()
            } else {
                self.region
            },
            access_key_id: some_text(self.access_key_id),
            secret_access_key: some_secret(self.secret_access_key),
            session_token: some_secret(self.session_token),
        }
    }
}

/// Where image metadata lives. Parsed from `PIER_METADATA`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataBackend {
    /// In the SQL database named by `DATABASE_URL`.
    Database,
    /// In a DynamoDB table (`dynamodb://TABLE`), see `store::dynamo` for its schema.
    #[cfg(feature = "aws")]
    DynamoDb {
        /// The table name.
        table: String,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-friendly, coloured.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Where data lives: the SQL database, image bytes, image metadata, the spool.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Backends")]
pub struct Backends {
    /// SQL database: `sqlite://PATH` (file created when missing) or `postgres://…`.
    #[arg(long = "database-url", env = "DATABASE_URL", default_value = "sqlite://data/pier.db", value_parser = parse_database_url, global = true)]
    pub database_url: DatabaseUrl,

    /// Object storage for image bytes: `file://DIR`, `s3://BUCKET[/PREFIX]` or `memory://`.
    #[arg(long = "storage", env = "PIER_STORAGE", default_value = "file://data/images", value_parser = parse_storage_url, global = true)]
    pub storage: StorageUrl,

    /// Where image metadata lives: `database`.
    #[arg(long = "metadata", env = "PIER_METADATA", default_value = "database", value_parser = parse_metadata, global = true)]
    pub metadata: MetadataBackend,

    /// Local durable fallback for uploads while a remote backend is down.
    #[arg(
        long = "spool",
        env = "PIER_SPOOL",
        default_value = "data/spool",
        global = true
    )]
    pub spool: PathBuf,

    /// How long a replica's spool lease may go unrenewed before another replica sharing
    /// the spool directory adopts (and replays) what it holds; renewed every quarter of
    /// it. Used when several replicas share `PIER_SPOOL` (EFS, a shared volume).
    #[arg(long = "spool-lease", env = "PIER_SPOOL_LEASE", default_value = "30s", value_parser = parse_spool_lease, global = true)]
    pub spool_lease: Duration,

    /// Bytes of recently read small images and thumbnails kept in memory (0 = off).
    #[arg(long = "object-cache-bytes", env = "PIER_OBJECT_CACHE_BYTES", default_value = "16777216", value_parser = clap::value_parser!(u64).range(0..=(64u64 << 30)), global = true)]
    pub object_cache_bytes: u64,
}

/// What one upload may send, and how uploads share the machine.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Uploads")]
pub struct UploadSettings {
    /// Largest accepted file in an upload, in bytes (1 ..= 1 GiB).
    #[arg(long = "max-upload-bytes", env = "PIER_MAX_UPLOAD_BYTES", default_value = "10485760", value_parser = parse_max_upload, global = true)]
    pub max_upload_bytes: u64,

    /// Most files in one upload request (1 ..= 100).
    #[arg(long = "max-files-per-upload", env = "PIER_MAX_FILES_PER_UPLOAD", default_value = "20", value_parser = clap::value_parser!(u32).range(1..=100), global = true)]
    pub max_files_per_upload: u32,

    /// Most uploads processed at once (1 ..= 1024); more wait their turn without their
    /// bodies being read, which bounds memory and disk contention under load.
    #[arg(long = "max-concurrent-uploads", env = "PIER_MAX_CONCURRENT_UPLOADS", default_value = "16", value_parser = clap::value_parser!(u32).range(1..=1024), global = true)]
    pub max_concurrent_uploads: u32,

    /// An upload body that sends nothing for this long loses its slot and is answered
    /// 408 (e.g. `10s`): a stalled connection cannot hold one of the
    /// `PIER_MAX_CONCURRENT_UPLOADS` slots.
    #[arg(long = "upload-idle-timeout", env = "PIER_UPLOAD_IDLE_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub upload_idle_timeout: Duration,

    /// Slowest accepted upload, in bytes per second averaged over each 10 s window of
    /// the body (0 = no minimum); a slower upload is answered 408 and frees its slot.
    #[arg(long = "upload-min-rate", env = "PIER_UPLOAD_MIN_RATE", default_value = "8192", value_parser = clap::value_parser!(u64).range(0..=(1u64 << 30)), global = true)]
    pub upload_min_rate: u64,
}

/// What decoding an image may cost (uploads are refused past it; thumbnails are held to it).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Images")]
pub struct ImageSettings {
    /// Largest accepted image in pixels (width × height); guards against decompression bombs.
    #[arg(long = "max-image-pixels", env = "PIER_MAX_IMAGE_PIXELS", default_value = "50000000", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000), global = true)]
    pub max_image_pixels: u64,

    /// Memory all image decodes together may use, in bytes (16 MiB ..= 64 GiB): the
    /// decoded pixels and each decoder's working buffers. One image needing more is
    /// refused at upload (422); decodes wait for their share, so thumbnails are made as
    /// many at once as this allows, never more than there are cores.
    #[arg(long = "decode-memory", env = "PIER_DECODE_MEMORY", default_value = "268435456", value_parser = clap::value_parser!(u64).range((16u64 << 20)..=(64u64 << 30)), global = true)]
    pub decode_memory: u64,

    /// Longest one image decode may run before it stops and the image is marked
    /// undecodable (e.g. `10s`).
    #[arg(long = "decode-timeout", env = "PIER_DECODE_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub decode_timeout: Duration,

    /// What of an upload's metadata is stored (before hashing, so the ETag is of what
    /// is served): `strip-private` removes GPS, serial numbers, maker notes, XMP,
    /// comments, embedded thumbnails and unknown blocks and keeps orientation, the colour
    /// profile, copyright and artist; `strip-all` keeps only orientation and the colour
    /// profile; `keep` stores the bytes as uploaded.
    #[arg(
        long = "image-metadata",
        env = "PIER_IMAGE_METADATA",
        default_value = "strip-private",
        value_enum,
        global = true
    )]
    pub metadata_policy: crate::domain::image::MetadataPolicy,

    /// Images waiting for their thumbnail and placeholder to be made ahead, after their
    /// upload (0 = off: both are made on first view). A full queue drops new jobs; those
    /// images are made on first view, and anything not made is found at the next start.
    #[arg(long = "make-ahead-queue", env = "PIER_MAKE_AHEAD_QUEUE", default_value = "1024", value_parser = clap::value_parser!(u32).range(0..=1_000_000), global = true)]
    pub make_ahead_queue: u32,
}

/// Limits on JSON bodies and the texts `/predict` scores.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Bodies")]
pub struct BodyLimits {
    /// Largest accepted JSON body, in bytes (1 KiB ..= 16 MiB).
    #[arg(long = "max-json-bytes", env = "PIER_MAX_JSON_BYTES", default_value = "65536", value_parser = clap::value_parser!(u64).range(1024..=16 * 1024 * 1024), global = true)]
    pub max_json_bytes: u64,

    /// Longest text `/predict` scores, in characters (1 ..= 1,000,000).
    #[arg(long = "max-text-chars", env = "PIER_MAX_TEXT_CHARS", default_value = "10000", value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub max_text_chars: u32,

    /// Most texts in one `/predict` batch (1 ..= 100,000).
    #[arg(long = "max-batch-texts", env = "PIER_MAX_BATCH_TEXTS", default_value = "1000", value_parser = clap::value_parser!(u32).range(1..=100_000), global = true)]
    pub max_batch_texts: u32,

    /// Largest `/predict` body, in bytes (1 KiB ..= 256 MiB).
    #[arg(long = "max-predict-bytes", env = "PIER_MAX_PREDICT_BYTES", default_value = "4194304", value_parser = clap::value_parser!(u64).range(1024..=256 * 1024 * 1024), global = true)]
    pub max_predict_bytes: u64,
}

/// How the HTTP server treats connections, slow requests, overload and shutdown.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerSettings {
    /// Longest wait for a request's headers once a connection is open or idle between
    /// requests; a client that dribbles them (slowloris) is disconnected.
    #[arg(long = "header-timeout", env = "PIER_HEADER_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub header_timeout: Duration,

    /// Longest time one request may take before it is answered 408 (e.g. `60s`, `500ms`).
    #[arg(long = "request-timeout", env = "PIER_REQUEST_TIMEOUT", default_value = "60s", value_parser = parse_duration, global = true)]
    pub request_timeout: Duration,

    /// How long a shutdown waits for in-flight requests before it gives up on them.
    #[arg(long = "shutdown-timeout", env = "PIER_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration, global = true)]
    pub shutdown_timeout: Duration,

    /// On SIGTERM, how long to keep serving while `/health/ready` answers 503 before the
    /// listener closes, so that load balancers and DNS-based clients stop sending new
    /// requests first (e.g. `5s` behind a Swarm or ALB; 0 stops accepting at once).
    #[arg(long = "drain-delay", env = "PIER_DRAIN_DELAY", default_value = "0s", value_parser = parse_duration, global = true)]
    pub drain_delay: Duration,

    /// Most requests served at once; beyond it requests are answered 503 with
    /// `Retry-After` at once (load shedding) instead of queueing until memory runs out.
    #[arg(long = "max-in-flight", env = "PIER_MAX_IN_FLIGHT", default_value = "4096", value_parser = clap::value_parser!(u32).range(1..=1_000_000), global = true)]
    pub max_in_flight: u32,
}

/// Who may do what: tokens for writes, per-client rate limits, trusted proxies, CORS.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Access")]
pub struct AccessSettings {
    /// Bearer tokens for writes (POST, PUT, PATCH, DELETE): comma-separated, or the path
    /// of a file with one per line (a Swarm or ECS secret). Unset: writes are open.
    /// Checked by [`Settings::api_tokens`], whose errors never echo a token.
    #[arg(long = "api-tokens", env = "PIER_API_TOKENS", value_parser = parse_secret, global = true, hide_env_values = true)]
    pub api_tokens: Option<Secret>,

    // (`std::option::Option` spelled out: clap then hands "off" to the parser, which
    // answers `None`, instead of treating the setting as an optional argument.)
    /// Reads (GET, HEAD) one client may make, as `RATE/s,burst=N` or `RATE/m,burst=N`
    /// (SPEC §2); more are answered 429 with `Retry-After`. `off`: no limit. Health and
    /// metrics are exempt.
    #[arg(long = "rate-limit-reads", env = "PIER_RATE_LIMIT_READS", default_value = "off", value_parser = crate::http::rate_limit::RateBudget::parse, global = true)]
    pub rate_limit_reads: std::option::Option<crate::http::rate_limit::RateBudget>,

    /// Writes (POST, PUT, PATCH, DELETE: uploads, items, predictions) one client may make,
    /// a separate budget in the same form; `off`: no limit.
    #[arg(long = "rate-limit-writes", env = "PIER_RATE_LIMIT_WRITES", default_value = "off", value_parser = crate::http::rate_limit::RateBudget::parse, global = true)]
    pub rate_limit_writes: std::option::Option<crate::http::rate_limit::RateBudget>,

    /// Proxies whose `X-Forwarded-For` is believed, as CIDRs (e.g. the ALB's subnets):
    /// the client is the right-most address not among them. Empty: the TCP peer is the
    /// client and `X-Forwarded-For` is ignored (it can be forged).
    #[arg(long = "trusted-proxies", env = "PIER_TRUSTED_PROXIES", default_value = "", value_parser = parse_cidrs, global = true)]
    pub trusted_proxies: TrustedProxies,

    /// Origins whose pages may call the API from a browser (CORS), comma-separated
    /// (`https://app.example.com`), or `*` for any. Empty: no cross-origin access.
    #[arg(long = "cors-origins", env = "PIER_CORS_ORIGINS", default_value = "", value_parser = parse_origins, global = true)]
    pub cors_origins: CorsOrigins,
}

/// Where logs and traces go.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Telemetry")]
pub struct TelemetrySettings {
    /// Log format; `pretty` on a terminal, `json` otherwise. Level comes from `RUST_LOG`.
    #[arg(
        long = "log-format",
        env = "PIER_LOG_FORMAT",
        value_enum,
        global = true
    )]
    pub log_format: Option<LogFormat>,

    /// OpenTelemetry collector for request spans (OTLP over HTTP, e.g.
    /// `http://127.0.0.1:4318`); spans go to `ENDPOINT/v1/traces`. Unset or empty: off.
    #[arg(long = "otel-exporter-otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT", default_value = "", value_parser = parse_otlp_endpoint, global = true)]
    pub otlp_endpoint: String,

    /// `service.name` of the exported spans.
    #[arg(
        long = "otel-service-name",
        env = "OTEL_SERVICE_NAME",
        default_value = "pier",
        global = true
    )]
    pub otel_service_name: String,
}

/// All settings. Defaults run with no set-up at all (SQLite and images under `./data`).
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Listen address.
    #[arg(long = "addr", env = "PIER_ADDR", default_value = "0.0.0.0:8000", value_parser = parse_addr, global = true)]
    pub addr: SocketAddr,

    /// Where data lives: the SQL database, image bytes, image metadata, the spool.
    #[command(flatten)]
    pub backends: Backends,

    /// What one upload may send, and how uploads share the machine.
    #[command(flatten)]
    pub uploads: UploadSettings,

    /// What decoding an image may cost (uploads are refused past it; thumbnails are held to it).
    #[command(flatten)]
    pub images: ImageSettings,

    /// Limits on JSON bodies and the texts `/predict` scores.
    #[command(flatten)]
    pub bodies: BodyLimits,

    /// How the HTTP server treats connections, slow requests, overload and shutdown.
    #[command(flatten)]
    pub server: ServerSettings,

    /// Who may do what: tokens for writes, per-client rate limits, trusted proxies, CORS.
    #[command(flatten)]
    pub access: AccessSettings,

    /// Where logs and traces go.
    #[command(flatten)]
    pub telemetry: TelemetrySettings,

    /// AWS settings (standard `AWS_*` variables).
    #[command(flatten)]
    pub aws: AwsSettings,
}

impl Settings {
    /// Whether a backend lives across the network (S3, DynamoDB), so uploads need the
    /// spool to survive its outages. Local disk and SQL metadata need none: the SQL
    /// database is required for items anyway, and its outage is a 503.
    pub fn uses_remote_backend(&self) -> bool {
        #[cfg(feature = "aws")]
        return matches!(self.backends.storage, StorageUrl::S3 { .. })
            || matches!(self.backends.metadata, MetadataBackend::DynamoDb { .. });
        #[cfg(not(feature = "aws"))]
        false
    }

    /// Settings for tests and embedding: defaults, listening on an OS-chosen loopback port.
    pub fn for_tests(database: PathBuf, storage: StorageUrl) -> Self {
        let mut settings = <crate::cli::Cli as clap::Parser>::parse_from(["pier"]).settings;
        settings.addr = "127.0.0.1:0".parse().expect("literal address");
        settings.backends.database_url = DatabaseUrl::Sqlite(database);
        settings.backends.storage = storage;
        settings.telemetry.log_format = Some(LogFormat::Json);
        // Off, so a test's objects are exactly what it made; the tests of making ahead
        // turn it on.
        settings.images.make_ahead_queue = 0;
        settings
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn defaults_need_no_setup() {
        let cli = Cli::try_parse_from(["pier"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.settings.addr, "0.0.0.0:8000".parse().unwrap());
        assert_eq!(
            cli.settings.backends.database_url,
            DatabaseUrl::Sqlite("data/pier.db".into())
        );
        assert_eq!(
            cli.settings.backends.storage,
            StorageUrl::File("data/images".into())
        );
        assert_eq!(cli.settings.uploads.max_upload_bytes, 10 * 1024 * 1024);
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (flag, value, name) in [
            ("--addr", "nonsense", "PIER_ADDR"),
            ("--database-url", "mysql://x", "DATABASE_URL"),
            (
                "--database-url",
                "postgres://u@h:notaport/db",
                "DATABASE_URL",
            ),
            ("--storage", "ftp://x", "PIER_STORAGE"),
            ("--max-upload-bytes", "0", "PIER_MAX_UPLOAD_BYTES"),
        ] {
            let error = Cli::try_parse_from(["pier", flag, value])
                .unwrap_err()
                .to_string();
            assert!(error.contains(name), "{error}");
        }
    }

    #[cfg(feature = "aws")]
    #[test]
    fn storage_urls() {
        assert_eq!(
            parse_storage_url("s3://my-bucket/a/b/").unwrap(),
            StorageUrl::S3 {
                bucket: "my-bucket".into(),
                prefix: Some("a/b".into())
            }
        );
        assert_eq!(
            parse_storage_url("s3://my-bucket").unwrap(),
            StorageUrl::S3 {
                bucket: "my-bucket".into(),
                prefix: None
            }
        );
        for bad in [
            "s3://",
            "s3://A",
            "s3://b_/x",
            "s3://bucket/../x",
            "ftp://x",
        ] {
            assert!(parse_storage_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_aws_values_mean_unset() {
        let cli = Cli::try_parse_from([
            "pier",
            "--aws-endpoint-url",
            "",
            "--aws-access-key-id",
            "",
            "--aws-secret-access-key",
            " ",
            "--aws-region",
            "",
        ])
        .unwrap();
        let aws = cli.settings.aws.without_empty_values();
        assert!(aws.endpoint_url.is_none());
        assert!(aws.access_key_id.is_none());
        assert!(aws.secret_access_key.is_none());
        assert_eq!(aws.region, "us-east-1");
        let kept = Cli::try_parse_from(["pier", "--aws-endpoint-url", "http://127.0.0.1:9"])
            .unwrap()
            .settings
            .aws
            .without_empty_values();
        assert_eq!(kept.endpoint_url.as_deref(), Some("http://127.0.0.1:9"));
    }

    #[test]
    fn secrets_never_print() {
        let cli = Cli::try_parse_from(["pier", "--aws-secret-access-key", "hunter2"]).unwrap();
        assert!(!format!("{:?}", cli.settings).contains("hunter2"));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("9999999m").is_err());
    }
}
