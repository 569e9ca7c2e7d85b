//! All integration tests, one binary (as ripgrep and just do).

mod support;

mod admin;
mod bounce_reports;
mod crash;
mod deliver;
mod e2e;
mod format;
mod golden;
mod html;
mod loops;
mod ops;
mod package;
mod properties;
mod realmail;
mod reliability;
mod security;
mod trust;
