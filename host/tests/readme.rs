//! README.md, top to bottom, as a newcomer runs it; and ds/README.md's commands.
//!
//! Every command of a document's ```` ```sh ```` blocks (one command a line, `\` continuing
//! it on the next; blank and `#` lines skipped) is, in the document's order, either
//!
//! - **run** by this test in one `bash` session (so variables carry from one command to the
//!   next) with a temporary `HOME` and working directory, the connector's binary on `PATH` as
//!   `t1c`, and its output checked for what the document says it shows ([`README_RUN`],
//!   [`DS_README_RUN`]); or
//! - **done by the test** in the documented way when it starts a server ([`Action`]):
//!   `cargo xtask run` starts `t1c serve --simulate --bundles target/modules` (stopping the one
//!   before), as a process with that `HOME`, from the modules `cargo xtask build-modules` wrote;
//!   `cargo xtask ds` starts a Distribution Service through its composition root on SQLite with
//!   its data in `~/.local/share/t1c-ds`, as `t1c-ds serve` does with no configuration; or
//! - **named with the test or CI job that proves it** ([`README_PROVEN_ELSEWHERE`]), for what
//!   cannot run inside a test (installing packages, the whole suite, benchmarks);
//! - or, in README.md, a command of sdk/README.md's blocks, which `sdk/cli/tests/newcomer.rs`
//!   runs.
//!
//! A command that is none of these fails the test, as does a table entry the document no
//! longer has: a document cannot gain or change a command without this test knowing.
//!
//! The servers listen on free ports, so before a command or configuration block runs,
//! `localhost:51983` (the connector's default port) becomes the running connector's port,
//! `localhost:8443` (the DS's) the running DS's, and `/home/you` the temporary home.
//! README.md's ```` ```toml ```` blocks are the connector's configuration: each is appended to
//! `~/.config/t1c/config.toml` where it appears (the next `cargo xtask run` reads it), and the
//! file must parse.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use t1c_testkit::bench::free_port;
use t1c_testkit::ds::{DsBackend, TestDs};
use t1c_testkit::process::ConnectorProcess;

