//! The `pier` command line: `serve` (the default), `migrate`, `migrate-store` and
//! `healthcheck`. `main.rs` only parses it and starts the runtime.

pub mod healthcheck;
pub mod migrate_store;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{
    config::{Settings, StorageUrl, parse_storage_url},
    startup::{self, Application},
    telemetry,
};

/// The command line of the `pier` binary.
#[derive(Debug, Parser)]
#[command(
    name = "pier",
    version,
    about = "Image gallery, items catalogue and sentiment model over one small, fast binary"
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings shared by every subcommand.
    #[command(flatten)]
    pub settings: Settings,
}

/// Subcommands of `pier`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations if needed, then serve HTTP (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Copy every image and thumbnail from one store to another (resumable, verified).
    MigrateStore {
        /// The store to copy from: `file://DIR`, `s3://BUCKET[/PREFIX]` or `memory://`.
        #[arg(long, value_parser = parse_storage_url)]
        from: StorageUrl,
        /// The store to copy to.
        #[arg(long, value_parser = parse_storage_url)]
        to: StorageUrl,
    },
    /// Work on the stored images.
    Images {
        #[command(subcommand)]
        action: ImagesCommand,
    },
    /// Exit 0 if `/health` answers 200; for container HEALTHCHECKs in images without curl.
    Healthcheck {
        /// URL of the health endpoint; defaults to `/health` on the port of `PIER_ADDR`.
        #[arg(long, env = "PIER_HEALTHCHECK_URL")]
        url: Option<String>,
    },
}

/// `pier images …`.
#[derive(Debug, Subcommand)]
pub enum ImagesCommand {
    /// Bring images stored by an earlier pier up to date: the metadata policy
    /// (PIER_IMAGE_METADATA) applied to their bytes, displayed size from the EXIF
    /// orientation, upright thumbnail, placeholder (resumable, safe on a live system;
    /// run `pier images migrate-objects` first).
    Reprocess,
    /// Move images stored under their id (by an earlier pier) to content-addressed
    /// objects, shared by images with the same bytes (resumable, safe on a live system).
    MigrateObjects,
}

/// Runs one subcommand to its end; the exit code says how it went.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            telemetry::init_logging(cli.settings.telemetry.log_format);
            if !cli.settings.telemetry.otlp_endpoint.is_empty() {
                telemetry::otlp::start(
                    &cli.settings.telemetry.otlp_endpoint,
                    &cli.settings.telemetry.otel_service_name,
                )?;
            }
            let app = Application::build(&cli.settings).await?;
            tracing::info!(addr = %cli.settings.addr, port = app.port(), version = env!("CARGO_PKG_VERSION"), "pier is serving");
            app.run_until_stopped().await?;
            telemetry::otlp::flush().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            telemetry::init_logging(cli.settings.telemetry.log_format);
            let database = startup::open_database(&cli.settings).await?;
            database.migrate().await?;
            #[cfg(feature = "aws")]
            if let crate::config::MetadataBackend::DynamoDb { table } =
                &cli.settings.backends.metadata
            {
                crate::store::dynamo::DynamoMeta::connect(table, &cli.settings.aws)
                    .await
                    .migrate()
                    .await?;
            }
            tracing::info!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { url } => Ok(healthcheck::run(&cli.settings, url).await),
        Command::Images {
            action: ImagesCommand::MigrateObjects,
        } => {
            telemetry::init_logging(cli.settings.telemetry.log_format);
            let mut settings = cli.settings.clone();
            settings.addr = "127.0.0.1:0".parse()?;
            let app = Application::build(&settings).await?;
            let gallery = &app.context().gallery;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} images {elapsed_precise}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let summary = crate::store::objects::migrate(
                gallery.metadata().as_ref(),
                gallery.blobs(),
                |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                },
            )
            .await?;
            bar.finish();
            println!(
                "moved {} images to content-addressed objects ({} already there; {} references counted)",
                summary.promoted, summary.already, summary.counted
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Images {
            action: ImagesCommand::Reprocess,
        } => {
            telemetry::init_logging(cli.settings.telemetry.log_format);
            let mut settings = cli.settings.clone();
            // The gallery of a serving pier, without serving: no port of its own.
            settings.addr = "127.0.0.1:0".parse()?;
            let app = Application::build(&settings).await?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} images {elapsed_precise}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let summary = app
                .context()
                .gallery
                .reprocess_all(|done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })
                .await?;
            bar.finish();
            println!(
                "reprocessed {} images, applied the metadata policy to {}; {} already up to date or gone, {} undecodable",
                summary.updated, summary.stripped, summary.skipped, summary.undecodable
            );
            if summary.not_content_addressed > 0 {
                println!(
                    "{} images are still stored under their id: run `pier images migrate-objects`, then reprocess again to apply the metadata policy to them",
                    summary.not_content_addressed
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::MigrateStore { from, to } => {
            let source = crate::store::Blobs::open(&from, &cli.settings.aws)?;
            let destination = crate::store::Blobs::open(&to, &cli.settings.aws)?;
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} objects {elapsed_precise}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let summary = migrate_store::copy_store(&source, &destination, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish();
            println!(
                "copied {} objects ({} bytes), {} already there, {} damaged copies replaced",
                summary.copied, summary.bytes, summary.skipped, summary.repaired
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
