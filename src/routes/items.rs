//! `/items`: the catalogue, with keyset paging and exact prices.

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::problems::{BadPaging, InvalidItem, JsonBodyProblems, NoSuchItem};
use crate::{
    context::ApiContext,
    domain::{ItemId, NewItem, PageLimit},
    http::error::ApiError,
    http::extract::{JsonBody, QueryParams},
    http::response::JsonResponse,
    store::Item,
};

/// One page of items.
#[derive(Serialize, ToSchema)]
pub struct ItemPage {
    /// Items in ascending id order.
    pub items: Vec<Item>,
    /// Pass as `after` for the next page; null on the last page.
    pub next: Option<ItemId>,
}

/// Parses an id from the path; an id that cannot exist is simply not found.
fn item_id(raw: &str) -> Result<ItemId, ApiError> {
    raw.parse::<ItemId>()
        .ok()
        .filter(|id| *id > 0 && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| not_found(raw))
}

fn not_found(raw: &str) -> ApiError {
    let shown: String = raw.chars().take(40).collect();
    ApiError::NotFound(format!("no item with id `{shown}`"))
}

/// Create an item.
#[utoipa::path(operation_id = "create_item", post, path = "/items", tag = "items",
    request_body(content = NewItem, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = Item, headers(("Location" = String, description = "URL of the new item"))),
        JsonBodyProblems,
        InvalidItem,
    ))]
pub async fn create(
    State(ctx): State<ApiContext>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let new = NewItem::parse_json(&body)?;
    let item = ctx.catalogue.create(&new).await?;
    let location = HeaderValue::from_str(&format!("/items/{}", item.id))
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(item),
    )
        .into_response())
}

/// List items in ascending id order, a page at a time.
#[utoipa::path(operation_id = "list_items", get, path = "/items", tag = "items",
    params(
        ("limit" = Option<u16>, Query, description = "Page size, 1..=1000 (default 50)", minimum = 1, maximum = 1000),
        ("after" = Option<i64>, Query, description = "Only items with ids greater than this (the previous page's `next`)"),
    ),
    responses(
        (status = 200, description = "A page of items", body = ItemPage),
        BadPaging,
    ))]
pub async fn list(
    State(ctx): State<ApiContext>,
    query: QueryParams,
) -> Result<JsonResponse<ItemPage>, ApiError> {
    let limit = PageLimit::parse(query.get("limit"))?;
    let after = query
        .get("after")
        .map(|raw| {
            raw.parse::<ItemId>()
                .map_err(|_| ApiError::field("after", "must be an item id (a whole number)"))
        })
        .transpose()?;
    let (items, next) = ctx.catalogue.page(after, limit).await?;
    let capacity = 64
        + items
            .iter()
            .map(|i| 160 + i.name.len() + i.description.as_ref().map_or(0, String::len))
            .sum::<usize>();
    Ok(JsonResponse::new(ItemPage { items, next }, capacity))
}

/// Fetch one item.
#[utoipa::path(operation_id = "get_item", get, path = "/items/{id}", tag = "items",
    params(("id" = i64, Path, description = "Item id")),
    responses(
        (status = 200, description = "The item", body = Item),
        NoSuchItem,
    ))]
pub async fn get(
    State(ctx): State<ApiContext>,
    Path(raw): Path<String>,
) -> Result<JsonResponse<Item>, ApiError> {
    let id = item_id(&raw)?;
    ctx.catalogue
        .get(id)
        .await?
        .map(|item| JsonResponse::new(item, 256))
        .ok_or_else(|| not_found(&raw))
}

/// Replace an item entirely: omitted optional fields become null.
#[utoipa::path(operation_id = "replace_item", put, path = "/items/{id}", tag = "items",
    params(("id" = i64, Path, description = "Item id")),
    request_body(content = NewItem, content_type = "application/json"),
    responses(
        (status = 200, description = "The replaced item", body = Item),
        JsonBodyProblems,
        NoSuchItem,
        InvalidItem,
    ))]
pub async fn replace(
    State(ctx): State<ApiContext>,
    Path(raw): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<JsonResponse<Item>, ApiError> {
    let id = item_id(&raw)?;
    let new = NewItem::parse_json(&body)?;
    ctx.catalogue
        .replace(id, &new)
        .await?
        .map(|item| JsonResponse::new(item, 256))
        .ok_or_else(|| not_found(&raw))
}

/// Delete an item.
#[utoipa::path(operation_id = "delete_item", delete, path = "/items/{id}", tag = "items",
    params(("id" = i64, Path, description = "Item id")),
    responses(
        (status = 204, description = "Deleted"),
        NoSuchItem,
    ))]
pub async fn delete(
    State(ctx): State<ApiContext>,
    Path(raw): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = item_id(&raw)?;
    if ctx.catalogue.delete(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(&raw))
    }
}
