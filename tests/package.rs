//! What the Debian package installs from the binary itself: man pages, shell
//! completions that offer ticket numbers, and `init`, which creates a store and never
//! touches one that exists.

use crate::support::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

fn with_tickets() -> Env {
    let env = Env::new();
    for i in 1..=3 {
        env.deliver(
            "support@example.org",
            "ann@customer.example",
            &mail(
                "ann@customer.example",
                &format!("p{i}"),
                &format!("p{i}@x"),
                "",
                "x\n",
            ),
        )
        .deliver_code(0);
    }
    env.run(&["close", "2"], b"", &[]).code(0);
    env
}

#[test]
fn man_writes_a_page_for_mailtix_and_each_command_but_not_the_hidden_ones() {
    let env = Env::new();
    let dir = env.path().join("man");
    env.run(&["man", dir.to_str().unwrap()], b"", &[]).code(0);
    for page in [
        "mailtix.1",
        "mailtix-deliver.1",
        "mailtix-show.1",
        "mailtix-upgrade.1",
        "mailtix-init.1",
    ] {
        let text = fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie \\n(.g .ds Aq") || text.contains(".TH"),
            "{page} is not roff"
        );
    }
    let main = fs::read_to_string(dir.join("mailtix.1")).unwrap();
    assert!(
        main.contains("deliver") && main.contains("archive"),
        "mailtix.1 lists the commands"
    );
    for hidden in ["mailtix-man.1", "mailtix-completions.1", "mailtix-__ids.1"] {
        assert!(!dir.join(hidden).exists(), "{hidden} was written");
    }
    need("man");
    let out = Command::new("man")
        .arg("-l")
        .arg(dir.join("mailtix-show.1"))
        .env("MANPAGER", "cat")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Ticket number"),
        "man renders the page"
    );
}

#[test]
fn ids_lists_open_closed_or_all_tickets() {
    let env = with_tickets();
    let ids = |args: &[&str]| {
        let mut a = vec!["__ids"];
        a.extend_from_slice(args);
        let r = env.run(&a, b"", &[]);
        r.code(0);
        r.stdout
    };
    assert_eq!(ids(&[]), "1\n3\n");
    assert_eq!(ids(&["--closed"]), "2\n");
    assert_eq!(ids(&["--all"]), "1\n2\n3\n");
}

