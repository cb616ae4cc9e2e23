//! API tokens for writes (SPEC §1 `PIER_API_TOKENS`): when configured, every `POST`,
//! `PUT`, `PATCH` and `DELETE` needs `Authorization: Bearer <token>`; reads stay public.
//!
//! Tokens are kept only as SHA-256 digests and compared in constant time against every
//! configured token (no early exit, and hashing first hides the length), so neither
//! timing nor a memory dump gives one away; none is ever logged. Several tokens are
//! valid at once, so one can be rotated without downtime: add the new one, move the
//! clients, remove the old one.

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// Fewest characters a token may have: shorter ones are guessable.
pub const MIN_TOKEN_CHARS: usize = 16;
/// Most characters a token may have.
pub const MAX_TOKEN_CHARS: usize = 512;
/// Most tokens at once.
pub const MAX_TOKENS: usize = 100;

/// The configured tokens, as digests.
#[derive(Clone)]
pub struct ApiTokens {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiTokens({} configured)", self.digests.len())
    }
}

impl ApiTokens {
    /// Parses `PIER_API_TOKENS`: a comma-separated list, or — when it starts with `/` or
    /// `./` — the path of a file with one token per line (blank lines and `#` comments
    /// skipped), such as a Swarm secret or a mounted ECS secret. Errors never contain a
    /// token.
    pub fn parse(setting: &str) -> Result<Self, String> {
        let setting = setting.trim();
        let text;
        let tokens: Vec<&str> = if setting.starts_with('/') || setting.starts_with("./") {
            text = std::fs::read_to_string(setting)
                .map_err(|error| format!("cannot read the tokens file {setting}: {error}"))?;
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .collect()
        } else {
            setting
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .collect()
        };
        if tokens.is_empty() {
            return Err("no token given".into());
        }
        if tokens.len() > MAX_TOKENS {
            return Err(format!("more than {MAX_TOKENS} tokens"));
        }
        for (index, token) in tokens.iter().enumerate() {
            let chars = token.chars().count();
            if !(MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&chars) {
                return Err(format!(
                    "token {} has {chars} characters; each needs {MIN_TOKEN_CHARS} to {MAX_TOKEN_CHARS}",
                    index + 1
                ));
            }
            if !token.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
                return Err(format!(
                    "token {} has a character other than printable ASCII (no spaces or commas)",
                    index + 1
                ));
            }
        }
        Ok(Self {
            digests: tokens
                .iter()
                .map(|t| Sha256::digest(t.as_bytes()).into())
                .collect(),
        })
    }

    /// Whether `presented` is one of the tokens; the time taken does not depend on which
    /// token matched, or how much of one did.
    pub fn accepts(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut matched = Choice::from(0);
        for known in &self.digests {
            matched |= known.ct_eq(&digest);
        }
        matched.into()
    }

    /// How many tokens are configured.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Never true for a parsed value (at least one token is required).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

/// What a write's `Authorization` header amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A configured token.
    Allowed,
    /// No `Authorization: Bearer …` at all.
    Missing,
    /// A bearer token that is not configured (or a malformed header).
    Invalid,
}

/// Judges an `Authorization` header value against the tokens (scheme case-insensitive).
pub fn judge(tokens: &ApiTokens, authorization: Option<&[u8]>) -> Verdict {
    let Some(value) = authorization else {
        return Verdict::Missing;
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return Verdict::Invalid;
    };
    let value = value.trim();
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            if tokens.accepts(token.trim()) {
                Verdict::Allowed
            } else {
                Verdict::Invalid
            }
        }
        _ if value.eq_ignore_ascii_case("bearer") => Verdict::Missing,
        _ => Verdict::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = "token-one-0123456789abcdef";
    const TWO: &str = "token-two-0123456789abcdef";

    #[test]
    fn several_tokens_are_valid_at_once() {
        let tokens = ApiTokens::parse(&format!(" {ONE} , {TWO} ")).unwrap();
        assert_eq!(tokens.len(), 2);
        assert!(tokens.accepts(ONE) && tokens.accepts(TWO));
        assert!(!tokens.accepts("token-one-0123456789abcdeX"));
        assert!(!tokens.accepts(""));
        assert!(!tokens.accepts(&ONE[..ONE.len() - 1]));
    }

    #[test]
    fn a_file_holds_one_token_per_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, format!("# rotated 2026-11\n{ONE}\n\n{TWO}\n")).unwrap();
        let tokens = ApiTokens::parse(path.to_str().unwrap()).unwrap();
        assert_eq!(tokens.len(), 2);
        assert!(tokens.accepts(TWO));
        let missing = ApiTokens::parse("/nonexistent/pier-tokens").unwrap_err();
        assert!(missing.contains("cannot read the tokens file"));
    }

    #[test]
    fn weak_or_odd_tokens_are_refused_without_echoing_them() {
        for (setting, reason) in [
            ("", "no token"),
            ("short", "characters"),
            ("has space in it 0123456789", "printable ASCII"),
            ("tökenwithumlaut0123456789", "printable ASCII"),
        ] {
            let error = ApiTokens::parse(setting).unwrap_err();
            assert!(error.contains(reason), "{setting}: {error}");
            if !setting.is_empty() {
                assert!(
                    !error.contains(setting),
                    "the error echoes the token: {error}"
                );
            }
        }
        let many = vec![ONE; MAX_TOKENS + 1].join(",");
        assert!(ApiTokens::parse(&many).is_err());
        assert_eq!(
            format!("{:?}", ApiTokens::parse(ONE).unwrap()),
            "ApiTokens(1 configured)"
        );
    }

    #[test]
    fn authorization_headers_are_judged() {
        let tokens = ApiTokens::parse(ONE).unwrap();
        let judge = |value: Option<&str>| judge(&tokens, value.map(str::as_bytes));
        assert_eq!(judge(Some(&format!("Bearer {ONE}"))), Verdict::Allowed);
        assert_eq!(judge(Some(&format!("bearer   {ONE} "))), Verdict::Allowed);
        assert_eq!(judge(None), Verdict::Missing);
        assert_eq!(judge(Some("Bearer")), Verdict::Missing);
        assert_eq!(judge(Some(&format!("Bearer {TWO}"))), Verdict::Invalid);
        assert_eq!(judge(Some(&format!("Basic {ONE}"))), Verdict::Invalid);
        assert_eq!(judge(Some(ONE)), Verdict::Invalid);
    }
}
