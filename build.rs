//! Links the binaries as position-dependent executables (`-no-pie`): a PIE applies its
//! relocations at every start, and with tantivy's tables that is about a hundred page
//! faults on each `deliver`, which Exim runs once per message.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
