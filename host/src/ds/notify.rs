//! Telling the person at the machine: a desktop notification through the freedesktop
//! notification service (`org.freedesktop.Notifications`) on the session bus when there is one,
//! and always a log line. A notification is only ever a report: failing to show one changes
//! nothing else.

use std::collections::HashMap;
use std::time::Duration;

use zbus::zvariant::Value;

/// How long showing a notification may take before it is given up.
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where notifications go.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    bus: Option<String>,
}

impl Notifier {
    /// Notifications on the session bus at `address` (a D-Bus address such as
    /// `unix:path=/run/user/1000/bus`); `None`: the log only.
    pub fn at(address: Option<String>) -> Self {
        Self { bus: address.filter(|a| !a.trim().is_empty()) }
    }

    /// The session bus of this process's environment (`DBUS_SESSION_BUS_ADDRESS`), if any.
    pub fn from_env() -> Self {
        Self::at(std::env::var("DBUS_SESSION_BUS_ADDRESS").ok())
    }

    /// Shows `summary` and `body` (critical urgency when `urgent`); `true` when the
    /// notification service took it.
    pub async fn notify(&self, summary: &str, body: &str, urgent: bool) -> bool {
        let Some(address) = &self.bus else {
            return false;
        };
        match tokio::time::timeout(NOTIFY_TIMEOUT, send(address, summary, body, urgent)).await {
            Ok(Ok(())) => true,
            Ok(Err(err)) => {
                tracing::info!("no desktop notification shown: {err}");
                false
            }
            Err(_) => {
                tracing::info!("no desktop notification shown: the session bus did not answer");
                false
            }
        }
    }
}

async fn send(address: &str, summary: &str, body: &str, urgent: bool) -> zbus::Result<()> {
    let connection = zbus::connection::Builder::address(address)?.build().await?;
    // The specification's urgency levels: 1 normal, 2 critical.
    let hints: HashMap<&str, Value<'_>> =
        HashMap::from([("urgency", Value::U8(if urgent { 2 } else { 1 }))]);
    connection
        .call_method(
            Some("org.freedesktop.Notifications"),
            "/org/freedesktop/Notifications",
            Some("org.freedesktop.Notifications"),
            "Notify",
            &("T1C", 0u32, "dialog-information", summary, body, Vec::<&str>::new(), hints, -1i32),
        )
        .await?;
    Ok(())
}
