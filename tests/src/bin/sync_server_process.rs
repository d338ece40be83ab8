//! The sync server as a separate process, for tests that kill it with
//! SIGKILL. It takes the same flags as `promptforge-server`.

use clap::Parser;

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    config: promptforge_server::Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.config.bind).await?;
    promptforge_server::serve(cli.config, listener, std::future::pending()).await?;
    Ok(())
}
