//! `/openapi.json` and `/docs`: the OpenAPI 3.1 document generated from the handlers,
//! and Swagger UI vendored into the binary (no CDN, works offline).

use axum::Router;
use axum::{
    extract::Path,
    http::{HeaderMap, header},
    routing::get,
};
use serde_json::{Value, json};
use utoipa::OpenApi;

use crate::context::Limits;

/// The OpenAPI 3.1 document's frame; the paths are added by `routes::router` as each
/// route is registered.
#[derive(OpenApi)]
#[openapi(
    info(title = "pier", description = "Image gallery, items catalogue and sentiment model. Errors are RFC 9457 problem+json."),
    components(schemas(crate::http::error::Problem, crate::routes::images::LadderSize)),
    tags(
        (name = "items", description = "The catalogue"),
        (name = "images", description = "Upload, list, fetch and delete images"),
        (name = "sentiment", description = "The sentiment model (VADER)"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// Media types accepted in an upload's `file` parts, as the document's `encoding` says.
const IMAGE_TYPES: &str = "image/png, image/jpeg, image/gif, image/webp";

/// The document as served: the generated one plus what depends on configuration (the
/// file count limit) and what the derive cannot express (multipart part encodings).
pub fn openapi_document(generated: utoipa::openapi::OpenApi, limits: &Limits) -> Value {
    let mut doc = serde_json::to_value(generated).expect("the OpenAPI document serialises");
    doc["paths"]["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["encoding"] =
        json!({ "file": { "contentType": IMAGE_TYPES } });
    // A prediction body's limits as configured (the schema holds their defaults).
    let predict = &mut doc["components"]["schemas"]["PredictRequest"]["oneOf"];
    predict[0]["properties"]["text"]["maxLength"] = json!(limits.bodies.max_text_chars);
    let texts = &mut predict[1]["properties"]["texts"];
    texts["maxItems"] = json!(limits.bodies.max_batch_texts);
    texts["items"]["maxLength"] = json!(limits.bodies.max_text_chars);
    // An image is served with the media type its bytes were sniffed as.
    let image_content: serde_json::Map<String, Value> = IMAGE_TYPES
        .split(", ")
        .map(|media| {
            (
                media.to_owned(),
                json!({ "schema": { "type": "string", "format": "binary" } }),
            )
        })
        .collect();
    for status in ["200", "206"] {
        doc["paths"]["/image/{id}"]["get"]["responses"][status]["content"] =
            Value::Object(image_content.clone());
    }
    // Links let clients (and schemathesis' stateful phase) follow an upload to its image.
    doc["paths"]["/upload"]["post"]["responses"]["201"]["links"] = json!({
        "GetImage": { "operationId": "get_image", "parameters": { "id": "$response.body#/images/0/id" } },
        "GetThumbnail": { "operationId": "get_thumbnail", "parameters": { "id": "$response.body#/images/0/id" } },
        "DeleteImage": { "operationId": "delete_image", "parameters": { "id": "$response.body#/images/0/id" } },
    });
    doc["components"]["schemas"]["UploadForm"]["properties"]["file"]["maxItems"] =
        json!(limits.uploads.max_files_per_upload);
    if limits.writes_need_token {
        require_bearer_on_writes(&mut doc);
    }
    doc
}

/// With `PIER_API_TOKENS` set: the `bearer` security scheme, required (with its 401
/// answer) on every POST, PUT, PATCH and DELETE but `/predict`, which changes nothing. Without it the document declares no
/// scheme, since none is enforced.
fn require_bearer_on_writes(doc: &mut Value) {
    doc["components"]["securitySchemes"]["bearer"] = json!({
        "type": "http",
        "scheme": "bearer",
        "description": "An API token of PIER_API_TOKENS; reads need none",
    });
    let unauthorized = json!({
        "description": "No valid bearer token: a problem, with `WWW-Authenticate: Bearer`",
        "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } },
        "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } },
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            if crate::http::middleware::PUBLIC_POSTS.contains(&path.as_str()) {
                continue;
            }
            for method in ["post", "put", "patch", "delete"] {
                if let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) {
                    operation.insert("security".into(), json!([{ "bearer": [] }]));
                    if let Some(responses) = operation
                        .get_mut("responses")
                        .and_then(Value::as_object_mut)
                    {
                        responses.insert("401".into(), unauthorized.clone());
                    }
                }
            }
        }
    }
}

/// Routes for `/openapi.json` and the docs UI under `/docs` (see `page::docs`).
pub fn router<S: Clone + Send + Sync + 'static>(
    generated: utoipa::openapi::OpenApi,
    limits: &Limits,
) -> Router<S> {
    let document = bytes::Bytes::from(openapi_document(generated, limits).to_string());
    Router::new()
        .route(
            "/openapi.json",
            get(move || {
                let document = document.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], document) }
            }),
        )
        .route(
            "/docs",
            get(|| async { axum::response::Redirect::permanent("/docs/") }),
        )
        .route(
            "/docs/",
            get(|headers: HeaderMap| super::page::docs(headers, None)),
        )
        .route(
            "/docs/{file}",
            get(|headers: HeaderMap, file: Path<String>| super::page::docs(headers, Some(file))),
        )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;
    use crate::domain::{Description, ItemName};

    fn limits() -> Limits {
        let settings = <crate::cli::Cli as clap::Parser>::parse_from(["pier"]).settings;
        Limits {
            uploads: settings.uploads,
            bodies: settings.bodies,
            writes_need_token: false,
        }
    }

    /// The document as served, built by the same router the server uses.
    fn document() -> Value {
        openapi_document(crate::routes::generated_document(), &limits())
    }

    fn name_pattern() -> regex::Regex {
        let doc = document();
        let pattern = doc["components"]["schemas"]["ItemInput"]["properties"]["name"]["pattern"]
            .as_str()
            .unwrap()
            .to_owned();
        regex::Regex::new(&pattern).unwrap()
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut seen = HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
                assert!(seen.insert(id.to_owned()), "duplicate operationId {id}");
            }
        }
    }

    #[test]
    fn the_documented_name_rule_is_the_server_rule() {
        let pattern = name_pattern();
        let long = "a".repeat(200);
        let too_long = "a".repeat(201);
        let padded = format!("  {long}\u{3000}");
        for name in [
            "a", " a ", "", " ", "\t\n", "a\u{0}b", "a\nb", "\na\n", "\u{85}a", "a\u{a0}b",
            "\u{feff}", "é", &long, &too_long, &padded,
        ] {
            assert_eq!(
                pattern.is_match(name),
                ItemName::parse(name).is_ok(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn pattern_and_parser_agree_on_every_code_point() {
        let name = name_pattern();
        let doc = document();
        let description = regex::Regex::new(
            doc["components"]["schemas"]["ItemInput"]["properties"]["description"]["pattern"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            for text in [
                c.to_string(),
                format!("a{c}b"),
                format!("{c}a"),
                format!("a{c}"),
            ] {
                assert_eq!(
                    name.is_match(&text),
                    ItemName::parse(&text).is_ok(),
                    "name {text:?} (U+{:04X})",
                    u32::from(c)
                );
                assert_eq!(
                    description.is_match(&text),
                    Description::parse(&text).is_ok(),
                    "description {text:?} (U+{:04X})",
                    u32::from(c)
                );
            }
        }
    }

    proptest! {
        #[test]
        fn pattern_and_parser_agree_on_any_string(name in "[ \\t\\n\\r\\u{0}-\\u{1f}\\u{7f}-\\u{a0}\\u{2000}-\\u{2030}\\u{3000}\\u{feff}\\u{e0041}a-cé😀]{0,205}") {
            prop_assert_eq!(name_pattern().is_match(&name), ItemName::parse(&name).is_ok(), "{:?}", name);
        }
    }
}
