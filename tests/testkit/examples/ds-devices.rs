//! Simulated connectors for a running DS (the dashboard's browser test drives them):
//! `ds-devices --url URL --ca CA.pem --key INSTALLATION_KEY --count N --label NAME --version V`.
//!
//! Device `i` (0-based) registers as version `V` on `linux`, `windows` or `macos` (`i % 3`),
//! with the OS version `Debian GNU/Linux 12 (bookworm)` (Linux, even `i`), `Ubuntu 24.04.1 LTS`
//! (Linux, odd `i`), `Windows 10.0.22631` (Windows) or none, as an older connector (macOS; the
//! DS shows `unknown`), reports a Chrome (even `i`) or Firefox (odd `i`) User-Agent and the label, and syncs once
//! with today's counter for that label, module `beid`, use case `identity_read`: `i + 1`. So N
//! devices count N(N+1)/2 in all. Prints `{"devices": N, "total": N(N+1)/2}`.

use t1c_ds_protocol::counters::{CounterBatch, DayCount, UseCase};
use t1c_ds_protocol::messages::{DeviceState, Digests, Platform, SyncRequest};
use t1c_testkit::ds::TestDevice;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn argument(name: &str) -> String {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.next();
    args.next().unwrap_or_else(|| panic!("{name} is required"))
}

/// The OS version device `i` reports (see the module's documentation).
fn os_version(i: u64) -> Option<String> {
    match (i % 3, i % 2) {
        (0, 0) => Some("Debian GNU/Linux 12 (bookworm)".into()),
        (0, _) => Some("Ubuntu 24.04.1 LTS".into()),
        (1, _) => Some("Windows 10.0.22631".into()),
        _ => None,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (url, key, label, version) =
        (argument("--url"), argument("--key"), argument("--label"), argument("--version"));
    let count: u64 = argument("--count").parse().expect("--count is a number");
    let ca = std::fs::read(argument("--ca")).expect("the CA file");
    let client = reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("a PEM certificate"))
        .build()
        .expect("client");
    let now = time::OffsetDateTime::now_utc();
    let today = format!("{:04}-{:02}-{:02}", now.year(), u8::from(now.month()), now.day());
    let mut total = 0;
    for i in 0..count {
        let platform = Platform {
            os: ["linux", "windows", "macos"][(i % 3) as usize].into(),
            arch: "x86_64".into(),
            version: version.clone(),
            os_version: os_version(i),
        };
        let device = TestDevice::register(&client, &url, &key, platform.clone())
            .await
            .unwrap_or_else(|e| panic!("device {i} registers: {e}"));
        let request = SyncRequest {
            state: DeviceState::Running,
            platform,
            labels: vec![label.clone()],
            user_agents: vec![if i % 2 == 0 { CHROME } else { FIREFOX }.into()],
            modules: vec![],
            failed_installs: vec![],
            digests: Digests::default(),
            counters: CounterBatch {
                seq: 1,
                rows: vec![DayCount {
                    day: today.clone(),
                    label: label.clone(),
                    tag: String::new(),
                    module: "beid".into(),
                    use_case: UseCase::IdentityRead,
                    total: i + 1,
                }],
            },
        };
        device.sync(&client, &url, &request, now.unix_timestamp()).await;
        total += i + 1;
    }
    println!("{}", serde_json::json!({"devices": count, "total": total}));
}
