//! The JSON bodies that become domain types: `POST`/`PUT /items` (`NewItem::parse_json`)
//! and `POST /predict` (`predict::parse`). The first byte picks the parser.
//!
//! Properties: no panic; every refusal is a 400 or a 422 (never a 5xx); an accepted item
//! written back as JSON parses to the same item (prices keep their exact cents); accepted
//! predict texts respect the character and batch limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pier::{domain::NewItem, http::error::ApiError, routes::predict};

const MAX_CHARS: u32 = 64;
const MAX_TEXTS: u32 = 8;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        item(body);
    } else {
        prediction(body);
    }
});

fn item(body: &[u8]) {
    match NewItem::parse_json(body) {
        Ok(item) => {
            let mut again = serde_json::json!({ "name": item.name.as_str() });
            if let Some(description) = &item.description {
                again["description"] = description.as_str().into();
            }
            let mut text = again.to_string();
            if let Some(price) = item.price {
                text.pop();
                text.push_str(&format!(r#","price":{price}}}"#));
            }
            let reparsed =
                NewItem::parse_json(text.as_bytes()).expect("an accepted item re-parses");
            assert_eq!(reparsed, item);
        }
        Err(error) => assert_client_error(ApiError::from(error).status().as_u16()),
    }
}

fn prediction(body: &[u8]) {
    match predict::parse(body, MAX_CHARS, MAX_TEXTS) {
        Ok(predict::Input::One(text)) => assert!(text.chars().count() <= MAX_CHARS as usize),
        Ok(predict::Input::Many(texts)) => {
            assert!(texts.len() <= MAX_TEXTS as usize);
            assert!(
                texts
                    .iter()
                    .all(|t| t.chars().count() <= MAX_CHARS as usize)
            );
        }
        Err(error) => assert_client_error(ApiError::from(error).status().as_u16()),
    }
}

fn assert_client_error(status: u16) {
    assert!(
        status == 400 || status == 422,
        "a refusal answered {status}"
    );
}
