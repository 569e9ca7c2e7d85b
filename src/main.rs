//! The binary: gathers what the outside world gives (arguments, environment, the
//! clock, stdin) and hands it to `mailtix::run`. See the crate doc for the design.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
    ExitCode::from(mailtix::run(mailtix::Inputs {
        args: std::env::args_os().collect(),
        env: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
        cwd,
        #[allow(clippy::disallowed_methods)] // the one place the clock is read
        now: chrono::Utc::now(),
        stdin: &mut std::io::stdin().lock(),
        stdout: &mut std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock()),
        stderr: &mut std::io::stderr().lock(),
    }))
}
