//! The operators' API. Every handler takes an [`Operator`] (a bearer token checked by
//! [`crate::auth`]) and decides by its role:
//! - platform administrators do everything;
//! - organisation administrators manage their organisation's labels, keys and accounts; another
//!   organisation's objects answer 404, exactly as if they did not exist;
//! - analysts read within their organisation (or everything, when bound to none).
//!
//! Every change is written with its audit entry in one transaction.

pub mod audit;
pub mod bundles;
pub mod keystores;
pub mod labels;
pub mod organisations;
pub mod publisher_keys;
pub mod rollouts;
pub mod session;
pub mod users;
pub mod versions;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::{AppState, Operator, Reply, reply};
use crate::auth::Principal;
use crate::store::{AuditEvent, Filter, Paging};

/// Paging and search parameters of the list routes.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items to skip (default 0).
    #[param(minimum = 0, maximum = 2_147_483_647)]
    pub offset: Option<u32>,
    /// Items to return (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Only names containing this text (case-insensitive).
    #[param(max_length = 128, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub q: Option<String>,
    /// Only this organisation's objects.
    #[param(pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    pub organisation: Option<String>,
}

impl ListQuery {
    /// The paging asked for.
    pub fn paging(&self) -> Result<Paging, ApiError> {
        let limit = self.limit.unwrap_or(Paging::default().limit);
        if !(1..=Paging::MAX_LIMIT).contains(&limit) {
            return Err(ApiError::new(
                super::error::ErrorKind::BadRequest,
                format!("limit must be 1 to {}", Paging::MAX_LIMIT),
            ));
        }
        let offset = self.offset.unwrap_or(0);
        if i32::try_from(offset).is_err() {
            return Err(ApiError::new(
                super::error::ErrorKind::BadRequest,
                "offset must be 0 to 2147483647",
            ));
        }
        Ok(Paging { offset, limit })
    }

    /// The filter, narrowed to what `operator` may see.
    pub fn filter(&self, operator: &Principal) -> Result<Filter, ApiError> {
        if self.q.as_ref().is_some_and(|q| q.chars().count() > 128) {
            return Err(ApiError::new(
                super::error::ErrorKind::BadRequest,
                "q has at most 128 characters",
            ));
        }
        // No stored name or id holds a control character; NUL would fail on PostgreSQL.
        if [&self.q, &self.organisation]
            .into_iter()
            .flatten()
            .any(|t| t.chars().any(char::is_control))
        {
            return Err(ApiError::new(
                super::error::ErrorKind::BadRequest,
                "q and organisation must not contain control characters",
            ));
        }
        let organisation_id = match (operator.scope(), &self.organisation) {
            // Another organisation's objects: a filter that matches nothing. Ids are never
            // empty; a NUL sentinel would fail on PostgreSQL, whose text cannot hold NUL.
            (Some(own), Some(asked)) if own != *asked => Some(String::new()),
            (Some(own), _) => Some(own),
            (None, asked) => asked.clone(),
        };
        Ok(Filter { organisation_id, name_contains: self.q.clone() })
    }
}

/// An audit event by `operator` at `now`.
pub fn event(
    operator: &Principal,
    action: &'static str,
    organisation_id: Option<&str>,
    detail: serde_json::Value,
    now: i64,
) -> AuditEvent {
    AuditEvent {
        actor: operator.actor.clone(),
        action,
        organisation_id: organisation_id.map(str::to_owned),
        detail,
        at: now,
    }
}

/// A fresh opaque id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The platform at a glance.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Platform {
    /// The DS version.
    pub version: String,
    /// The connector contract version.
    pub protocol: String,
    /// Seconds since this process started.
    pub uptime_secs: u64,
    /// `sqlite` or `postgres`.
    #[schema(value_type = String)]
    pub database: crate::store::Backend,
    /// Organisations visible to the caller.
    pub organisations: u64,
    /// Labels visible to the caller.
    pub labels: u64,
    /// Connector versions.
    pub versions: u64,
}

/// `GET /v3_5/platform`: version, uptime and counts.
#[utoipa::path(get, path = "/v3_5/platform", tag = "operators",
    responses((status = 200, description = "Platform information", body = inline(super::Data<Platform>)),
        (status = 401, body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn platform(
    State(state): State<AppState>,
    Operator(operator): Operator,
) -> Result<Reply<Platform>, ApiError> {
    let filter = ListQuery::default().filter(&operator)?;
    let one = Paging { offset: 0, limit: 1 };
    let organisations = if operator.scope().is_some() {
        u64::from(filter.organisation_id.is_some())
    } else {
        state.store.organisations(&Filter::default(), one).await?.total
    };
    Ok(reply(Platform {
        version: env!("CARGO_PKG_VERSION").into(),
        protocol: t1c_ds_protocol::PROTOCOL_VERSION.into(),
        uptime_secs: state.started.elapsed().as_secs(),
        database: state.store.backend(),
        organisations,
        labels: state.store.labels(&filter, one).await?.total,
        versions: u64::try_from(state.store.versions().await?.len()).unwrap_or(0),
    }))
}
