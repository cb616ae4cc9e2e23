//! `/predict` and `/model/info`: the sentiment model over HTTP.

use std::sync::OnceLock;

use axum::{
    extract::{Request, State},
    response::{IntoResponse, Response},
};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::problems::{InvalidTexts, JsonBodyProblems};
use crate::{
    context::ApiContext,
    domain::json::ObjectFields,
    http::error::{ApiError, FieldErrors},
    http::extract::JsonBody,
    http::response::JsonResponse,
    sentiment::{Label, ModelInfo, Scores},
};

/// Batches with more characters than this are scored on a blocking thread, so a large
/// batch never holds an async worker for long.
const INLINE_CHARS: usize = 20_000;

/// The answer of `POST /predict` (documentation only).
#[derive(ToSchema, serde::Serialize)]
#[serde(untagged)]
#[allow(dead_code)]
#[schema(as = PredictResponse)]
pub enum PredictResponseDoc {
    /// For `text`.
    One(Scores),
    /// For `texts`, in the order sent.
    Many(Vec<Scores>),
}

/// What a client asked to score.
#[derive(Debug)]
pub enum Input {
    /// `{"text": "…"}`.
    One(String),
    /// `{"texts": ["…", …]}`, in the order sent.
    Many(Vec<String>),
}

/// The request schema of `POST /predict` (`PredictRequest`), from the parser's own shape:
/// exactly one of `text` or `texts`, nothing else. The lengths are configuration
/// (`PIER_MAX_TEXT_CHARS`, `PIER_MAX_BATCH_TEXTS`): `routes::docs` writes them in.
impl utoipa::PartialSchema for Input {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
        };
        let closed = || Some(AdditionalProperties::<Schema>::FreeForm(false));
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        let one = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("One text."))
            .property("text", text("Up to `PIER_MAX_TEXT_CHARS` characters."))
            .required("text")
            .additional_properties(closed());
        let many = ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("Several texts, scored in the order sent."))
            .property(
                "texts",
                ArrayBuilder::new()
                    .description(Some(
                        "Up to `PIER_MAX_BATCH_TEXTS` texts of up to `PIER_MAX_TEXT_CHARS` characters each.",
                    ))
                    .items(text("One text of a batch.")),
            )
            .required("texts")
            .additional_properties(closed());
        OneOfBuilder::new()
            .description(Some(
                "The body of `POST /predict`: exactly one of `text` or `texts`; every \
                 problem is reported per field.",
            ))
            .item(one)
            .item(many)
            .into()
    }
}

impl ToSchema for Input {
    fn name() -> std::borrow::Cow<'static, str> {
        "PredictRequest".into()
    }
}

/// The common request, `{"text": "…"}` and nothing else, read without intermediate maps.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OneText<'a> {
    #[serde(borrow)]
    text: std::borrow::Cow<'a, str>,
}

/// Reads a `/predict` body within the text and batch limits; public so the fuzz target
/// can drive it with arbitrary bytes.
pub fn parse(body: &[u8], max_chars: u32, max_texts: u32) -> Result<Input, ApiError> {
    if let Ok(one) = serde_json::from_slice::<OneText>(body)
        && one.text.chars().count() <= max_chars as usize
    {
        return Ok(Input::One(one.text.into_owned()));
    }
    // Anything else (including every error, and a field sent twice) takes the path that
    // explains itself.
    let fields = ObjectFields::parse(body)?;
    let too_long = |chars: usize| format!("must be at most {max_chars} characters (got {chars})");
    if let Some(unknown) = fields.unknown(&["text", "texts"]).next() {
        let shown: String = unknown.chars().take(40).collect();
        return Err(ApiError::field(
            "body",
            format!("unknown field `{shown}`; send only `text` or `texts`"),
        ));
    }
    match (fields.get("text"), fields.get("texts")) {
        (Some(_), Some(_)) => Err(ApiError::field(
            "body",
            "send either `text` or `texts`, not both",
        )),
        (None, None) => Err(ApiError::field(
            "body",
            "send `text` (a string) or `texts` (a list of strings)",
        )),
        (Some(raw), None) => {
            let text: String = serde_json::from_str(raw)
                .map_err(|_| ApiError::field("text", "must be a string"))?;
            let chars = text.chars().count();
            if chars > max_chars as usize {
                return Err(ApiError::field("text", too_long(chars)));
            }
            Ok(Input::One(text))
        }
        (None, Some(raw)) => {
            let texts: Vec<Box<RawValue>> = serde_json::from_str(raw)
                .map_err(|_| ApiError::field("texts", "must be a list of strings"))?;
            if texts.len() > max_texts as usize {
                return Err(ApiError::field(
                    "texts",
                    format!("must hold at most {max_texts} texts (got {})", texts.len()),
                ));
            }
            let mut errors = FieldErrors::new();
            let mut parsed = Vec::with_capacity(texts.len());
            for (index, raw) in texts.iter().enumerate() {
                match serde_json::from_str::<String>(raw.get()) {
                    Ok(text) => {
                        let chars = text.chars().count();
                        if chars > max_chars as usize {
                            errors
                                .entry(format!("texts[{index}]"))
                                .or_default()
                                .push(too_long(chars));
                        }
                        parsed.push(text);
                    }
                    Err(_) => errors
                        .entry(format!("texts[{index}]"))
                        .or_default()
                        .push("must be a string".into()),
                }
            }
            if errors.is_empty() {
                Ok(Input::Many(parsed))
            } else {
                Err(ApiError::validation(errors))
            }
        }
    }
}

