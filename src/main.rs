use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = clinicstream::config::Cli::parse();
    clinicstream::commands::run(cli).await
}
