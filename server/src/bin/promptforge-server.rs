//! `promptforge-server`: parses configuration, binds, and serves until
//! interrupted.

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "promptforge-server",
    version,
    about = "The PromptForge sync server"
)]
struct Cli {
    #[command(flatten)]
    config: promptforge_server::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PROMPTFORGE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.config.bind).await?;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    };
    promptforge_server::serve(cli.config, listener, shutdown).await?;
    Ok(())
}