/// Counts a prediction by label; the three counters are resolved once.
fn count(label: Label) {
    static COUNTERS: OnceLock<[metrics::Counter; 3]> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        [Label::Positive, Label::Neutral, Label::Negative]
            .map(|l| metrics::counter!(crate::telemetry::names::PREDICTIONS_TOTAL, "label" => l.as_str()))
    });
    counters[label as usize].increment(1);
}

/// Score one text (`{text}`) or a batch (`{texts: […]}`, answered as a list in order).
#[utoipa::path(operation_id = "predict", post, path = "/predict", tag = "sentiment",
    request_body(content = Input, content_type = "application/json"),
    responses(
        (status = 200, description = "Scores for `text`, or a list of scores for `texts` in the order sent", body = PredictResponseDoc),
        JsonBodyProblems,
        InvalidTexts,
    ))]
pub async fn predict(
    State(ctx): State<ApiContext>,
    request: Request,
) -> Result<Response, ApiError> {
    let JsonBody(body) = JsonBody::read(request, ctx.limits.bodies.max_predict_bytes).await?;
    match parse(
        &body,
        ctx.limits.bodies.max_text_chars,
        ctx.limits.bodies.max_batch_texts,
    )? {
        Input::One(text) => {
            let scores = ctx.model.score(&text);
            count(scores.label);
            Ok(JsonResponse::new(scores, 96).into_response())
        }
        Input::Many(texts) => {
            let chars: usize = texts.iter().map(String::len).sum();
            let model = ctx.model.clone();
            let score_all = move || {
                texts
                    .iter()
                    .map(|t| model.score(t))
                    .collect::<Vec<Scores>>()
            };
            let scores = if chars > INLINE_CHARS {
                tokio::task::spawn_blocking(score_all)
                    .await
                    .map_err(|e| ApiError::Internal(e.into()))?
            } else {
                score_all()
            };
            for s in &scores {
                count(s.label);
            }
            let capacity = 2 + scores.len() * 96;
            Ok(JsonResponse::new(scores, capacity).into_response())
        }
    }
}

/// The model's name, lexicon version and size, and the label thresholds.
#[utoipa::path(operation_id = "model_info", get, path = "/model/info", tag = "sentiment",
    responses((status = 200, description = "About the model", body = ModelInfo)))]
pub async fn model_info(State(ctx): State<ApiContext>) -> JsonResponse<ModelInfo> {
    JsonResponse::new(ctx.model.info(), 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_rules() {
        assert!(matches!(
            parse(br#"{"text":"good"}"#, 10, 3),
            Ok(Input::One(_))
        ));
        assert!(
            matches!(parse(br#"{"texts":["a","b"]}"#, 10, 3), Ok(Input::Many(v)) if v.len() == 2)
        );
        assert!(matches!(parse(br#"{"texts":[]}"#, 10, 3), Ok(Input::Many(v)) if v.is_empty()));
        for (body, field) in [
            (&br#"{"text":"a","texts":[]}"#[..], "body"),
            (br#"{}"#, "body"),
            (br#"{"text":"a","extra":1}"#, "body"),
            (br#"[]"#, "body"),
            (br#"{"text":null}"#, "text"),
            (br#"{"text":5}"#, "text"),
            (br#"{"text":"elevenchars"}"#, "text"),
            (br#"{"texts":"a"}"#, "texts"),
            (br#"{"texts":["a","b","c","d"]}"#, "texts"),
            (br#"{"texts":["a",1]}"#, "texts[1]"),
            (br#"{"texts":["a","elevenchars"]}"#, "texts[1]"),
        ] {
            match parse(body, 10, 3) {
                Err(ApiError::Validation { errors, .. }) => {
                    assert!(errors.contains_key(field), "{errors:?}")
                }
                _ => panic!(
                    "{} should be a 422 on {field}",
                    String::from_utf8_lossy(body)
                ),
            }
        }
        assert!(matches!(parse(b"{", 10, 3), Err(ApiError::BadRequest(_))));
        for twice in [
            &br#"{"text":"good","text":"awful"}"#[..],
            br#"{"texts":["a"],"texts":["b"]}"#,
        ] {
            assert!(
                matches!(parse(twice, 10, 3), Err(ApiError::BadRequest(_))),
                "{}",
                String::from_utf8_lossy(twice)
            );
        }
    }
}
