//! Items of the catalogue: names, descriptions and exact decimal prices.

use std::fmt;

use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::{json::ObjectFields, text};
use crate::domain::refusal::{FieldErrors, Refusal};

/// An item's id: a positive 64-bit integer handed out by the database, never reused.
pub type ItemId = i64;

/// An item name: 1..=200 Unicode scalar values after trimming whitespace and joiners,
/// none of them invisible (the rule of [`text`]: no controls, bidirectional overrides,
/// zero-width or other format characters, or separators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemName(String);

impl ItemName {
    /// Longest name, in characters.
    pub const MAX_CHARS: usize = 200;

    /// Parses a name sent by a client.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = text::trim(raw);
        if trimmed.is_empty() {
            return Err("must not be empty or only whitespace".into());
        }
        if let Some(c) = text::first_refused(trimmed) {
            return Err(format!(
                "must not contain invisible or control characters (found {})",
                text::code_point(c)
            ));
        }
        let chars = trimmed.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters (got {chars})",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An optional item description: at most 5000 characters, line breaks and tabs allowed,
/// nothing else invisible (the rule of [`text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description(String);

impl Description {
    /// Longest description, in characters.
    pub const MAX_CHARS: usize = 5000;

    /// Parses a description sent by a client.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let chars = raw.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters (got {chars})",
                Self::MAX_CHARS
            ));
        }
        if let Some(c) = text::first_refused_multiline(raw) {
            return Err(format!(
                "must not contain invisible or control characters other than line breaks and tabs (found {})",
                text::code_point(c)
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The description as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A non-negative price with at most two fraction digits, held exactly as whole cents.
///
/// Parsed from the JSON number's own text, so no binary float is ever involved:
/// `19.99` is 1999 cents and is written back as `19.99`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Price(i64);

impl Price {
    /// Largest price: 999 999 999 999.99.
    pub const MAX_CENTS: i64 = 99_999_999_999_999;

    /// Parses the text of a JSON number (`19.99`, `5`, `1.5e2`, `0.10`).
    pub fn parse_json_number(text: &str) -> Result<Self, String> {
        const NOT_A_NUMBER: &str = "must be a number";
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], &text[at + 1..]),
            None => (text, "0"),
        };
        let exponent: i64 = exponent
            .strip_prefix('+')
            .unwrap_or(exponent)
            .parse()
            .map_err(|_| NOT_A_NUMBER.to_owned())?;
        let (negative, unsigned) = match mantissa.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, mantissa),
        };
        let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let valid_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty()
            || !valid_digits(int_part)
            || !valid_digits(frac_part)
            || (unsigned.contains('.') && frac_part.is_empty())
        {
            return Err(NOT_A_NUMBER.into());
        }
        // value = digits × 10^(exponent − frac_len); cents = value × 100.
        let digits = format!("{int_part}{frac_part}");
        let digits = digits.trim_start_matches('0');
        let shift = exponent
            .checked_sub(frac_part.len() as i64)
            .and_then(|e| e.checked_add(2))
            .ok_or_else(|| "is out of range".to_owned())?;
        let out_of_range = || "must be at most 999999999999.99".to_owned();
        let cents: i64 = if digits.is_empty() {
            0
        } else if shift >= 0 {
            if shift > 18 || digits.len() > 18 {
                return Err(out_of_range());
            }
            let base: i64 = digits.parse().map_err(|_| out_of_range())?;
            base.checked_mul(10i64.pow(shift as u32))
                .ok_or_else(out_of_range)?
        } else {
            let drop = (-shift) as usize;
            let significant = digits.trim_end_matches('0');
            let trailing_zeros = digits.len() - significant.len();
            if drop > trailing_zeros {
                return Err("must have at most 2 fraction digits".into());
            }
            let kept = &digits[..digits.len() - drop];
            if kept.len() > 18 {
                return Err(out_of_range());
            }
            kept.parse().map_err(|_| out_of_range())?
        };
        if negative && cents != 0 {
            return Err("must not be negative".into());
        }
        if cents > Self::MAX_CENTS {
            return Err(out_of_range());
        }
        Ok(Self(cents))
    }

    /// A price from whole cents as stored; `None` when outside the valid range.
    pub fn from_cents(cents: i64) -> Option<Self> {
        (0..=Self::MAX_CENTS)
            .contains(&cents)
            .then_some(Self(cents))
    }

    /// The price in whole cents.
    pub fn cents(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Serialize for Price {
    /// Written as a JSON number with two fraction digits, from its decimal text.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(self.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// A valid item as sent by a client for create and full replace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewItem {
    /// Required name.
    pub name: ItemName,
    /// Optional description; omitted or `null` means none.
    pub description: Option<Description>,
    /// Optional price; omitted or `null` means none.
    pub price: Option<Price>,
}

impl NewItem {
    /// The fields an item body may have.
    pub const FIELDS: [&str; 3] = ["name", "description", "price"];

    /// Parses a JSON body. Malformed JSON, or a field sent twice, is a 400; JSON that
    /// breaks a rule is a 422 with every failing field listed (an unknown field too), so
    /// a form can show all messages at once.
    pub fn parse_json(body: &[u8]) -> Result<Self, Refusal> {
        let fields = ObjectFields::parse(body)?;
        let mut errors = FieldErrors::new();
        let mut fail = |field: &str, message: String| {
            errors.entry(field.to_owned()).or_default().push(message)
        };
        for unknown in fields.unknown(&Self::FIELDS) {
            let shown: String = unknown.chars().take(40).collect();
            fail(
                &shown,
                "is not a field of an item; the fields are name, description and price".into(),
            );
        }

        let name = match fields.get("name") {
            None | Some("null") => {
                fail("name", "is required".into());
                None
            }
            Some(raw) => match serde_json::from_str::<String>(raw) {
                Ok(text) => ItemName::parse(&text).map_err(|m| fail("name", m)).ok(),
                Err(_) => {
                    fail("name", "must be a string".into());
                    None
                }
            },
        };
        let description = match fields.get("description") {
            None | Some("null") => None,
            Some(raw) => match serde_json::from_str::<String>(raw) {
                Ok(text) => Description::parse(&text)
                    .map_err(|m| fail("description", m))
                    .ok(),
                Err(_) => {
                    fail("description", "must be a string or null".into());
                    None
                }
            },
        };
        let price = match fields.get("price") {
            None | Some("null") => None,
            Some(raw) => Price::parse_json_number(raw)
                .map_err(|m| fail("price", m))
                .ok(),
        };
        match name {
            Some(name) if errors.is_empty() => Ok(Self {
                name,
                description,
                price,
            }),
            _ => Err(Refusal::Invalid(errors)),
        }
    }
}

/// The request schema of an item body (`ItemInput` in the OpenAPI document), built from
/// the parser's own rules: the field names, the length limits and the text patterns are
/// those [`NewItem::parse_json`] enforces, so the document cannot drift from the code.
/// (Written out rather than derived: a derive takes only literal limits and patterns.)
impl utoipa::PartialSchema for NewItem {
    // `example` (not 3.1's `examples`): the document keeps the form the derive wrote.
    #[allow(deprecated)]
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
        };
        use utoipa::{Number, openapi::RefOr};
        let [name, description, price] = Self::FIELDS;
        let name_schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(format!(
                "1..={} characters after trimming surrounding whitespace, nothing invisible inside\n\
                 (no controls, bidirectional overrides, zero-width or other format characters, or\n\
                 separators; joiners are allowed between visible characters). The document's\n\
                 pattern is generated from the server's own rule (`domain::text::name_pattern`).",
                ItemName::MAX_CHARS
            )))
            .example(Some(serde_json::json!("Desk lamp")))
            .pattern(Some(text::name_pattern(ItemName::MAX_CHARS)));
        let description_schema = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
            .description(Some(format!(
                "Up to {} characters, line breaks and tabs allowed, nothing else invisible\n\
                 (pattern from `domain::text::multiline_pattern`), or null.",
                Description::MAX_CHARS
            )))
            .max_length(Some(Description::MAX_CHARS))
            .pattern(Some(text::multiline_pattern()));
        let largest = Price(Price::MAX_CENTS).to_string();
        let price_schema = ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Number, Type::Null]))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
            .description(Some(format!(
                "Non-negative, at most 2 fraction digits, at most {largest}; null for none."
            )))
            .example(Some(serde_json::json!(19.99)))
            .minimum(Some(Number::Int(0)))
            .maximum(Some(Number::Float(Price::MAX_CENTS as f64 / 100.0)))
            .multiple_of(Some(Number::Float(0.01)));
        RefOr::T(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(
                    "The body of `POST /items` and `PUT /items/{id}`. A price is read exactly \
                     from the number's text; every failing field is reported at once.",
                ))
                .property(name, name_schema)
                .property(description, description_schema)
                .property(price, price_schema)
                .required(name)
                .additional_properties(Some(
                    AdditionalProperties::<utoipa::openapi::schema::Schema>::FreeForm(false),
                ))
                .into(),
        )
    }
}

