//! Session ids: the value of the `naano_session` cookie that ties a signup to a click.

use base64::Engine as _;

/// Every id this server issues starts with this prefix (the spec's `naano_session_xxx`).
pub const SESSION_ID_PREFIX: &str = "naano_session_";

/// Longest session id accepted by the webhook.
pub const MAX_SESSION_ID_LEN: usize = 128;

/// Hex digits of the issue time (milliseconds since the Unix epoch) after the prefix.
const TIME_DIGITS: usize = 11;
/// Length of the random part: 16 bytes in base64url without padding.
const RANDOM_CHARS: usize = 22;

/// A fresh session id issued now. See [`new_session_id_at`].
pub fn new_session_id() -> Result<String, getrandom::Error> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    new_session_id_at(now_ms)
}

/// `naano_session_` + the issue time as 11 hex digits + 128 bits from the OS CSPRNG
/// (base64url, no padding).
///
/// The time part lets a landing page tell an old id (a bookmarked or shared landing URL)
/// from a newer cookie without asking the server; the random part is what makes the id
/// unguessable. Fails only if the OS cannot provide randomness, which callers must treat
/// as a server error rather than fall back to a weaker source.
pub fn new_session_id_at(issued_at_ms: u64) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    let mut id = String::with_capacity(SESSION_ID_PREFIX.len() + TIME_DIGITS + RANDOM_CHARS);
    id.push_str(SESSION_ID_PREFIX);
    // 11 hex digits cover every millisecond until the year 2527.
    id.push_str(&format!("{:011x}", issued_at_ms & 0xfff_ffff_ffff));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes, &mut id);
    Ok(id)
}

/// When an id of ours was issued, in ms since the epoch; `None` for ids of another shape.
pub fn session_issued_at_ms(id: &str) -> Option<u64> {
    let rest = id.strip_prefix(SESSION_ID_PREFIX)?;
    if rest.len() != TIME_DIGITS + RANDOM_CHARS || !is_valid_session_id(id) {
        return None;
    }
    let digits = rest.get(..TIME_DIGITS)?;
    if !digits
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// Whether a session id arriving in a landing URL should replace the stored cookie.
///
/// It does unless both ids carry an issue time and the stored one is newer: a fresh click
/// always wins, an old landing URL opened again does not undo a later click.
pub fn should_replace_session(stored: Option<&str>, incoming: &str) -> bool {
    if !is_valid_session_id(incoming) {
        return false;
    }
    let Some(stored) = stored.filter(|s| is_valid_session_id(s)) else {
        return true;
    };
    match (session_issued_at_ms(stored), session_issued_at_ms(incoming)) {
        (Some(old), Some(new)) => new >= old,
        _ => true,
    }
}

/// 1–128 characters of `[A-Za-z0-9_-]`. Ids from other issuers need not carry our prefix.
pub fn is_valid_session_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_SESSION_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
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
            assert_eq!(id.len(), SESSION_ID_PREFIX.len() + 11 + 22);
            assert!(is_valid_session_id(id), "{id}");
        }
    }

    #[test]
    fn issue_time_round_trips_and_orders_ids() {
        let old = new_session_id_at(1_700_000_000_000).unwrap();
        let new = new_session_id_at(1_800_000_000_000).unwrap();
        assert_eq!(session_issued_at_ms(&old), Some(1_700_000_000_000));
        assert_eq!(session_issued_at_ms(&new), Some(1_800_000_000_000));
        assert!(should_replace_session(None, &old));
        assert!(should_replace_session(Some(&old), &new));
        assert!(!should_replace_session(Some(&new), &old));
        assert!(should_replace_session(Some(&new), &new));
        // Ids of another issuer carry no time: the incoming one wins.
        assert!(should_replace_session(Some("legacy123"), &old));
        assert!(should_replace_session(Some(&new), "legacy123"));
        assert!(should_replace_session(Some("bad value"), &old));
        assert!(!should_replace_session(Some(&old), "bad value"));
        assert_eq!(
            session_issued_at_ms("naano_session_zzzzzzzzzzzAAAAAAAAAAAAAAAAAAAAAAA"),
            None
        );
        assert_eq!(session_issued_at_ms("naano_session_short"), None);
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
