//! The `orgd` binary: everything lives in the library, so tests start exactly
//! what production starts.

/// mimalloc rather than glibc's malloc: a request allocates and frees many
/// small objects across two threads, and glibc spent ~13 % of a GET's CPU on
/// it and held on to freed memory after large queries.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    orgd::cli::main()
}
