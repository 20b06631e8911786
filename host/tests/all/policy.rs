//! The live security policy: CORS allowlist and JWT keys replaced together while clients send
//! requests over HTTPS; no request fails and none is judged by a mix of two policies.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::mpsc;

use t1c_host::security::cors::CorsPolicy;
use t1c_host::security::jwt::JwtVerifier;
use t1c_host::security::policy::SecurityPolicy;
use t1c_testkit::TestConnector;

/// Concurrent clients, each with its own connections.
const CLIENTS: usize = 4;
/// Policy replacements, alternating B, A, B, ...
const SWAPS: usize = 20;
/// Answers judged by the new policy the test waits for after each replacement.
const ANSWERS_PER_GENERATION: usize = 8;

/// One of the two policies, and the origin and token that belong to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

impl Side {
    /// Generation 0 is A, then they alternate.
    fn of_generation(generation: usize) -> Self {
        if generation.is_multiple_of(2) { Side::A } else { Side::B }
    }

    fn origin(self) -> &'static str {
        match self {
            Side::A => "https://a.test",
            Side::B => "https://b.test",
        }
    }

    fn kid(self) -> &'static str {
        match self {
            Side::A => "key-a",
            Side::B => "key-b",
        }
    }
}

/// What `policy` answers to a request from `origin` with a token of `token`'s key:
/// status and `Access-Control-Allow-Origin`.
fn expected(policy: Side, origin: Side, token: Side) -> (u16, Option<String>) {
    if origin != policy {
        (403, None)
    } else if token != policy {
        (401, Some(origin.origin().to_owned()))
    } else {
        (200, Some(origin.origin().to_owned()))
    }
}

/// A policy's key pair: the verifier side and a token signed with it.
struct Keys {
    verifier_pem: String,
    token: String,
}

fn keys(side: Side) -> Keys {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key");
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(side.kid().into());
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 600;
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": "label", "exp": exp}),
        &jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).expect("key"),
    )
    .expect("token");
    Keys { verifier_pem: key.public_key_pem(), token }
}

fn policy(side: Side, keys: &Keys) -> SecurityPolicy {
    let cors = CorsPolicy::new(&[side.origin()]).expect("cors");
    let mut verifier = JwtVerifier::new(None);
    verifier.add_key_pem(side.kid(), "ES256", keys.verifier_pem.as_bytes()).expect("key");
    SecurityPolicy::new(cors, Some(verifier))
}

/// What a client saw for one request.
struct Judged {
    /// The policy the answer is consistent with; `None`: with neither (a failure).
    policy: Option<Side>,
    /// Whether the answer is the one of the generation in force during the whole request,
    /// when no replacement overlapped it.
    in_generation: bool,
    /// The newest generation completely in force before the request was sent.
    generation: usize,
    /// What went wrong, for the failure message.
    detail: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_and_jwt_swapped_together_under_load_fail_no_request_and_never_mix() {
    let keys = [keys(Side::A), keys(Side::B)];
    let policies = [policy(Side::A, &keys[0]), policy(Side::B, &keys[1])];
    let tokens = Arc::new([keys[0].token.clone(), keys[1].token.clone()]);
    let connector = TestConnector::builder().policy(policies[0].clone()).start().await;
    // Generations: `started` counts replacements begun, `done` replacements completed.
    let started = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (answers, mut judged) = mpsc::unbounded_channel::<Judged>();
    let mut clients = Vec::new();
    for client in 0..CLIENTS {
        let (http, target) = (connector.client(), connector.url("/v3/readers"));
        let (started, done, stop, answers, tokens) =
            (started.clone(), done.clone(), stop.clone(), answers.clone(), tokens.clone());
        clients.push(tokio::spawn(async move {
            // Each client walks through the four (origin, token) pairs from its own start.
            let kinds = [(Side::A, Side::A), (Side::B, Side::B), (Side::A, Side::B), (Side::B, Side::A)];
            let mut i = client;
            while !stop.load(Ordering::SeqCst) {
                let (origin, token) = kinds[i % kinds.len()];
                i += 1;
                let before = done.load(Ordering::SeqCst);
                let sent = http
                    .get(&target)
                    .header("origin", origin.origin())
                    .bearer_auth(&tokens[token as usize])
                    .send()
                    .await;
                let after = started.load(Ordering::SeqCst);
                let answer = match sent {
                    Ok(response) => (
                        response.status().as_u16(),
                        response
                            .headers()
                            .get("access-control-allow-origin")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                    ),
                    Err(err) => {
                        let detail = format!("request failed: {err}");
                        let _ = answers.send(Judged {
                            policy: None,
                            in_generation: false,
                            generation: before,
                            detail,
                        });
                        continue;
                    }
                };
                let consistent: Vec<Side> = [Side::A, Side::B]
                    .into_iter()
                    .filter(|&policy| expected(policy, origin, token) == answer)
                    .collect();
                let policy = match consistent.as_slice() {
                    [one] => Some(*one),
                    _ => None,
                };
                // With no replacement overlapping the request, only one generation can have
                // judged it.
                let in_generation =
                    before != after || policy == Some(Side::of_generation(before));
                let detail = format!(
                    "origin {origin:?}, token {token:?}, answer {answer:?}, generations {before}..={after}"
                );
                let _ = answers.send(Judged { policy, in_generation, generation: before, detail });
            }
        }));
    }
    drop(answers);

    let mut total = 0usize;
    let mut failures = Vec::new();
    let mut per_policy = [0usize; 2];
    let mut record = |answer: &Judged| {
        total += 1;
        match answer.policy {
            Some(side) if answer.in_generation => per_policy[side as usize] += 1,
            _ => failures.push(answer.detail.clone()),
        }
    };
    for generation in 1..=SWAPS {
        started.store(generation, Ordering::SeqCst);
        connector.policy().replace(policies[generation % 2].clone());
        done.store(generation, Ordering::SeqCst);
        // Wait for answers judged wholly under the new generation (sent after it was in force).
        let mut seen = 0;
        while seen < ANSWERS_PER_GENERATION {
            let answer = judged.recv().await.expect("clients run");
            if answer.generation == generation {
                seen += 1;
            }
            record(&answer);
        }
    }
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("client task");
    }
    while let Ok(answer) = judged.try_recv() {
        record(&answer);
    }
    println!(
        "policy swap: {SWAPS} replacements, {total} requests from {CLIENTS} clients \
         ({} judged by A, {} by B), {} failed",
        per_policy[0],
        per_policy[1],
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} requests failed or mixed: {failures:#?}",
        failures.len()
    );
    assert!(per_policy.iter().all(|&n| n > 0), "both policies judged requests");
    connector.shutdown().await;
}