/// README.md's commands this test runs, in the README's order, each with what its output must
/// contain (a leading `!`: must not contain). A command written twice takes its entries in
/// order.
const README_RUN: &[(&str, &[&str])] = &[
    (
        "curl --cacert ~/.local/share/t1c/tls/ca.pem https://localhost:51983/info",
        &[r#""status":"ACTIVATED""#, r#""jwtEnabled":false"#, r#""beid""#],
    ),
    (
        "curl --cacert ~/.local/share/t1c/tls/ca.pem https://localhost:51983/v3/readers",
        &[
            r#""id":"cbaca527b9d3feb0","name":"T1C Simulated Reader""#,
            r#""modules":["beid"]"#,
            r#""signature":""#,
        ],
    ),
    (
        "curl --cacert ~/.local/share/t1c/tls/ca.pem https://localhost:51983/v3/modules/beid/apps/token/readers/cbaca527b9d3feb0/biometric",
        &[
            r#""name":"Testkaart""#,
            r#""firstNames":"Lotte Anna""#,
            r#""nationalNumber":"85031500293""#,
        ],
    ),
    (
        r#"curl --cacert ~/.local/share/t1c/tls/ca.pem -H 'content-type: application/json' -d '{"pin":"1234"}' https://localhost:51983/v3/modules/beid/apps/token/readers/cbaca527b9d3feb0/verify-pin"#,
        &[r#""verified":true"#],
    ),
    (
        "curl -i --cacert ~/.local/share/t1c/tls/ca.pem -H 'Origin: https://app.example.com' https://localhost:51983/v3/readers",
        &[
            "HTTP/2 403",
            r#"{"success":false,"code":"104030","description":"origin not allowed"}"#,
            "!access-control-allow-origin",
        ],
    ),
    (
        "curl -i --cacert ~/.local/share/t1c/tls/ca.pem -H 'Origin: https://app.example.com' https://localhost:51983/v3/readers",
        &[
            "HTTP/2 200",
            "access-control-allow-origin: https://app.example.com",
            "T1C Simulated Reader",
        ],
    ),
    ("D=~/.local/share/t1c-ds", &[]),
    ("PASSWORD=$(sed -n 's/^password: //p' $D/bootstrap-admin.txt)", &[]),
    (
        r#"TOKEN=$(curl -s --cacert $D/tls/ca.pem https://localhost:8443/v3_5/auth/token -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"#,
        &[],
    ),
    (
        r#"curl -s --cacert $D/tls/ca.pem -X PUT https://localhost:8443/v3_5/versions -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"id":"0.1.0","recommended":true,"allowed":true}'"#,
        &[r#""success":true"#],
    ),
    (
        r#"curl -s --cacert $D/tls/ca.pem -X POST https://localhost:8443/v3_5/versions/0.1.0/keys -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{}' | sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' > installation-key"#,
        &[],
    ),
    ("t1c ds register --key-file installation-key", &["installation key stored in"]),
    ("t1c ds sync", &["synced; device ", "!synced; device -"]),
    (
        "t1c ds status",
        &["DS            https://localhost:", "last sync     2", "version       none"],
    ),
    (
        r#"curl -s --cacert $D/tls/ca.pem https://localhost:8443/v3_5/devices -H "authorization: Bearer $TOKEN""#,
        &[r#""version":"0.1.0""#, r#""state":"running""#],
    ),
    (
        "curl --cacert ~/.local/share/t1c/tls/ca.pem https://localhost:51983/v3/readers",
        &[
            r#"{"success":false,"code":"104025","description":"Unauthorized to do this action"}"#,
            "!T1C Simulated Reader",
        ],
    ),
];

/// README.md's commands that cannot run inside a test, and what proves each.
const README_PROVEN_ELSEWHERE: &[(&str, &str)] = &[
    (
        "cargo xtask run",
        "cargo xtask fresh-machine (the first check of cargo xtask test): in a fresh Debian \
         12 root it installs the packages, builds everything and serves the simulated eID on \
         /v3/readers; here, each `cargo xtask run` starts `t1c serve --simulate --bundles \
         target/modules` (Action::RunConnector)",
    ),
    ("cargo xtask test", ".ci/run, the CI job, which calls it"),
    (
        "cargo xtask ds",
        "cargo xtask fresh-machine (after the connector, installs, builds and starts it in \
         the same fresh root; /readyz answers) and ds/tests/cli.rs (`t1c-ds serve` with no \
         configuration); here it starts the DS's composition root (Action::StartDs)",
    ),
    ("cargo test -p t1c-module-hello", "cargo xtask test (cargo nextest run --workspace)"),
    (
        "cargo xtask package",
        "cargo xtask test runs the same build and checks on the tests' debug binaries \
         (package::build_and_check with Build::TestBinaries)",
    ),
    (
        "sudo apt install ./target/debian/t1c_*.deb",
        "cargo xtask package (and the package step of cargo xtask test) installs both \
         packages with apt-get into a fresh Debian 12 root (xtask/src/fresh_install.rs), starts \
         the installed binaries, then removes and purges them",
    ),
    ("cargo nextest run -p t1c-host --test readme", "this test"),
    (
        "cargo bench -p t1c-host --bench runtime",
        "cargo xtask test builds it (cargo clippy --all-targets); benchmarks are run by hand, \
         timings are never asserted in tests",
    ),
];

/// ds/README.md's commands this test runs.
const DS_README_RUN: &[(&str, &[&str])] = &[
    ("D=~/.local/share/t1c-ds", &[]),
    (
        "curl --cacert $D/tls/ca.pem https://localhost:8443/v3_5/system/status",
        &[r#""success":true"#],
    ),
    (
        r#"curl --cacert $D/tls/ca.pem https://localhost:8443/v3_5/auth/token -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$(sed -n 's/^password: //p' $D/bootstrap-admin.txt)\"}""#,
        &[r#""access_token":""#],
    ),
];

/// What the test does for a command that starts a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// `cargo xtask run`: `t1c serve --simulate --bundles target/modules`.
    RunConnector,
    /// `cargo xtask ds`: a DS with no configuration.
    StartDs,
}

fn action(command: &str) -> Option<Action> {
    match command {
        "cargo xtask run" => Some(Action::RunConnector),
        "cargo xtask ds" => Some(Action::StartDs),
        _ => None,
    }
}

/// One step of a document, in its order.
#[derive(Debug)]
enum Step {
    /// A command of a ```` ```sh ```` block, continuations joined with one space.
    Command { line: usize, text: String },
    /// A ```` ```toml ```` block.
    Toml { line: usize, text: String },
}

/// The steps of `markdown`.
fn steps(markdown: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut block: Option<(&str, usize, String)> = None;
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        match &mut block {
            None => {
                if let Some(kind) = line.strip_prefix("```").filter(|k| ["sh", "toml"].contains(k))
                {
                    block = Some((kind, number, String::new()));
                }
            }
            Some((kind, start, text)) => {
                if line.trim_end() == "```" {
                    assert!(pending.is_none(), "line {number}: a `\\` continues past the block");
                    if *kind == "toml" {
                        steps.push(Step::Toml { line: *start, text: std::mem::take(text) });
                    }
                    block = None;
                } else if *kind == "toml" {
                    text.push_str(line);
                    text.push('\n');
                } else {
                    let trimmed = line.trim();
                    let (continues, part) = match trimmed.strip_suffix('\\') {
                        Some(part) => (true, part.trim_end()),
                        None => (false, trimmed),
                    };
                    let (first, mut command) = pending.take().unwrap_or((number, String::new()));
                    if command.is_empty() && (part.is_empty() || part.starts_with('#')) {
                        continue;
                    }
                    if !command.is_empty() {
                        command.push(' ');
                    }
                    command.push_str(part);
                    if continues {
                        pending = Some((first, command));
                    } else {
                        steps.push(Step::Command { line: first, text: command });
                    }
                }
            }
        }
    }
    assert!(block.is_none(), "a code block is not closed");
    steps
}

/// The commands of `markdown`'s ```` ```sh ```` blocks without their trailing comments.
fn commands_without_comments(markdown: &str) -> BTreeSet<String> {
    steps(markdown)
        .into_iter()
        .filter_map(|step| match step {
            Step::Command { text, .. } => {
                Some(text.split(" #").next().unwrap_or_default().trim().to_owned())
            }
            Step::Toml { .. } => None,
        })
        .collect()
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A `bash` reading commands one at a time, so variables carry from one to the next.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    output: mpsc::Receiver<String>,
}

/// The line the shell prints after each command, with its exit status.
const STATUS_MARK: &str = "@@readme-status ";

/// How long one command may take.
const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

impl Shell {
    fn start(home: &Path, work: &Path, bin: &Path) -> Self {
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let mut child = Command::new("bash")
            .arg("--noprofile")
            .arg("--norc")
            .env_clear()
            .env("HOME", home)
            .env("PATH", path)
            .env("LANG", "C.UTF-8")
            .env("T1C_LOG", "warn")
            .current_dir(work)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("bash starts");
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, output) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        writeln!(stdin, "exec 2>&1; set -o pipefail").expect("bash reads");
        Self { child, stdin, output }
    }

    /// Runs `command` (its standard input empty) and returns its exit status and output.
    fn run(&mut self, command: &str) -> (i32, String) {
        writeln!(self.stdin, "{{ {command}\n}} </dev/null\nprintf '\\n{STATUS_MARK}%d\\n' $?")
            .expect("bash reads");
        self.stdin.flush().expect("bash reads");
        let mut output = String::new();
        loop {
            match self.output.recv_timeout(COMMAND_DEADLINE) {
                Ok(line) => match line.strip_prefix(STATUS_MARK) {
                    Some(status) => {
                        let status = status.trim().parse().expect("a status");
                        // The mark's own leading newline.
                        if output.ends_with("\n\n") || output == "\n" {
                            output.pop();
                        }
                        return (status, output);
                    }
                    None => {
                        output.push_str(&line);
                        output.push('\n');
                    }
                },
                Err(err) => panic!("`{command}` did not finish ({err}); output so far:\n{output}"),
            }
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A document run by the test: its temporary home, the servers it started, its shell.
struct Run {
    home: PathBuf,
    shell: Shell,
    connector: Option<(ConnectorProcess, u16)>,
    ds: Option<(TestDs, u16)>,
    _dir: tempfile::TempDir,
}

impl Run {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let home = dir.path().join("home");
        let work = dir.path().join("work");
        let bin = dir.path().join("bin");
        for folder in [&home, &work, &bin] {
            std::fs::create_dir_all(folder).expect("a folder");
        }
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_t1c"), bin.join("t1c")).expect("t1c");
        let shell = Shell::start(&home, &work, &bin);
        Self { home, shell, connector: None, ds: None, _dir: dir }
    }

    /// `text` with the documented ports and home replaced by this run's.
    fn substitute(&self, text: &str) -> String {
        let mut text = text.replace("/home/you", &self.home.display().to_string());
        if let Some((_, port)) = &self.connector {
            text = text.replace("localhost:51983", &format!("localhost:{port}"));
        }
        if let Some((_, port)) = &self.ds {
            text = text.replace("localhost:8443", &format!("localhost:{port}"));
        }
        text
    }

    async fn act(&mut self, action: Action) {
        match action {
            Action::RunConnector => {
                self.connector = None;
                let modules = repository().join("target/modules");
                assert!(
                    modules.join("beid.t1cm").exists(),
                    "{} has no beid.t1cm: run `cargo xtask build-modules` first",
                    modules.display()
                );
                let port = free_port();
                let mut command = Command::new(env!("CARGO_BIN_EXE_t1c"));
                command
                    .args(["serve", "--simulate", "--bundles"])
                    .arg(&modules)
                    .args(["--port", &port.to_string()])
                    .env_clear()
                    .env("HOME", &self.home)
                    .env("PATH", std::env::var("PATH").unwrap_or_default());
                self.connector = Some((ConnectorProcess::start(command), port));
            }
            Action::StartDs => {
                if let Some((ds, _)) = self.ds.take() {
                    ds.stop().await;
                }
                let data = self.home.join(".local/share/t1c-ds");
                let ds = TestDs::start_with(DsBackend::Sqlite, |config| {
                    config.data_dir = Some(data);
                })
                .await
                .expect("the DS starts");
                let port = ds.url().rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
                self.ds = Some((ds, port));
            }
        }
    }

    /// Appends a configuration block to `~/.config/t1c/config.toml`; the file must parse.
    fn configure(&self, line: usize, toml: &str) {
        let dir = self.home.join(".config/t1c");
        std::fs::create_dir_all(&dir).expect("the config folder");
        let path = dir.join("config.toml");
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(&self.substitute(toml));
        std::fs::write(&path, &text).expect("the config file");
        if let Err(err) = t1c_host::config::Config::parse(&text, &path) {
            panic!("the configuration block at line {line} does not parse: {err}\n{text}");
        }
    }

    fn log(&self) -> String {
        self.connector.as_ref().map(|(c, _)| c.log()).unwrap_or_default()
    }

    async fn stop(self) {
        if let Some((ds, _)) = self.ds {
            ds.stop().await;
        }
    }
}

/// What a document's command is to this test.
enum Role<'a> {
    Run(&'a [&'a str]),
    Act(Action),
    Proven,
}

/// What a document's ```` ```toml ```` blocks are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TomlBlocks {
    /// The connector's configuration, appended to `~/.config/t1c/config.toml` in order.
    ConnectorConfig,
    /// Examples this test does not apply (ds/README.md's DS configuration).
    Examples,
}

/// Runs `document`'s steps; `run` and `proven` are its tables, `elsewhere` commands another
/// test runs.
async fn run_document(
    document: &str,
    toml: TomlBlocks,
    run: &[(&str, &[&str])],
    proven: &[(&str, &str)],
    elsewhere: &BTreeSet<String>,
) {
    let markdown = read(document);
    let mut runs: HashMap<&str, Vec<&[&str]>> = HashMap::new();
    for (command, checks) in run.iter().rev() {
        runs.entry(command).or_default().push(checks);
    }
    let mut state = Run::new();
    for step in steps(&markdown) {
        let (line, command) = match step {
            Step::Toml { line, text } => {
                if toml == TomlBlocks::ConnectorConfig {
                    state.configure(line, &text);
                }
                continue;
            }
            Step::Command { line, text } => (line, text),
        };
        let role = if let Some(checks) = runs.get_mut(command.as_str()).and_then(Vec::pop) {
            Role::Run(checks)
        } else if let Some(action) = action(&command) {
            Role::Act(action)
        } else if proven.iter().any(|(c, _)| *c == command) || elsewhere.contains(&command) {
            Role::Proven
        } else {
            panic!(
                "{document}:{line}: `{command}` is neither run by host/tests/readme.rs nor named \
                 with the test that proves it: add it to a table there"
            );
        };
        match role {
            Role::Proven => {}
            Role::Act(action) => state.act(action).await,
            Role::Run(checks) => {
                let text = state.substitute(&command);
                let (status, output) = state.shell.run(&text);
                eprintln!("{document}:{line}: $ {text}\n{output}");
                let context = || {
                    format!(
                        "{document}:{line}: `{text}` exited with {status}:\n{output}\n-- \
                         connector log:\n{}",
                        state.log()
                    )
                };
                assert_eq!(status, 0, "{}", context());
                for check in checks {
                    match check.strip_prefix('!') {
                        Some(absent) => {
                            assert!(!output.contains(absent), "{absent}: {}", context())
                        }
                        None => assert!(output.contains(check), "{check} missing: {}", context()),
                    }
                }
            }
        }
    }
    let left: Vec<_> = runs.iter().filter(|(_, checks)| !checks.is_empty()).collect();
    assert!(left.is_empty(), "{document} no longer has these commands of the test: {left:?}");
    let commands: BTreeSet<String> = steps(&markdown)
        .into_iter()
        .filter_map(|s| match s {
            Step::Command { text, .. } => Some(text),
            Step::Toml { .. } => None,
        })
        .collect();
    for (command, _) in proven {
        assert!(commands.contains(*command), "{document} no longer has `{command}`");
    }
    state.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_readme_runs_or_is_proven_elsewhere() {
    let sdk = commands_without_comments(&read("sdk/README.md"));
    run_document(
        "README.md",
        TomlBlocks::ConnectorConfig,
        README_RUN,
        README_PROVEN_ELSEWHERE,
        &sdk,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_of_the_ds_readme_runs_or_is_proven_elsewhere() {
    run_document("ds/README.md", TomlBlocks::Examples, DS_README_RUN, &[], &BTreeSet::new()).await;
}

/// The README's t1c-sdk-js snippet calls only what the browser test calls on the real SDK.
#[test]
fn the_web_page_snippet_uses_what_the_browser_test_runs() {
    let readme = read("README.md");
    let start = readme.find("```js\n").expect("a js block") + "```js\n".len();
    let snippet = &readme[start..start + readme[start..].find("```").expect("its end")];
    let browser = read("tests/browser/beid.test.js");
    let mut names = Vec::new();
    for (index, _) in snippet.match_indices('.') {
        let name: String = snippet[index + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if snippet[index + 1 + name.len()..].starts_with('(')
            || snippet[..index].ends_with("T1CSdk")
        {
            names.push(name);
        }
    }
    assert!(names.len() >= 8, "{names:?}");
    for name in names.iter().filter(|n| n.as_str() != "log") {
        assert!(browser.contains(&format!(".{name}")), "`.{name}` is not used by beid.test.js");
    }
}

#[test]
fn steps_join_continuations_and_skip_comments() {
    let markdown =
        "text\n```sh\n# a comment\n\na \\\n  b\nc\n```\n```toml\n[x]\n```\n```\nnot sh\n```\n";
    let steps = steps(markdown);
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert!(matches!(&steps[0], Step::Command { line: 5, text } if text == "a b"));
    assert!(matches!(&steps[1], Step::Command { line: 7, text } if text == "c"));
    assert!(matches!(&steps[2], Step::Toml { line: 9, text } if text == "[x]\n"));
}
