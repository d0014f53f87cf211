//! Session ids: the value of the `naano_session` cookie that ties a signup to a click.

use base64::Engine as _;

/// Every id this server issues starts with this prefix (the spec's `naano_session_xxx`).
pub const SESSION_ID_PREFIX: &str = "naano_session_";

/// Longest session id accepted by the webhook.
pub const MAX_SESSION_ID_LEN: usize = 128;

/// A fresh session id: the prefix plus 128 bits from the OS CSPRNG, base64url without padding.
///
/// Fails only if the operating system cannot provide randomness, which callers must
/// treat as a server error rather than fall back to a weaker source.
pub fn new_session_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    let mut id = String::with_capacity(SESSION_ID_PREFIX.len() + 22);
    id.push_str(SESSION_ID_PREFIX);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, &mut id);
    Ok(id)
}

/// 1–128 characters of `[A-Za-z0-9_-]`. Ids from other issuers need not carry our prefix.
pub fn is_valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SESSION_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_ids_are_prefixed_url_safe_and_unique() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_session_id().unwrap()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert!(id.starts_with(SESSION_ID_PREFIX));
            assert_eq!(id.len(), SESSION_ID_PREFIX.len() + 22, "16 bytes -> 22 base64 chars");
            assert!(is_valid_session_id(id), "{id}");
        }
    }

    #[test]
    fn validity_table() {
        let long_ok = "a".repeat(128);
        let too_long = "a".repeat(129);
        let cases: &[(&str, bool)] = &[
            ("naano_session_abc", true),
            ("A-z_0", true),
            ("x", true),
            (&long_ok, true),
            ("", false),
            (&too_long, false),
            ("has space", false),
            ("semi;colon", false),
            ("quote\"", false),
            ("dot.ted", false),
            ("ünï", false),
        ];
        for (id, ok) in cases {
            assert_eq!(is_valid_session_id(id), *ok, "{id:?}");
        }
    }
}
