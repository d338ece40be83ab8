//! `promptforge-server`: parses configuration, binds, and serves until
//! interrupted.

use clap::{Parser, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "promptforge-server",
    version,
    about = "The PromptForge sync server"
)]
struct Cli {
    #[command(flatten)]
    config: promptforge_server::Config,
    /// Log lines as text for a terminal, or as one JSON object each for a
    /// log collector. The level comes from PROMPTFORGE_LOG (default info).
    #[arg(long, env = "PROMPTFORGE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("PROMPTFORGE_LOG")
        .unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let listener = tokio::net::TcpListener::bind(cli.config.bind).await?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    promptforge_server::serve(cli.config, listener, shutdown).await?;
    Ok(())
}
