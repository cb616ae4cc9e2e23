//! The parsers behind the settings: each turns one environment value into its type,
//! or into the one-line reason start-up stops with.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use super::{CorsOrigins, DatabaseUrl, MetadataBackend, Secret, StorageUrl, TrustedProxies};

/// `https://a.example, https://b.example`, `*`, or empty.
pub(crate) fn parse_origins(value: &str) -> Result<CorsOrigins, String> {
    let parts: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() {
        return Ok(CorsOrigins::None);
    }
    if parts == ["*"] {
        return Ok(CorsOrigins::Any);
    }
    parts
        .iter()
        .map(|origin| {
            let uri: axum::http::Uri = origin
                .parse()
                .map_err(|_| format!("not an origin: {origin}"))?;
            let plain = matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some()
                && uri
                    .path_and_query()
                    .is_none_or(|p| p.as_str() == "/" || p.as_str().is_empty())
                && !origin.ends_with('/');
            if !plain {
                return Err(format!("an origin is SCHEME://HOST[:PORT], got {origin}"));
            }
            axum::http::HeaderValue::from_str(origin)
                .map_err(|_| format!("not an origin: {origin}"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(CorsOrigins::List)
}

/// `10.0.0.0/16, 192.168.1.7` (a bare address is a /32 or /128).
pub(crate) fn parse_cidrs(value: &str) -> Result<TrustedProxies, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("not an IP address or CIDR: {part}"))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(TrustedProxies)
}

pub(crate) fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret(value.to_owned()))
}

pub(crate) fn parse_addr(value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| "PIER_ADDR must be IP:PORT, e.g. 0.0.0.0:8000 or 127.0.0.1:0".to_owned())
}

pub(crate) fn parse_database_url(value: &str) -> Result<DatabaseUrl, String> {
    if let Some(path) = value
        .strip_prefix("sqlite://")
        .or_else(|| value.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(
                "DATABASE_URL sqlite://PATH needs a file path, e.g. sqlite://data/pier.db".into(),
            );
        }
        return Ok(DatabaseUrl::Sqlite(PathBuf::from(path)));
    }
    if value.starts_with("postgres://") || value.starts_with("postgresql://") {
        return parse_postgres_url(value);
    }
    Err("DATABASE_URL must be sqlite://PATH (e.g. sqlite://data/pier.db) or postgres://USER:PASSWORD@HOST:PORT/DB".into())
}

#[cfg(feature = "postgres")]
pub(crate) fn parse_postgres_url(value: &str) -> Result<DatabaseUrl, String> {
    match value.parse::<sqlx::postgres::PgConnectOptions>() {
        Ok(_) => Ok(DatabaseUrl::Postgres(value.to_owned())),
        Err(_) => {
            Err("DATABASE_URL is not a valid postgres://USER:PASSWORD@HOST:PORT/DB URL".into())
        }
    }
}

#[cfg(not(feature = "postgres"))]
pub(crate) fn parse_postgres_url(_value: &str) -> Result<DatabaseUrl, String> {
    Err(missing_feature("DATABASE_URL postgres://", "postgres"))
}

/// The refusal of a backend this build left out (`cargo build --no-default-features`,
/// as the fuzz targets are built), so the setting names what to rebuild with.
#[cfg(any(not(feature = "postgres"), not(feature = "aws")))]
pub(crate) fn missing_feature(setting: &str, feature: &str) -> String {
    format!("{setting} needs a pier built with the cargo feature `{feature}` (on by default)")
}

pub(crate) fn parse_storage_url(value: &str) -> Result<StorageUrl, String> {
    if value == "memory://" || value == "memory:" {
        return Ok(StorageUrl::Memory);
    }
    if let Some(dir) = value.strip_prefix("file://") {
        if dir.is_empty() {
            return Err(
                "PIER_STORAGE file://DIR needs a directory, e.g. file://data/images".into(),
            );
        }
        return Ok(StorageUrl::File(PathBuf::from(dir)));
    }
    if let Some(rest) = value.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err("PIER_STORAGE s3://BUCKET[/PREFIX] needs a valid bucket name (3-63 of a-z, 0-9, '-', '.')".into());
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|part| part == "." || part == "..") {
            return Err("PIER_STORAGE s3:// prefix must not contain . or .. segments".into());
        }
        #[cfg(feature = "aws")]
        return Ok(StorageUrl::S3 {
            bucket: bucket.to_owned(),
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
        });
        #[cfg(not(feature = "aws"))]
        return Err(missing_feature("PIER_STORAGE s3://", "aws"));
    }
    Err("PIER_STORAGE must be file://DIR, s3://BUCKET[/PREFIX] or memory://".into())
}

pub(crate) fn parse_metadata(value: &str) -> Result<MetadataBackend, String> {
    if value == "database" {
        return Ok(MetadataBackend::Database);
    }
    if let Some(table) = value.strip_prefix("dynamodb://") {
        let valid = (3..=255).contains(&table.len())
            && table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !valid {
            return Err("PIER_METADATA dynamodb://TABLE needs a valid table name (3-255 of A-Z, a-z, 0-9, '_', '-', '.')".into());
        }
        #[cfg(feature = "aws")]
        return Ok(MetadataBackend::DynamoDb {
            table: table.to_owned(),
        });
        #[cfg(not(feature = "aws"))]
        return Err(missing_feature("PIER_METADATA dynamodb://", "aws"));
    }
    Err("PIER_METADATA must be `database` or dynamodb://TABLE".into())
}

pub(crate) fn parse_max_upload(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if (1..=1 << 30).contains(&n) => Ok(n),
        _ => {
            Err("PIER_MAX_UPLOAD_BYTES must be a whole number of bytes from 1 to 1073741824".into())
        }
    }
}

/// An `http://host:port[/path]` collector address, or empty (export off). `https` is
/// refused with a reason: pier sends spans to a collector next to it (a sidecar or a
/// node agent), which handles TLS and authentication to the tracing backend.
pub(crate) fn parse_otlp_endpoint(value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(String::new());
    }
    let uri: axum::http::Uri = value.parse().map_err(|_| format!("not a URL: {value}"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http"), Some(_)) if uri.query().is_none() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        (Some("https"), _) => Err(
            "https is not supported: point it at an OpenTelemetry collector on the local network (http://HOST:4318)"
                .into(),
        ),
        _ => Err(format!("want http://HOST:PORT, got {value}")),
    }
}

/// Parses `1500ms`, `30s`, `2m` or a bare number of seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let error = || format!("`{value}` is not a duration; use e.g. 500ms, 30s or 2m");
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(index) => value.split_at(index),
        None => (value, "s"),
    };
    let amount: u64 = digits.parse().map_err(|_| error())?;
    let duration = match unit {
        "ms" => Duration::from_millis(amount),
        "s" => Duration::from_secs(amount),
        "m" => Duration::from_secs(amount.checked_mul(60).ok_or_else(error)?),
        _ => return Err(error()),
    };
    if duration > Duration::from_secs(24 * 3600) {
        return Err(format!("`{value}` is longer than a day"));
    }
    Ok(duration)
}

/// Parses the spool lease: a duration of at least [`crate::store::spool::MIN_LEASE`]
/// (renewed every quarter of it, so it always spans more than three renewals).
pub fn parse_spool_lease(value: &str) -> Result<Duration, String> {
    let lease = parse_duration(value)?;
    if lease < crate::store::spool::MIN_LEASE {
        return Err(format!(
            "`{value}` is shorter than {:?}",
            crate::store::spool::MIN_LEASE
        ));
    }
    Ok(lease)
}
