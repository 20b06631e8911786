//! `/v3_5/rollouts`: staged rollouts of uploaded bundles ([`crate::modules::rollout`]).
//! Platform administrators create them and raise, pause, resume or roll them back; operators
//! without an organisation read them with their progress. Every change moves the assignment
//! serial on, and this process's devices see it at their next sync (others within seconds).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ListQuery, event, new_id};
use crate::api::error::{ApiError, ErrorKind};
use crate::api::{AppState, Json, Operator, Reply, reply};
use crate::store::{Listed, Rollout, RolloutProgress, RolloutState, StoreError};

/// Failed installs that pause a rollout when none is given.
pub const DEFAULT_FAILURE_THRESHOLD: u32 = 5;

/// A rollout to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRollout {
    /// The bundle's digest.
    #[schema(pattern = r"^[0-9a-f]{64}$")]
    pub bundle: String,
    /// Connector versions targeted: a semver requirement (`>=3.6.0, <4`); default `*`.
    #[schema(min_length = 1, max_length = 128)]
    pub connector_versions: Option<String>,
    /// Label ids targeted (with `organisations`; both empty: every device).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub labels: Vec<String>,
    /// Organisation ids targeted: every label of theirs.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub organisations: Vec<String>,
    /// Share of targeted devices to start with, 0 to 100.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
    /// Failed installs that pause it (0: never); default 5.
    #[schema(minimum = 0, maximum = 1000000)]
    pub failure_threshold: Option<u32>,
}

/// A new percentage.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RaiseRollout {
    /// The new share of targeted devices: higher than the current one.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
}

/// A rollout with its progress.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RolloutView {
    /// The rollout.
    #[serde(flatten)]
    pub rollout: Rollout,
    /// Devices assigned, installed, failed.
    pub progress: RolloutProgress,
}

fn may_read(operator: &crate::auth::Principal) -> Result<(), ApiError> {
    if operator.scope().is_some() { Err(ApiError::forbidden()) } else { Ok(()) }
}

fn may_change(operator: &crate::auth::Principal) -> Result<(), ApiError> {
    if operator.is_platform_admin() { Ok(()) } else { Err(ApiError::forbidden()) }
}

