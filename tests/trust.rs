//! What mailtix trusts outside the store: the config file it reads and the hooks it runs.

use crate::support::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn first_mail(env: &Env) -> Run {
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "Printer", "p@x", "", "It burns.\n"),
    )
}

#[test]
fn a_config_others_can_write_is_refused() {
    for (mode, why) in [(0o666, "world-writable"), (0o664, "group-writable")] {
        let env = Env::new();
        fs::set_permissions(&env.config, fs::Permissions::from_mode(mode)).unwrap();
        let r = first_mail(&env);
        r.deliver_code(75);
        assert!(r.stderr.contains(why), "{mode:o}: {}", r.stderr);
        assert!(!env.store.join("1").exists(), "nothing is filed");
        let c = env.run(&["check"], b"", &[]);
        c.code(1);
        assert!(c.stderr.contains(why), "{}", c.stderr);
        assert_eq!(c.stderr.lines().count(), 1, "{}", c.stderr);
        // Once fixed, the same config is accepted.
        fs::set_permissions(&env.config, fs::Permissions::from_mode(0o644)).unwrap();
        first_mail(&env).deliver_code(0);
    }
}

#[test]
fn a_config_owned_by_another_user_is_refused() {
    let env = Env::new();
    std::os::unix::fs::chown(&env.config, Some(65534), None).unwrap();
    let r = first_mail(&env);
    r.deliver_code(75);
    assert!(r.stderr.contains("owned by uid 65534"), "{}", r.stderr);
    let c = env.run(&["check"], b"", &[]);
    c.code(1);
    assert!(c.stderr.contains("owned by uid 65534"), "{}", c.stderr);
}

#[test]
fn a_config_in_a_directory_anyone_can_write_is_refused() {
    let env = Env::new();
    fs::set_permissions(env.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let r = first_mail(&env);
    r.deliver_code(75);
    assert!(r.stderr.contains("sticky"), "{}", r.stderr);
    // /tmp-style (sticky) is fine: nobody else can replace a file they do not own.
    fs::set_permissions(env.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    first_mail(&env).deliver_code(0);
}

/// True while `pid` is a live process (a zombie that nobody reaped has ended).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let (_, rest) = s.rsplit_once(')')?;
            rest.split_whitespace()
                .next()
                .map(|st| st != "Z" && st != "X")
        })
        .unwrap_or(false)
}

fn read_pid(path: &std::path::Path) -> u32 {
    for _ in 0..1000 {
        if let Ok(s) = fs::read_to_string(path)
            && let Ok(p) = s.trim().parse()
        {
            return p;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("{} never appeared", path.display());
}

fn gone_soon(pid: u32) -> bool {
    for _ in 0..300 {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

#[allow(unsafe_code)]
fn kill(pid: i32) {
    // SAFETY: kill(2) has no memory effects.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0, "kill {pid}");
}

/// Starts a delivery whose hook writes its pids into the env's directory, the way
/// Exim starts the pipe: as the leader of a process group of its own.
fn deliver_with_a_hook(env: &Env) -> std::process::Child {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    let mut cmd = env.deliver_command("support@example.org", "ann@customer.example");
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(env.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().unwrap();
    let mut si = child.stdin.take().unwrap();
    si.write_all(mail("ann@customer.example", "Printer", "hk@x", "", "b\n").as_bytes())
        .unwrap();
    drop(si);
    child
}

fn hook_config(dir: &std::path::Path, command: &str) -> String {
    format!(
        "[[hooks]]\nevent = \"new\"\ncommand = \"cd {}; {command}\"\ntimeout = 120\n",
        dir.display()
    )
}

#[test]
fn a_hook_dies_with_a_deliver_that_exims_timeout_kills() {
    let pre = tempfile::tempdir().unwrap();
    let env = Env::with_config(&hook_config(
        pre.path(),
        "echo $$ > sh.pid; sleep 60 & echo $! > bg.pid; wait",
    ));
    let mut d = deliver_with_a_hook(&env);
    let (sh, bg) = (
        read_pid(&pre.path().join("sh.pid")),
        read_pid(&pre.path().join("bg.pid")),
    );
    assert!(alive(sh) && alive(bg));
    // Exim's pipe transport kills the process group it started.
    kill(-(d.id() as i32));
    d.wait().unwrap();
    assert!(gone_soon(sh), "the hook's shell outlived deliver");
    assert!(gone_soon(bg), "what the hook started outlived deliver");
}

#[test]
fn a_hook_dies_with_a_deliver_killed_alone() {
    let pre = tempfile::tempdir().unwrap();
    let env = Env::with_config(&hook_config(pre.path(), "echo $$ > sh.pid; exec sleep 60"));
    let mut d = deliver_with_a_hook(&env);
    let sh = read_pid(&pre.path().join("sh.pid"));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(alive(sh));
    kill(d.id() as i32);
    d.wait().unwrap();
    assert!(gone_soon(sh), "the hook outlived deliver");
}

#[test]
fn a_hook_out_of_time_is_killed_with_what_it_started() {
    let pre = tempfile::tempdir().unwrap();
    let env = Env::with_config(&format!(
        "[[hooks]]\nevent = \"new\"\ncommand = \"cd {}; sleep 60 & echo $! > bg.pid; wait\"\ntimeout = 1\n",
        pre.path().display()
    ));
    let r = first_mail(&env);
    r.deliver_code(0);
    assert!(r.stderr.contains("killed after 1s"), "{}", r.stderr);
    let bg = read_pid(&pre.path().join("bg.pid"));
    assert!(
        gone_soon(bg),
        "the hook's background process survived its timeout"
    );
}

#[test]
fn the_hooks_of_one_delivery_share_one_time_limit() {
    let hook = "[[hooks]]\nevent = \"new\"\ncommand = \"sleep 30\"\ntimeout = 10\n";
    let env = Env::with_config(&format!("hook_time_limit = 2\n{hook}{hook}{hook}"));
    let start = std::time::Instant::now();
    let r = first_mail(&env);
    let took = start.elapsed();
    r.deliver_code(0);
    assert!(took < std::time::Duration::from_secs(6), "{took:?}");
    let log = env.log();
    assert!(log.contains("killed after 2s"), "{log}");
    assert!(
        log.contains("skipped: the hook time limit is spent"),
        "{log}"
    );
}
