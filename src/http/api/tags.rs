//! `GET /api/v1/tags/{name}`: a tag's display form, counts and curation;
//! `PATCH /api/v1/tags/{name}`: designers, analysts and admins curate it or merge it into
//! another tag.

use actix_web::{web, HttpResponse};

use crate::app::audit::Actor;
use crate::app::views::TagView;
use crate::app::vocabulary::{self, curate, CurationPatch};
use crate::app::vocabulary::{load, view};
use crate::app_state::AppState;
use crate::auth::AuthUser;
use crate::db::aliases;
use crate::error::{AppError, ErrorBody};
use crate::http::client::ClientAddr;
use crate::http::query::NoParams;

/// A tag with post count, distinct incidents, first and last seen.
#[utoipa::path(get, path = "/api/v1/tags/{name}", operation_id = "get_tag", responses((status = 200, body = TagView), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    _auth: AuthUser,
    name: web::Path<String>,
    _params: web::Query<NoParams>,
) -> Result<HttpResponse, AppError> {
    let view = state.db.read(move |conn| load(conn, &name)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// A change to a tag's curation; fields left out stay as they are.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurateTag {
    /// At most 500 characters; "" clears it.
    pub description: Option<String>,
    /// `service`, `symptom`, `cause`, `customer-impact`, `workaround`, a custom word, or null.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub kind: Option<Option<String>>,
    pub hidden_from_trends: Option<bool>,
    /// Merge this tag into another as its alias (a tag name), or `null` to un-merge it.
    /// Timelines, search, counts and trends then read the two as one tag; the rollups are
    /// recounted from the posts, which takes a moment on a large instance.
    #[serde(default, deserialize_with = "super::present")]
    #[schema(value_type = Option<String>)]
    pub alias_of: Option<Option<String>>,
}

/// Describe a tag, give it a type, or hide it from trends (designers, analysts, admins).
#[utoipa::path(patch, path = "/api/v1/tags/{name}", operation_id = "update_tag", request_body = CurateTag,
    responses((status = 200, body = TagView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    state: web::Data<AppState>,
    auth: AuthUser,
    client: ClientAddr,
    name: web::Path<String>,
    body: web::Json<CurateTag>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let patch = CurationPatch {
        description: body.description,
        kind: body.kind,
        hidden_from_trends: body.hidden_from_trends,
    };
    let curates = patch.description.is_some() || patch.kind.is_some() || patch.hidden_from_trends.is_some();
    let (user, actor) = (auth.user.clone(), Actor::user(&auth.user, client.text()));
    let view = state
        .db
        .write(move |conn| {
            let mut tag = vocabulary::named(conn, &name)?;
            match &body.alias_of {
                Some(Some(into)) => {
                    vocabulary::merge(conn, &user, &actor, &name, into)?;
                }
                Some(None) => tag = vocabulary::unmerge(conn, &user, &actor, &name)?,
                None => {}
            }
            if curates || body.alias_of.is_none() {
                // Curation applies to the canonical tag: an alias has no trends of its own.
                let canonical = aliases::canonical_tag(conn, tag.clone())?;
                curate(conn, &user, &actor, &canonical.key, &patch)?;
            }
            view(conn, &tag)
        })
        .await?;
    Ok(HttpResponse::Ok().json(view))
}
