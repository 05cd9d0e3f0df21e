//! The `orgd` binary: everything lives in the library, so tests start exactly
//! what production starts.

fn main() -> std::process::ExitCode {
    orgd::cli::main()
}
