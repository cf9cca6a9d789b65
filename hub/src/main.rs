use clap::Parser;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    let cli = vivres::cli::Cli::parse();
    vivres::cli::init_tracing(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(vivres::cli::run(cli));
    // A task the shutdown grace gave up on (a plugin blocked in the host)
    // must not keep the process alive: leave it behind after a second.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match outcome {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

/// glibc gives each thread that allocates its own malloc arena; with wasmtime,
/// tokio and SQLite threads that is most of the hub's resident memory. Two
/// arenas cost nothing measurable in throughput.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
