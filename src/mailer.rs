//! The one place mail leaves mailtix, in the style of lettre's `Transport`: sendmail in
//! production, a file outbox for the quickstart and tests, SMTP to a local MTA.

use crate::config::Transport;
use lettre::address::Envelope;
use lettre::{FileTransport, SendmailTransport, SmtpTransport, Transport as _};
use std::time::Duration;

/// Something that sends a message, given its envelope and its bytes.
pub trait Mailer {
    fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), String>;
}

/// The transport chosen by the config.
pub(crate) struct ConfiguredMailer(pub Transport);

impl Mailer for ConfiguredMailer {
    fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), String> {
        match &self.0 {
            Transport::Sendmail(path) => SendmailTransport::new_with_command(path.as_os_str())
                .send_raw(envelope, message)
                .map(|_| ())
                .map_err(|e| format!("{}: {e}", path.display())),
            Transport::Smtp { host, port } => SmtpTransport::builder_dangerous(host)
                .port(*port)
                .timeout(Some(Duration::from_secs(30)))
                .build()
                .send_raw(envelope, message)
                .map(|_| ())
                .map_err(|e| format!("smtp {host}:{port}: {e}")),
            Transport::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                FileTransport::new(dir)
                    .send_raw(envelope, message)
                    .map(|_| ())
                    .map_err(|e| format!("{}: {e}", dir.display()))
            }
        }
    }
}
