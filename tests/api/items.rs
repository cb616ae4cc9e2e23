//! `/items`: create, read, list with keyset paging, replace, delete, and every rule.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

async fn count_items(app: &crate::helpers::TestApp) -> usize {
    let page: Value = app.get("/items?limit=1000").await.json().await.unwrap();
    page["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn create_returns_201_location_and_the_item() {
    let app = spawn_app().await;
    let response = app
        .post_json(
            "/items",
            &json!({"name": "  Desk lamp ", "description": "warm", "price": 19.99}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let item: Value = response.json().await.unwrap();
    assert_eq!(location, format!("/items/{}", item["id"]));
    assert_eq!(item["name"], "Desk lamp");
    assert_eq!(item["description"], "warm");
    assert_eq!(item["created_at"], item["updated_at"]);
    let created = item["created_at"].as_str().unwrap();
    assert!(
        created.ends_with('Z')
            && time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
                .is_ok()
    );

    let fetched = app.get(&location).await;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.json::<Value>().await.unwrap(), item);
}

#[tokio::test]
async fn prices_come_back_exactly_as_sent() {
    let app = spawn_app().await;
    for (sent, expected) in [
        ("19.99", "19.99"),
        ("0.1", "0.10"),
        ("5", "5.00"),
        ("999999999999.99", "999999999999.99"),
        ("1.5e2", "150.00"),
    ] {
        let body = format!(r#"{{"name":"p","price":{sent}}}"#);
        let response = app
            .client
            .post(app.url("/items"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{sent}");
        let text = response.text().await.unwrap();
        assert!(
            text.contains(&format!(r#""price":{expected}"#)),
            "{sent} came back as {text}"
        );
    }
    let absent: Value = app.create_item(&json!({"name": "no price"})).await;
    assert_eq!(absent["price"], Value::Null);
    assert_eq!(absent["description"], Value::Null);
}

#[tokio::test]
async fn list_pages_by_keyset_in_ascending_id_order() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..7 {
        let item: Value = app.create_item(&json!({"name": format!("item {n}")})).await;
        ids.push(item["id"].as_i64().unwrap());
    }
    let mut seen = Vec::new();
    let mut after: Option<i64> = None;
    for _ in 0..10 {
        let path = match after {
            Some(a) => format!("/items?limit=3&after={a}"),
            None => "/items?limit=3".into(),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_i64().unwrap()),
        );
        match page["next"].as_i64() {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    let default: Value = app.get("/items").await.json().await.unwrap();
    assert_eq!(default["items"].as_array().unwrap().len(), 7);
    assert_eq!(default["next"], Value::Null);
    let exact: Value = app.get("/items?limit=7").await.json().await.unwrap();
    assert_eq!(exact["next"], Value::Null, "a full last page has no next");
    let tail: Value = app
        .get(&format!("/items?after={}", ids[5]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tail["items"][0]["id"].as_i64(), Some(ids[6]));
}

#[tokio::test]
async fn put_replaces_every_field() {
    let app = spawn_app().await;
    let item: Value = app
        .create_item(&json!({"name": "a", "description": "d", "price": 1}))
        .await;
    let path = format!("/items/{}", item["id"]);
    let response = app.put_json(&path, &json!({"name": "b"})).await;
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(replaced["name"], "b");
    assert_eq!(
        replaced["description"],
        Value::Null,
        "omitted optional fields become null"
    );
    assert_eq!(replaced["price"], Value::Null);
    assert_eq!(replaced["created_at"], item["created_at"]);
    assert_eq!(
        app.get(&path).await.json::<Value>().await.unwrap(),
        replaced
    );
    assert_problem(
        app.put_json("/items/999999", &json!({"name": "x"})).await,
        404,
    )
    .await;
}

#[tokio::test]
async fn delete_removes_and_then_404s() {
    let app = spawn_app().await;
    let item: Value = app.create_item(&json!({"name": "a"})).await;
    let path = format!("/items/{}", item["id"]);
    assert_eq!(app.delete(&path).await.status(), 204);
    assert_problem(app.get(&path).await, 404).await;
    assert_problem(app.delete(&path).await, 404).await;
    // Ids are never reused.
    let next: Value = app.create_item(&json!({"name": "b"})).await;
    assert!(next["id"].as_i64() > item["id"].as_i64());
}

#[tokio::test]
async fn every_field_rule_gives_422_and_changes_nothing() {
    let app = spawn_app().await;
    app.post_json("/items", &json!({"name": "keep"})).await;
    let cases = [
        (json!({}), "name"),
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": 5}), "name"),
        (json!({"name": "a\u{0}b"}), "name"),
        (
            json!({"name": "a", "description": "x".repeat(5001)}),
            "description",
        ),
        (json!({"name": "a", "description": 5}), "description"),
        (json!({"name": "a", "price": -0.01}), "price"),
        (json!({"name": "a", "price": 1.999}), "price"),
        (json!({"name": "a", "price": 1e12}), "price"),
        (json!({"name": "a", "price": "19.99"}), "price"),
        (json!({"name": "a", "price": true}), "price"),
        (json!([1, 2]), "body"),
        (json!("name"), "body"),
    ];
    for (body, field) in cases {
        let problem = assert_problem(app.post_json("/items", &body).await, 422).await;
        assert!(problem["errors"][field].is_array(), "{body} → {problem}");
    }
    // Several broken fields are all reported at once.
    let problem = assert_problem(
        app.post_json("/items", &json!({"name": "", "price": -1}))
            .await,
        422,
    )
    .await;
    assert!(problem["errors"]["name"].is_array() && problem["errors"]["price"].is_array());
    // 200 characters after trimming is fine; non-ASCII counts characters, not bytes.
    assert_eq!(
        app.post_json(
            "/items",
            &json!({"name": format!("  {}  ", "é".repeat(200))})
        )
        .await
        .status(),
        201
    );
    assert_eq!(count_items(&app).await, 2);
}

#[tokio::test]
async fn malformed_oversize_and_non_json_bodies_are_refused() {
    let app = spawn_app().await;
    let send = |body: Vec<u8>, content_type: Option<&'static str>| {
        let mut request = app.client.post(app.url("/items")).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let huge = format!(r#"{{"name":"a","description":"{}"}}"#, "x".repeat(200_000));
    let cases: [(&[u8], Option<&'static str>, u16); 6] = [
        (b"{\"name\": ", Some("application/json"), 400),
        (b"not json", Some("application/json"), 400),
        (b"", Some("application/json"), 400),
        (b"{\"name\":\"a\"}", Some("text/plain"), 415),
        (b"{\"name\":\"a\"}", None, 415),
        (huge.as_bytes(), Some("application/json"), 413),
    ];
    for (body, content_type, status) in cases {
        assert_problem(send(body.to_vec(), content_type).await.unwrap(), status).await;
    }
    // The same rules on PUT.
    let item: Value = app.create_item(&json!({"name": "a"})).await;
    let path = format!("/items/{}", item["id"]);
    let put = app
        .client
        .put(app.url(&path))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_problem(put, 400).await;
    let put = app
        .client
        .put(app.url(&path))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(put, 415).await;
    assert_eq!(
        app.get(&path).await.json::<Value>().await.unwrap(),
        item,
        "refused writes change nothing"
    );
    assert_eq!(count_items(&app).await, 1);
}

#[tokio::test]
async fn paging_parameters_are_validated() {
    let app = spawn_app().await;
    for query in [
        "limit=0",
        "limit=1001",
        "limit=abc",
        "limit=-5",
        "limit=",
        "after=abc",
        "after=1.5",
        "after=99999999999999999999",
    ] {
        let problem = assert_problem(app.get(&format!("/items?{query}")).await, 422).await;
        assert!(problem["errors"].is_object(), "{query}");
    }
    assert_eq!(app.get("/items?limit=1000&after=-3").await.status(), 200);
}

#[tokio::test]
async fn unknown_ids_of_every_shape_are_404() {
    let app = spawn_app().await;
    for id in [
        "0",
        "-1",
        "999999",
        "abc",
        "1.5",
        "99999999999999999999",
        "%00",
        "1%2F2",
        "+1",
        "%20",
        "%E2%82%AC",
    ] {
        for method in ["GET", "PUT", "DELETE"] {
            let request = app
                .client
                .request(method.parse().unwrap(), app.url(&format!("/items/{id}")));
            let request = if method == "PUT" {
                request.json(&json!({"name": "x"}))
            } else {
                request
            };
            assert_problem(request.send().await.unwrap(), 404).await;
        }
    }
}
