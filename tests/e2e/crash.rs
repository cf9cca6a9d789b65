//! The crash campaign, bounded for CI: `vivres bench crash` SIGKILLs a sync
//! at 20 random moments, resumes each time, then compares the warehouse row
//! by row with a clean sync (`--kills 100` by hand: see the README's
//! reliability section). On the backend `VIVRES_TEST_DATABASE_URL` names.

use vivres::warehouse::testing::VAR;

#[test]
fn twenty_kills_lose_nothing_and_duplicate_nothing() {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vivres"));
    cmd.args([
        "bench",
        "crash",
        "--kills",
        "20",
        "--records",
        "3000",
        "--seed",
        "20261201",
    ]);
    if let Ok(url) = std::env::var(VAR)
        && url.starts_with("postgres")
    {
        cmd.args(["--database", &url]);
    }
    let out = cmd.output().expect("vivres runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the campaign failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("result          0 lost, 0 duplicated (20 kills landed"),
        "{stdout}"
    );
    // Every fact table the source fills was compared, and was not empty.
    for table in ["households", "distributions"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(table))
            .unwrap_or_else(|| panic!("no line for {table}:\n{stdout}"));
        assert!(
            line.contains("lost 0, duplicated 0, extra 0, stale 0"),
            "{line}"
        );
    }
}