/// Completes `mailtix ARGS<TAB>` with the bash script and returns the candidates.
fn bash_complete(env: &Env, words: &[&str]) -> String {
    let script = env.path().join("mailtix.bash");
    let script_run = env.run(&["completions", "bash"], b"", &[]);
    script_run.code(0);
    fs::write(&script, &script_run.stdout).unwrap();
    let bindir = env.path().join("bin");
    fs::create_dir_all(&bindir).unwrap();
    let _ = fs::remove_file(bindir.join("mailtix"));
    std::os::unix::fs::symlink(BIN, bindir.join("mailtix")).unwrap();
    let words_q: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        "source '{}'; COMP_WORDS=(mailtix {}); COMP_CWORD={}; _mailtix_with_ids mailtix '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words_q.join(" "),
        words.len(),
        words.last().unwrap(),
        if words.len() > 1 {
            words[words.len() - 2]
        } else {
            "mailtix"
        },
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(prog)
        .env("PATH", format!("{}:/usr/bin:/bin", bindir.display()))
        .env("MAILTIX_CONFIG", &env.config)
        .current_dir(env.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bash_completion_offers_ticket_numbers_and_commands() {
    let env = with_tickets();
    assert_eq!(bash_complete(&env, &["close", ""]), "1\n3\n");
    assert_eq!(bash_complete(&env, &["reopen", ""]), "2\n");
    assert_eq!(bash_complete(&env, &["show", ""]), "1\n2\n3\n");
    assert!(
        bash_complete(&env, &["show", "--"])
            .lines()
            .any(|l| l == "--raw")
    );
    assert_eq!(bash_complete(&env, &["upg"]), "upgrade\n");
    assert_eq!(
        bash_complete(&env, &["__"]),
        "\n",
        "the hidden __ids is offered"
    );
    assert_eq!(
        bash_complete(&env, &["ma"]),
        "\n",
        "the hidden man is offered"
    );
}

#[test]
fn zsh_and_fish_completions_ask_the_store_for_ticket_numbers() {
    let env = Env::new();
    let zsh = env.run(&["completions", "zsh"], b"", &[]);
    zsh.code(0);
    assert!(zsh.stdout.contains("':id -- Ticket number:_mailtix_ids'"));
    let def = zsh
        .stdout
        .find("_mailtix_ids() {")
        .expect("the zsh id function");
    let run = zsh
        .stdout
        .rfind("_mailtix \"$@\"")
        .expect("the zsh entry point");
    assert!(
        def < run,
        "_mailtix_ids is defined after the completion runs"
    );
    let fish = env.run(&["completions", "fish"], b"", &[]);
    fish.code(0);
    for hidden in ["__ids", "man", "completions"] {
        for script in [&zsh.stdout, &fish.stdout] {
            assert!(
                !script.contains(&format!("\"{hidden}\" -d"))
                    && !script.contains(&format!("'{hidden}:")),
                "the hidden {hidden} is offered"
            );
        }
    }
    assert!(fish.stdout.contains(
        "complete -c mailtix -n '__fish_seen_subcommand_from reopen' -f -a '(mailtix __ids --closed 2>/dev/null)'"
    ));
}

/// Every directory of a store, the root first.
const STORE_DIRS: [&str; 8] = [
    "",
    "archived",
    ".mailtix",
    ".mailtix/index",
    ".mailtix/pending",
    ".mailtix/tmp",
    ".mailtix/acks.d",
    ".mailtix/bounces.d",
];

#[test]
fn init_creates_the_store_2770_with_archived_and_format_1() {
    let env = Env::without_store();
    let r = env.run(&["init"], b"", &[]);
    r.code(0);
    assert!(r.stdout.contains("created store"), "{}", r.stdout);
    for d in STORE_DIRS {
        let m = fs::metadata(env.store.join(d)).unwrap();
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o7777, 0o2770, "{d:?}");
    }
    assert_eq!(
        fs::read_to_string(env.store.join(".mailtix/format")).unwrap(),
        "1\n"
    );
    let f = fs::metadata(env.store.join(".mailtix/format")).unwrap();
    assert_eq!(
        f.permissions().mode() & 0o777,
        0o660,
        "the format file's mode"
    );
    env.run(&["check"], b"", &[]).code(0);
    env.deliver(
        "support@example.org",
        "ann@customer.example",
        &mail("ann@customer.example", "first", "first@x", "", "x\n"),
    )
    .deliver_code(0);
}

#[test]
fn init_gives_the_store_to_the_named_user_and_group() {
    let env = Env::without_store();
    // Tests run as root in CI; elsewhere chown to another user is refused.
    let r = env.run(&["init", "--user", "mail", "--group", "mail"], b"", &[]);
    if unsafe_is_root() {
        r.code(0);
        let (uid, gid) = ids_of("mail");
        for d in STORE_DIRS {
            let m = fs::metadata(env.store.join(d)).unwrap();
            assert_eq!((m.uid(), m.gid()), (uid, gid), "{d:?}");
        }
        let f = fs::metadata(env.store.join(".mailtix/format")).unwrap();
        assert_eq!((f.uid(), f.gid()), (uid, gid));
    } else {
        r.code(1);
    }
    let other = Env::without_store();
    let bad = other.run(&["init", "--user", "no-such-user-mailtix"], b"", &[]);
    bad.code(1);
    assert!(bad.stderr.contains("no such user"), "{}", bad.stderr);
    assert!(!other.store.exists(), "a failed init left a store behind");
}

fn unsafe_is_root() -> bool {
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn ids_of(user: &str) -> (u32, u32) {
    let out = Command::new("id").arg("-u").arg(user).output().unwrap();
    let uid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let out = Command::new("id").arg("-g").arg(user).output().unwrap();
    let gid = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    (uid, gid)
}

#[test]
fn init_never_touches_an_existing_store() {
    let env = with_tickets();
    fs::set_permissions(&env.store, fs::Permissions::from_mode(0o750)).unwrap();
    let before = env.ticket(1);
    let r = env.run(&["init", "--user", "mail", "--group", "mail"], b"", &[]);
    r.code(0);
    assert!(r.stdout.contains("exists; left as it is"), "{}", r.stdout);
    let m = fs::metadata(&env.store).unwrap();
    assert_eq!(
        m.permissions().mode() & 0o7777,
        0o750,
        "init changed the mode"
    );
    assert!(
        !env.store.join(".mailtix/format").exists(),
        "init stamped an existing store"
    );
    assert_eq!(env.ticket(1), before);
}
