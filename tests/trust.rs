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
