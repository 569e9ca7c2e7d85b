#!/bin/sh
# Builds target/debian/mailtix_VERSION-1_ARCH.deb: the release binary, then the man
# pages and shell completions that binary writes from its own command line (so they
# always match --help), then the package with cargo-deb.
set -eu
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null 2>&1 || { echo "debian/build.sh: cargo-deb is missing: cargo install --locked cargo-deb" >&2; exit 1; }
cargo build --release --locked
bin=target/release/mailtix
rm -rf target/assets
mkdir -p target/assets/completions
"$bin" man target/assets/man >/dev/null
"$bin" completions bash >target/assets/completions/mailtix
"$bin" completions zsh >target/assets/completions/_mailtix
"$bin" completions fish >target/assets/completions/mailtix.fish
cargo deb --no-build "$@"
