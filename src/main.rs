//! The `i2i` binary: parses the command line and hands over to [`i2i::cli`].

fn main() -> std::process::ExitCode {
    i2i::cli::main()
}
