//! Reading the `naano_session` cookie from a raw `Cookie` request header.

use std::sync::OnceLock;

use crate::session::is_valid_session_id;

/// Name of the first-party cookie that carries the session id on the SaaS site.
pub const SESSION_COOKIE: &str = "naano_session";

/// Name of the query parameter the tracking redirect appends to the landing URL.
pub const SESSION_QUERY_PARAM: &str = "naano_session";

/// The session id from a `Cookie` header, or `None` when there is no usable one.
///
/// Browsers send duplicates when the cookie was set for several paths or domains; they
/// list the most specific (longest path) first (RFC 6265 §5.4), so the first *valid*
/// value wins. Values that are not well-formed session ids, quoted or not, are skipped
/// rather than trusted, and unparseable fragments of the header are ignored.
pub fn session_id_from_cookie_header(header: &str) -> Option<String> {
    cookie::Cookie::split_parse(header)
        .filter_map(Result::ok)
        .filter(|c| c.name() == SESSION_COOKIE)
        .map(|c| c.value_trimmed().trim().to_owned())
        .find(|value| is_valid_session_id(value))
}

/// How long the first-party session cookie lives: 90 days.
pub const SESSION_MAX_AGE_SECS: i64 = 90 * 24 * 60 * 60;

/// The `Set-Cookie` value that persists `session_id` as the first-party session cookie:
/// 90 days, `Path=/`, `HttpOnly`, `SameSite=Lax`, and `Secure` when the site is served
/// over https. Every SDK's server-side cookie helper sets exactly this.
///
/// The attributes never change, so the cookie crate writes them once per process and
/// each call only prepends the pair (rebuilding the whole cookie was a tenth of the
/// tracking redirect's own work).
pub fn session_set_cookie(session_id: &str, secure: bool) -> String {
    static ATTRIBUTES: OnceLock<[String; 2]> = OnceLock::new();
    let attributes =
        &ATTRIBUTES.get_or_init(|| [false, true].map(cookie_attributes))[usize::from(secure)];
    let mut value =
        String::with_capacity(SESSION_COOKIE.len() + 1 + session_id.len() + attributes.len());
    value.push_str(SESSION_COOKIE);
    value.push('=');
    value.push_str(session_id);
    value.push_str(attributes);
    value
}

/// The session cookie as the cookie crate writes it.
fn build_session_cookie(session_id: &str, secure: bool) -> String {
    cookie::Cookie::build((SESSION_COOKIE, session_id))
        .path("/")
        .max_age(cookie::time::Duration::seconds(SESSION_MAX_AGE_SECS))
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure)
        .build()
        .to_string()
}

/// What follows the `name=value` pair in [`build_session_cookie`]'s output.
fn cookie_attributes(secure: bool) -> String {
    let whole = build_session_cookie("", secure);
    whole
        .strip_prefix(SESSION_COOKIE)
        .and_then(|rest| rest.strip_prefix('='))
        .unwrap_or(&whole)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_value() {
        assert_eq!(
            session_set_cookie("naano_session_x", false),
            "naano_session=naano_session_x; HttpOnly; SameSite=Lax; Path=/; Max-Age=7776000"
        );
        assert!(session_set_cookie("naano_session_x", true).contains("; Secure"));
    }

    #[test]
    fn set_cookie_value_is_what_the_cookie_crate_writes() {
        for id in ["naano_session_0195d2c1a2bAbC-_xyz", "s", ""] {
            for secure in [false, true] {
                assert_eq!(
                    session_set_cookie(id, secure),
                    build_session_cookie(id, secure)
                );
            }
        }
    }

    #[test]
    fn table() {
        let cases: &[(&str, Option<&str>)] = &[
            ("naano_session=naano_session_abc", Some("naano_session_abc")),
            ("a=1; naano_session=s1; b=2", Some("s1")),
            ("a=1;naano_session=s1;b=2", Some("s1")),
            ("  naano_session = s1  ", Some("s1")),
            ("naano_session=\"s1\"", Some("s1")),
            ("naano_session=s1; naano_session=s2", Some("s1")),
            // A broken first duplicate does not hide a good second one.
            ("naano_session=bad value!; naano_session=s2", Some("s2")),
            ("naano_session=; naano_session=s2", Some("s2")),
            ("other=1", None),
            ("", None),
            (";;;", None),
            ("garbage", None),
            ("=novalue; naano_session=ok", Some("ok")),
            ("NAANO_SESSION=s1", None),
            ("xnaano_session=s1", None),
            ("naano_session=s1%3B", None),
            ("naano_session=\"", None),
            ("naano_session=\"unterminated", None),
            ("naano_session=s;1", Some("s")),
        ];
        for (header, expected) in cases {
            assert_eq!(
                session_id_from_cookie_header(header).as_deref(),
                *expected,
                "header {header:?}"
            );
        }
    }

    #[test]
    fn over_long_value_is_rejected() {
        let header = format!("naano_session={}", "a".repeat(129));
        assert_eq!(session_id_from_cookie_header(&header), None);
    }
}
