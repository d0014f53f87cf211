//! Landing URLs: a tracking link's destination with the click's session added to its
//! query, so the SaaS site (naano.js or an SDK helper) can store it as a first-party
//! cookie.

use crate::SESSION_QUERY_PARAM;

/// A destination prepared once to receive session ids.
///
/// The redirect answers every click with the destination plus `naano_session=<id>`;
/// parsing and re-serialising the URL per click cost more than the rest of the
/// redirect's own work, yet only the id changes. So the URL is split once, around where
/// the id goes, and each click is two string copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandingUrl {
    /// Everything up to and including `naano_session=`.
    before: String,
    /// The fragment (`#…`), or nothing.
    after: String,
}

impl LandingUrl {
    /// Prepares `destination`: its query is kept in its original encoding and its
    /// fragment stays last; a `naano_session` already in it (a stale id pasted into the
    /// link) is dropped so that the landing page never sees two.
    pub fn parse(destination: &str) -> Result<Self, url::ParseError> {
        let mut url = url::Url::parse(destination)?;
        let after = url.fragment().map(|f| format!("#{f}")).unwrap_or_default();
        url.set_fragment(None);
        if url.query_pairs().any(|(k, _)| k == SESSION_QUERY_PARAM) {
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != SESSION_QUERY_PARAM)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        url.query_pairs_mut().append_pair(SESSION_QUERY_PARAM, "");
        Ok(Self {
            before: url.into(),
            after,
        })
    }

    /// The landing URL for one session. Ids this server issues need no escaping; any
    /// other value is form-encoded, so the result is always a valid URL.
    pub fn with_session(&self, session_id: &str) -> String {
        let mut out =
            String::with_capacity(self.before.len() + session_id.len() + self.after.len());
        out.push_str(&self.before);
        out.extend(url::form_urlencoded::byte_serialize(session_id.as_bytes()));
        out.push_str(&self.after);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::LandingUrl;

    #[test]
    fn query_and_fragment_are_kept() {
        let cases = [
            (
                "https://saas.example/",
                "https://saas.example/?naano_session=S",
            ),
            (
                "https://saas.example/signup?plan=pro#pricing",
                "https://saas.example/signup?plan=pro&naano_session=S#pricing",
            ),
            (
                "https://saas.example/?q=a%20b&x",
                "https://saas.example/?q=a%20b&x&naano_session=S",
            ),
            (
                "https://saas.example/?naano_session=old&a=1",
                "https://saas.example/?a=1&naano_session=S",
            ),
            (
                "https://saas.example/p#frag",
                "https://saas.example/p?naano_session=S#frag",
            ),
            (
                "https://saas.example/p?#",
                "https://saas.example/p?naano_session=S#",
            ),
        ];
        for (dest, expected) in cases {
            let landing = LandingUrl::parse(dest).unwrap();
            assert_eq!(landing.with_session("S"), expected, "{dest}");
        }
    }

    #[test]
    fn every_session_gets_its_own_url_from_one_template() {
        let landing = LandingUrl::parse("https://saas.example/a?b=1#c").unwrap();
        assert_eq!(
            landing.with_session("naano_session_0193_x-Y"),
            "https://saas.example/a?b=1&naano_session=naano_session_0193_x-Y#c"
        );
        assert_eq!(
            landing.with_session("a b&c"),
            "https://saas.example/a?b=1&naano_session=a+b%26c#c",
            "a value that is not one of our ids is escaped, never spliced in raw"
        );
    }

    #[test]
    fn a_destination_that_is_not_a_url_is_refused() {
        assert!(LandingUrl::parse("not a url").is_err());
    }
}