impl utoipa::ToSchema for NewItem {
    fn name() -> std::borrow::Cow<'static, str> {
        "ItemInput".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(ItemName::parse("  lamp ").unwrap().as_str(), "lamp");
        assert!(ItemName::parse("").is_err());
        assert!(ItemName::parse(" \t\n ").is_err());
        assert!(ItemName::parse(&"é".repeat(200)).is_ok());
        assert!(ItemName::parse(&"é".repeat(201)).is_err());
        assert!(ItemName::parse("a\u{0}b").is_err());
        // The report's tricks: overrides and zero-width characters alone or inside.
        for bad in [
            "\u{202e}",
            "\u{200b}",
            "evil\u{202e}gnp.exe",
            "a\u{2028}b",
            "\u{feff}x",
        ] {
            assert!(ItemName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            ItemName::parse("\u{200d}").is_err(),
            "a joiner alone is empty"
        );
        assert_eq!(
            ItemName::parse(" 👩\u{200d}💻 desk \u{2028}")
                .unwrap()
                .as_str(),
            "👩\u{200d}💻 desk"
        );
    }

    #[test]
    fn descriptions_are_bounded() {
        assert!(Description::parse(&"x".repeat(5000)).is_ok());
        assert!(Description::parse(&"x".repeat(5001)).is_err());
        assert!(Description::parse("line\nbreak").is_ok());
        assert!(Description::parse("tab\tand\r\nCRLF").is_ok());
        assert!(Description::parse("a\u{202e}b").is_err());
        assert!(Description::parse("a\u{0}b").is_err());
    }

