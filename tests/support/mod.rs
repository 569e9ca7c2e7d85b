//! The test harness: a temp store, a config, a sendmail stand-in that captures what
//! would be sent, and the real `mailtix` binary.

#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_mailtix");
pub const ADMIN: &str = "boss@admin.example";

/// One run of the binary.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code and, for deliver, SPEC's output rule: stdout silent, one
    /// line on stderr.
    pub fn deliver_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code; stderr: {}", self.stderr);
        assert_eq!(self.stdout, "", "deliver must keep stdout silent");
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "one stderr line: {:?}",
            self.stderr
        );
        assert!(self.stderr.ends_with('\n'));
        self
    }

    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
}

/// A mail the sendmail stand-in received.
#[derive(Debug, Clone)]
pub struct Sent {
    pub args: Vec<String>,
    pub raw: String,
}

impl Sent {
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        let mut out: Option<String> = None;
        let mut current = false;
        for line in head.split("\r\n") {
            if line.starts_with(' ') || line.starts_with('\t') {
                if current && let Some(o) = out.as_mut() {
                    o.push_str(line);
                }
                continue;
            }
            current = false;
            if let Some((n, v)) = line.split_once(':')
                && n.eq_ignore_ascii_case(name)
                && out.is_none()
            {
                out = Some(v.trim().to_string());
                current = true;
            }
        }
        out
    }

    pub fn rcpts(&self) -> Vec<String> {
        let dd = self
            .args
            .iter()
            .position(|a| a == "--")
            .expect("-- in sendmail args");
        self.args[dd + 1..].to_vec()
    }

    pub fn envelope_from(&self) -> Option<String> {
        let f = self.args.iter().position(|a| a == "-f")?;
        self.args.get(f + 1).cloned()
    }
}

/// One `mailtix deliver` run: the one place the tests spell its command line.
pub struct Delivery<'e> {
    env: &'e Env,
    rcpt: Option<String>,
    sender: Option<String>,
    stdin: Vec<u8>,
    vars: Vec<(String, String)>,
}

impl Delivery<'_> {
    /// `--recipient`.
    pub fn to(mut self, rcpt: &str) -> Self {
        self.rcpt = Some(rcpt.to_string());
        self
    }

    /// `--sender`.
    pub fn from(mut self, sender: &str) -> Self {
        self.sender = Some(sender.to_string());
        self
    }

    /// The message on stdin.
    pub fn stdin(mut self, message: impl AsRef<[u8]>) -> Self {
        self.stdin = message.as_ref().to_vec();
        self
    }

    /// Environment variables, as Exim's pipe transport sets them.
    pub fn vars(mut self, vars: &[(&str, &str)]) -> Self {
        self.vars
            .extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// The command, not yet run (for tests that spawn it themselves).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(&self.env.config).arg("deliver");
        if let Some(r) = &self.rcpt {
            cmd.args(["--recipient", r]);
        }
        if let Some(s) = &self.sender {
            cmd.args(["--sender", s]);
        }
        cmd
    }

    pub fn run(self) -> Run {
        let vars: Vec<(&str, &str)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.env.spawn(self.command(), &self.stdin, &vars)
    }
}

/// A temp store with a config.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub store: PathBuf,
    pub config: PathBuf,
    pub capture: PathBuf,
    pub extra_env: Vec<(String, String)>,
}

impl Env {
    pub fn new() -> Env {
        Self::with_config("")
    }

    /// A config whose store root is not made yet, as before `mailtix init`.
    pub fn without_store() -> Env {
        let env = Self::new();
        fs::remove_dir(&env.store).unwrap();
        env
    }

    /// `extra` is added to the top level of the config.
    pub fn with_config(extra: &str) -> Env {
        Self::with_config_and_mail(extra, None)
    }

