//! The `campaign` binary: the library's `cli::main`.

fn main() -> std::process::ExitCode {
    campaign::cli::main()
}