    #[test]
    fn prices_are_exact() {
        let cents = |s| Price::parse_json_number(s).map(Price::cents);
        assert_eq!(cents("19.99"), Ok(1999));
        assert_eq!(cents("0"), Ok(0));
        assert_eq!(cents("-0"), Ok(0));
        assert_eq!(cents("5"), Ok(500));
        assert_eq!(cents("0.1"), Ok(10));
        assert_eq!(cents("0.10"), Ok(10));
        assert_eq!(cents("19.990"), Ok(1999));
        assert_eq!(cents("1.5e2"), Ok(15000));
        assert_eq!(cents("1999E-2"), Ok(1999));
        assert_eq!(cents("999999999999.99"), Ok(99_999_999_999_999));
        assert!(cents("1000000000000").is_err());
        assert!(cents("1e400").is_err());
        assert!(cents("1e-400").is_err());
        assert!(cents("0.001").is_err());
        assert!(cents("19.999").is_err());
        assert!(cents("-1").is_err());
        assert!(cents("\"19.99\"").is_err());
        assert!(cents("true").is_err());
        assert_eq!(
            Price::parse_json_number("0e-999999").map(Price::cents),
            Ok(0)
        );
        assert_eq!(Price::from_cents(1999).unwrap().to_string(), "19.99");
        assert_eq!(Price::from_cents(5).unwrap().to_string(), "0.05");
    }

    #[test]
    fn parse_collects_every_field_error() {
        let error = NewItem::parse_json(br#"{"name":"","description":7,"price":-1}"#).unwrap_err();
        let Refusal::Invalid(errors) = error else {
            panic!("not a validation error")
        };
        assert_eq!(
            errors.keys().collect::<Vec<_>>(),
            ["description", "name", "price"]
        );
        assert!(matches!(
            NewItem::parse_json(b"{"),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            NewItem::parse_json(b"[1]"),
            Err(Refusal::Invalid(_))
        ));
        assert!(matches!(
            NewItem::parse_json(br#"{"name":"a","price":1,"price":1000}"#),
            Err(Refusal::Malformed(_))
        ));
        match NewItem::parse_json(br#"{"name":"a","colour":"red"}"#) {
            Err(Refusal::Invalid(errors)) => {
                assert_eq!(errors.keys().collect::<Vec<_>>(), ["colour"])
            }
            other => panic!("{other:?}"),
        }
        let item = NewItem::parse_json(br#"{"name":" x ","price":19.99}"#).unwrap();
        assert_eq!(item.price.unwrap().to_string(), "19.99");
        assert_eq!(serde_json::to_string(&item.price).unwrap(), "19.99");
    }

    proptest! {
        #[test]
        fn any_two_digit_price_round_trips(cents in 0i64..=Price::MAX_CENTS) {
            let text = Price::from_cents(cents).unwrap().to_string();
            prop_assert_eq!(Price::parse_json_number(&text).unwrap().cents(), cents);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = Price::parse_json_number(&text);
            let _ = NewItem::parse_json(text.as_bytes());
        }
    }
}