    pub fn with_config_and_mail(extra: &str, mail: Option<&str>) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("tickets");
        // The operator makes the store directory; mailtix sets up its inside.
        fs::create_dir(&store).unwrap();
        fs::set_permissions(&store, fs::Permissions::from_mode(0o770)).unwrap();
        let capture = dir.path().join("sent");
        fs::create_dir(&capture).unwrap();
        let script = dir.path().join("sendmail");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\nf=$(mktemp {cap}/mail.XXXXXX)\nprintf '%s\\n' \"$@\" > \"$f.args\"\ncat > \"$f.eml\"\nrm -f \"$f\"\n",
                cap = capture.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let mail = mail.map(str::to_string).unwrap_or_else(|| {
            format!(
                "transport = \"sendmail\"\nsendmail = \"{}\"",
                script.display()
            )
        });
        let config = dir.path().join("config.toml");
        fs::write(
            &config,
            format!(
                "store = \"tickets\"\ndomain = \"example.org\"\nadmins = [\"{ADMIN}\"]\n{timeout}{extra}\n[mail]\n{mail}\n",
                timeout = if extra.contains("lock_timeout") { "" } else { "lock_timeout = 1\n" },
            ),
        )
        .unwrap();
        Env {
            dir,
            store,
            config,
            capture,
            extra_env: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs the binary with `--config` and the given stdin.
    pub fn run(&self, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(&self.config).args(args);
        self.spawn(cmd, stdin, env)
    }

    /// Runs the binary exactly as given (no --config).
    pub fn spawn(&self, mut cmd: Command, stdin: &[u8], env: &[(&str, &str)]) -> Run {
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .current_dir(self.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        {
            let mut si = child.stdin.take().unwrap();
            let _ = si.write_all(stdin);
        }
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The real binary set up for `deliver` with this env's config, not yet spawned.
    pub fn deliver_command(&self, rcpt: &str, sender: &str) -> Command {
        self.delivery().to(rcpt).from(sender).command()
    }

    /// `deliver --recipient RCPT --sender SENDER`.
    pub fn deliver(&self, rcpt: &str, sender: &str, msg: &str) -> Run {
        self.delivery().to(rcpt).from(sender).stdin(msg).run()
    }

    /// A delivery built step by step, as a reader would say it:
    /// `env.delivery().to("support@…").from("ann@…").stdin(mail).run().deliver_code(0)`.
    pub fn delivery(&self) -> Delivery<'_> {
        Delivery {
            env: self,
            rcpt: None,
            sender: None,
            stdin: Vec::new(),
            vars: Vec::new(),
        }
    }

    pub fn ticket(&self, id: u32) -> Vec<u8> {
        fs::read(self.store.join(id.to_string())).unwrap()
    }

    pub fn ticket_text(&self, id: u32) -> String {
        String::from_utf8_lossy(&self.ticket(id)).into_owned()
    }

    pub fn archived(&self, id: u32) -> Option<Vec<u8>> {
        fs::read(self.store.join("archived").join(id.to_string())).ok()
    }

    pub fn is_open(&self, id: u32) -> bool {
        self.store.join(id.to_string()).is_file()
    }

    pub fn is_closed(&self, id: u32) -> bool {
        self.store.join("archived").join(id.to_string()).is_file()
    }

    /// The number of messages in ticket `id` (open or closed), by counting From_ lines.
    pub fn count(&self, id: u32) -> usize {
        let data = fs::read(self.store.join(id.to_string()))
            .or_else(|_| fs::read(self.store.join("archived").join(id.to_string())))
            .unwrap();
        mailtix::mbox::read(&data).unwrap().len()
    }

    /// Everything the sendmail stand-in captured, oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.capture)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort_by_key(|p| fs::metadata(p).and_then(|m| m.modified()).ok());
        files
            .into_iter()
            .map(|p| Sent {
                raw: fs::read_to_string(&p).unwrap(),
                args: fs::read_to_string(p.with_extension("args"))
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect(),
            })
            .collect()
    }

    pub fn clear_sent(&self) {
        for e in fs::read_dir(&self.capture).unwrap() {
            fs::remove_file(e.unwrap().path()).unwrap();
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.store.join(".mailtix/log")).unwrap_or_default()
    }
}

/// A simple message.
pub fn mail(from: &str, subject: &str, mid: &str, extra: &str, body: &str) -> String {
    format!(
        "From: {from}\nTo: support@example.org\nSubject: {subject}\nDate: Sun, 22 Nov 2026 09:15:00 +0100\nMessage-ID: <{mid}>\n{extra}\n{body}"
    )
}

pub fn fixture(name: &str) -> Vec<u8> {
    fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// A loopback SMTP sink: accepts everything, records each transaction's RCPT lines
/// and DATA. Stopped when dropped (the listener thread ends with the test process).
/// What the sink received: each transaction's RCPT lines and its DATA.
pub type Transactions = std::sync::Arc<std::sync::Mutex<Vec<(Vec<String>, String)>>>;

pub struct SmtpSink {
    pub port: u16,
    pub transactions: Transactions,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let transactions: Transactions = Default::default();
        let t = transactions.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let mut w = stream.try_clone().unwrap();
                let mut r = BufReader::new(stream);
                let _ = w.write_all(b"220 sink ESMTP\r\n");
                let mut rcpts = Vec::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let upper = line.to_ascii_uppercase();
                    if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        let _ = w.write_all(b"250-sink\r\n250 8BITMIME\r\n");
                    } else if upper.starts_with("RCPT") {
                        rcpts.push(line.trim_end().to_string());
                        let _ = w.write_all(b"250 ok\r\n");
                    } else if upper.starts_with("DATA") {
                        let _ = w.write_all(b"354 go\r\n");
                        let mut data = String::new();
                        loop {
                            let mut l = String::new();
                            if r.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                                break;
                            }
                            data.push_str(&l);
                        }
                        t.lock().unwrap().push((std::mem::take(&mut rcpts), data));
                        let _ = w.write_all(b"250 queued\r\n");
                    } else if upper.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        break;
                    } else {
                        let _ = w.write_all(b"250 ok\r\n");
                    }
                }
            }
        });
        SmtpSink { port, transactions }
    }
}

/// Counts the messages in an mbox file as Python's `mailbox` module sees them.
pub fn python_count(path: &Path) -> usize {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import mailbox,sys; print(len(mailbox.mbox(sys.argv[1], create=False)))")
        .arg(path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Fails with the tool's name when a tool the test needs is missing (never skips).
pub fn need(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{tool} is not installed: tests/run.sh installs it");
}
