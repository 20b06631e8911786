//! The DS starts on both backends and issues a token for a new label's key.

use t1c_testkit::ds::{DsBackend, TestDs};

async fn token_for_a_new_label(backend: DsBackend) {
    let ds = TestDs::start(backend).await.expect("DS starts");
    let admin = ds.admin_token().await;
    let org = ds.organisation(&admin, "Acme").await;
    let (_, key) = ds.label_with_key(&admin, &org, "shop", &["https://shop.example"]).await;
    let response = ds
        .client()
        .get(format!("{}/v3_5/tokens/application", ds.url()))
        .header("apikey", key)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 200);
    ds.stop().await;
}

#[tokio::test]
async fn sqlite() {
    token_for_a_new_label(DsBackend::Sqlite).await;
}

#[tokio::test]
async fn postgres() {
    token_for_a_new_label(DsBackend::Postgres).await;
}