/// `GET /v3_5/rollouts`: every rollout, the newest first, with progress (`q` filters by module)
#[utoipa::path(get, path = "/v3_5/rollouts", tag = "operators", params(ListQuery),
    responses((status = 200, description = "Rollouts", body = inline(crate::api::Data<Listed<RolloutView>>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Query(query): Query<ListQuery>,
) -> Result<Reply<Listed<RolloutView>>, ApiError> {
    may_read(&operator)?;
    let paging = query.paging()?;
    let filter = query.filter(&operator)?;
    let needle = filter.name_contains.map(|q| q.to_lowercase());
    let mut rollouts = state.store.rollouts().await?;
    rollouts.retain(|r| needle.as_ref().is_none_or(|q| r.module.to_lowercase().contains(q)));
    rollouts.reverse();
    let total = u64::try_from(rollouts.len()).unwrap_or(u64::MAX);
    let progress = state.store.rollout_progress().await?;
    let items = rollouts
        .into_iter()
        .skip(paging.offset as usize)
        .take(paging.limit as usize)
        .map(|rollout| RolloutView {
            progress: progress.get(&rollout.id).copied().unwrap_or_default(),
            rollout,
        })
        .collect();
    Ok(reply(Listed { items, total }))
}

/// `GET /v3_5/rollouts/{id}`: one rollout with its progress
#[utoipa::path(get, path = "/v3_5/rollouts/{id}", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "The rollout", body = inline(crate::api::Data<RolloutView>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 403, body = crate::api::error::ErrorBody),
        (status = 404, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn one(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> Result<Reply<RolloutView>, ApiError> {
    may_read(&operator)?;
    Ok(reply(view(&state, found(state.store.rollout(&id).await)?).await?))
}

/// `POST /v3_5/rollouts`: starts a rollout of an uploaded bundle
#[utoipa::path(post, path = "/v3_5/rollouts", tag = "operators", request_body = NewRollout,
    responses((status = 201, description = "Started", body = inline(crate::api::Data<RolloutView>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 415, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Json(input): Json<NewRollout>,
) -> Result<(StatusCode, Reply<RolloutView>), ApiError> {
    may_change(&operator)?;
    let bad = |m: String| ApiError::new(ErrorKind::BadRequest, m);
    if input.percent > 100 {
        return Err(bad("percent is 0 to 100".into()));
    }
    if input.labels.len() > 100 || input.organisations.len() > 100 {
        return Err(bad("at most 100 labels and 100 organisations".into()));
    }
    let bundle = match state.store.bundle(&input.bundle).await {
        Ok(bundle) => bundle,
        Err(StoreError::NotFound) => return Err(bad(format!("no bundle {:?}", input.bundle))),
        Err(err) => return Err(err.into()),
    };
    let connector_versions = input.connector_versions.unwrap_or_else(|| "*".into());
    if connector_versions.len() > 128 || semver::VersionReq::parse(&connector_versions).is_err() {
        return Err(bad(format!(
            "connector_versions {connector_versions:?} is not a semver requirement (e.g. \">=3.6.0, <4\" or \"*\")"
        )));
    }
    for id in &input.labels {
        match state.store.label(id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(bad(format!("no label {id:?}"))),
            Err(err) => return Err(err.into()),
        }
    }
    for id in &input.organisations {
        match state.store.organisation(id).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(bad(format!("no organisation {id:?}"))),
            Err(err) => return Err(err.into()),
        }
    }
    let now = state.clock.now();
    let dedup = |mut ids: Vec<String>| {
        ids.sort();
        ids.dedup();
        ids
    };
    let rollout = Rollout {
        id: new_id(),
        bundle: bundle.digest,
        module: bundle.module,
        connector_versions,
        labels: dedup(input.labels),
        organisations: dedup(input.organisations),
        percent: input.percent,
        failure_threshold: input.failure_threshold.unwrap_or(DEFAULT_FAILURE_THRESHOLD),
        state: RolloutState::Active,
        state_reason: None,
        counted_since: now,
        sequence: 0,
        created_at: now,
        updated_at: now,
    };
    let audit = event(
        &operator,
        "rollout.create",
        None,
        serde_json::json!({
            "id": rollout.id, "bundle": rollout.bundle, "module": rollout.module,
            "version": bundle.version, "percent": rollout.percent,
            "connector_versions": rollout.connector_versions,
            "labels": rollout.labels, "organisations": rollout.organisations,
        }),
        now,
    );
    state.store.create_rollout(&rollout, &audit).await?;
    state.devices.invalidate_sections();
    let rollout = found(state.store.rollout(&rollout.id).await)?;
    tracing::info!(rollout = %rollout.id, module = %rollout.module, version = %bundle.version, percent = rollout.percent, "rollout started");
    Ok((StatusCode::CREATED, reply(view(&state, rollout).await?)))
}

/// `PATCH /v3_5/rollouts/{id}`: raises the percentage (devices already in stay in)
#[utoipa::path(patch, path = "/v3_5/rollouts/{id}", tag = "operators", params(("id" = String, Path)),
    request_body = RaiseRollout,
    responses((status = 200, description = "Raised", body = inline(crate::api::Data<RolloutView>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody),
        (status = 403, body = crate::api::error::ErrorBody), (status = 404, body = crate::api::error::ErrorBody),
        (status = 409, description = "Lower than now, or rolled back", body = crate::api::error::ErrorBody),
        (status = 415, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn raise(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
    Json(input): Json<RaiseRollout>,
) -> Result<Reply<RolloutView>, ApiError> {
    may_change(&operator)?;
    if input.percent > 100 {
        return Err(ApiError::new(ErrorKind::BadRequest, "percent is 0 to 100"));
    }
    let now = state.clock.now();
    let audit = event(
        &operator,
        "rollout.raise",
        None,
        serde_json::json!({"id": id, "percent": input.percent}),
        now,
    );
    let rollout = found(state.store.raise_rollout(&id, input.percent, now, &audit).await)?;
    state.devices.invalidate_sections();
    Ok(reply(view(&state, rollout).await?))
}

/// `POST /v3_5/rollouts/{id}/pause`: stops the rollout: devices that run its bundle keep it,
/// no other device starts installing it
#[utoipa::path(post, path = "/v3_5/rollouts/{id}/pause", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "Paused", body = inline(crate::api::Data<RolloutView>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 403, body = crate::api::error::ErrorBody),
        (status = 404, body = crate::api::error::ErrorBody), (status = 409, description = "Not active", body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn pause(
    state: State<AppState>,
    operator: Operator,
    id: Path<String>,
) -> Result<Reply<RolloutView>, ApiError> {
    transition(state, operator, id, &[RolloutState::Active], RolloutState::Paused, "rollout.pause")
        .await
}

/// `POST /v3_5/rollouts/{id}/resume`: resumes a paused rollout; failures before now no longer
/// count against its threshold
#[utoipa::path(post, path = "/v3_5/rollouts/{id}/resume", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "Resumed", body = inline(crate::api::Data<RolloutView>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 403, body = crate::api::error::ErrorBody),
        (status = 404, body = crate::api::error::ErrorBody), (status = 409, description = "Not paused", body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn resume(
    state: State<AppState>,
    operator: Operator,
    id: Path<String>,
) -> Result<Reply<RolloutView>, ApiError> {
    transition(state, operator, id, &[RolloutState::Paused], RolloutState::Active, "rollout.resume")
        .await
}

/// `POST /v3_5/rollouts/{id}/rollback`: withdraws the rollout for good: its devices go back to
/// the rollout of the module before it (409 when there is none: pause it instead)
#[utoipa::path(post, path = "/v3_5/rollouts/{id}/rollback", tag = "operators", params(("id" = String, Path)),
    responses((status = 200, description = "Rolled back", body = inline(crate::api::Data<RolloutView>)),
        (status = 401, body = crate::api::error::ErrorBody), (status = 403, body = crate::api::error::ErrorBody),
        (status = 404, body = crate::api::error::ErrorBody), (status = 409, description = "Already rolled back", body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn rollback(
    state: State<AppState>,
    operator: Operator,
    id: Path<String>,
) -> Result<Reply<RolloutView>, ApiError> {
    transition(
        state,
        operator,
        id,
        &[RolloutState::Active, RolloutState::Paused],
        RolloutState::RolledBack,
        "rollout.rollback",
    )
    .await
}

async fn transition(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Path(id): Path<String>,
    from: &[RolloutState],
    to: RolloutState,
    action: &'static str,
) -> Result<Reply<RolloutView>, ApiError> {
    may_change(&operator)?;
    let now = state.clock.now();
    let reason = (to != RolloutState::Active)
        .then(|| format!("{} by {}", to.as_str().replace('_', " "), operator.actor));
    if to == RolloutState::RolledBack {
        let current = found(state.store.rollout(&id).await)?;
        let earlier = state.store.rollouts().await?.into_iter().any(|r| {
            r.module == current.module
                && r.sequence < current.sequence
                && r.state != RolloutState::RolledBack
        });
        if !earlier {
            return Err(ApiError::new(
                ErrorKind::Conflict,
                "no earlier rollout of this module to go back to: pause it instead",
            ));
        }
    }
    let audit = event(&operator, action, None, serde_json::json!({"id": id}), now);
    let rollout =
        found(state.store.set_rollout_state(&id, from, to, reason.as_deref(), now, &audit).await)?;
    state.devices.invalidate_sections();
    tracing::info!(rollout = %id, state = to.as_str(), "rollout changed");
    Ok(reply(view(&state, rollout).await?))
}

fn found(result: Result<Rollout, StoreError>) -> Result<Rollout, ApiError> {
    match result {
        Ok(rollout) => Ok(rollout),
        Err(StoreError::NotFound) => Err(ApiError::not_found("rollout")),
        Err(err) => Err(err.into()),
    }
}

async fn view(state: &AppState, rollout: Rollout) -> Result<RolloutView, ApiError> {
    let progress = state.store.rollout_progress().await?;
    Ok(RolloutView { progress: progress.get(&rollout.id).copied().unwrap_or_default(), rollout })
}
