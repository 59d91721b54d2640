//! The OpenAPI 3.1 document of the API, generated from the handlers' annotations and served
//! at `/api/openapi.json` (also `target-stack openapi`).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{auth, health, media, public, upload, videos};

#[derive(OpenApi)]
#[openapi(
    info(title = "ANB Rising Stars API", description = "Video upload, processing and voting: the system under test of aforo."),
    paths(
        auth::signup, auth::login,
        upload::upload, videos::list_mine, videos::get_one, videos::delete,
        media::processed, media::original,
        public::list, public::vote, public::rankings,
        health::health,
    ),
    components(schemas(super::ErrorBody)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
