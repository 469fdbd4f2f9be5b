use clap::Parser;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    genfab::cli::run(genfab::cli::Cli::parse()).await
}
