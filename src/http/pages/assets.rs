//! Static assets (CSS, JS, icons) embedded in the binary and served under `/assets/`.

use actix_web::{http::header, web, HttpResponse};
use rust_embed::RustEmbed;

use crate::error::{not_found, AppError};

#[derive(RustEmbed)]
#[folder = "assets/"]
struct AssetFiles;

/// `GET /assets/{path}`.
pub async fn serve(path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let file = AssetFiles::get(&path).ok_or_else(|| not_found(format!("no asset {path}")))?;
    let mime = mime_guess::from_path(path.as_str()).first_or_octet_stream();
    Ok(HttpResponse::Ok()
        .content_type(mime.as_ref())
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(file.data.into_owned()))
}
