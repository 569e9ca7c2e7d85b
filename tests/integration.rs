//! All integration tests, one binary (as ripgrep and just do).

// The support module shares its helpers with the test modules through `pub`.
#![allow(unreachable_pub)]

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
mod queues;
mod realmail;
mod reliability;
mod search;
mod security;
mod trust;
