//! `i2i-bench`: benchmark tooling. For now it writes the deterministic synthetic corpus
//! (`generate`) in the import format; the measuring harness grows here.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use i2i::corpus::{generate, CorpusSpec};

#[derive(Debug, Parser)]
#[command(name = "i2i-bench", about = "Benchmark tooling for i2i")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a seeded synthetic corpus as JSON lines (the `i2i import` format).
    Generate {
        #[arg(long, default_value_t = 1_000_000)]
        posts: usize,
        #[arg(long, default_value_t = 2041)]
        seed: u64,
        #[arg(long, short)]
        out: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Generate { posts, seed, out } => {
            let mut writer = BufWriter::new(std::fs::File::create(&out)?);
            let spec = CorpusSpec { seed, ..CorpusSpec::with_posts(posts) };
            let mut failure = None;
            let truth = generate(&spec, |line| {
                if failure.is_none() {
                    let written = serde_json::to_writer(&mut writer, &line).map_err(anyhow::Error::from);
                    let newline = written.and_then(|()| writer.write_all(b"\n").map_err(anyhow::Error::from));
                    failure = newline.err();
                }
            });
            if let Some(err) = failure {
                return Err(err);
            }
            writer.flush()?;
            println!("wrote {posts} posts to {}", out.display());
            println!("bursts (last day): {}", truth.bursts.join(" "));
            println!("recurring (whole range): {}", truth.recurring.join(" "));
            Ok(())
        }
    }
}
