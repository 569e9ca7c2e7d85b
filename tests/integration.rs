//! All integration tests, one binary (as ripgrep and just do).

mod support;

mod admin;
mod deliver;
mod e2e;
mod golden;
mod loops;
mod properties;
mod realmail;
mod reliability;
mod security;
