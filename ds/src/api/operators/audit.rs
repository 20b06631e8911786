//! `GET /v3_5/audit`: who changed what, newest first, within the caller's organisation.

use axum::extract::{Query, State};

use super::ListQuery;
use crate::api::error::ApiError;
use crate::api::{AppState, Operator, Reply, reply};
use crate::store::{AuditEntry, Listed};

/// `GET /v3_5/audit` (`q` searches the action name)
#[utoipa::path(get, path = "/v3_5/audit", tag = "operators", params(ListQuery),
    responses((status = 200, description = "A page, newest first", body = inline(crate::api::Data<Listed<AuditEntry>>)),
        (status = 400, body = crate::api::error::ErrorBody), (status = 401, body = crate::api::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Operator(operator): Operator,
    Query(query): Query<ListQuery>,
) -> Result<Reply<Listed<AuditEntry>>, ApiError> {
    let filter = query.filter(&operator)?;
    Ok(reply(state.store.audit_log(&filter, query.paging()?).await?))
}
