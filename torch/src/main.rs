//! `genolm-torch`: the model commands of genolm. Usually reached through `genolm <command>`.

mod info;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "genolm-torch",
    version,
    about = "genolm model commands (libtorch)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the build, libtorch and device.
    Info(info::InfoArgs),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info(args) => info::run(args),
    };
    if let Err(e) = result {
        eprintln!("genolm: error: {e:#}");
        std::process::exit(1);
    }
}
