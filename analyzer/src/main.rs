//! `analyze`: a thin shell over [`analyzer::cli`].

fn main() -> std::process::ExitCode {
    analyzer::cli::main()
}
