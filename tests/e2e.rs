//! The end-to-end suites with the real programs: Exim (SMTP with swaks) and mutt (in
//! tmux). They need exim4-daemon-light, swaks, mutt and tmux, which `tests/run.sh`
//! installs; a missing tool fails the test with its name, it never skips.

use std::path::Path;
use std::process::Command;

fn run_script(name: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e")
        .join(name);
    let out = Command::new("bash")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_mailtix"))
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{name} failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("all passed"),
        "{name} did not finish:\n{stdout}"
    );
}

#[test]
fn exim_end_to_end() {
    run_script("exim.sh");
}

#[test]
fn mutt_end_to_end() {
    run_script("mutt.sh");
}

#[test]
fn mutt_search_macro_end_to_end() {
    run_script("search-mutt.sh");
}
