//! axum integration: the [`NaanoSession`] extractor and the [`SessionCookieLayer`].

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use http::header::{COOKIE, SET_COOKIE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response};
pub use naano_core::SESSION_MAX_AGE_SECS;
use naano_core::{
    is_valid_session_id, session_id_from_cookie_header, session_set_cookie, should_replace_session,
    SESSION_QUERY_PARAM,
};

/// The Naano session of this request: the `naano_session` cookie, else a
/// `?naano_session=` query parameter (a signup on the landing request itself), else `None`.
/// Never rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NaanoSession(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for NaanoSession {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let session = cookie_session(&parts.headers).or_else(|| query_session(parts.uri.query()));
        Ok(Self(session))
    }
}

fn cookie_session(headers: &HeaderMap) -> Option<String> {
    // HTTP/2 may split cookies over several headers; each is parsed in turn.
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(session_id_from_cookie_header)
}

fn query_session(query: Option<&str>) -> Option<String> {
    url_decoded_pairs(query?)
        .find(|(k, _)| k == SESSION_QUERY_PARAM)
        .map(|(_, v)| v)
        .filter(|v| is_valid_session_id(v))
}

fn url_decoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // Valid session ids need no decoding; anything percent-encoded is not one.
        Some((k.to_owned(), v.to_owned())).filter(|(k, _)| !k.is_empty())
    })
}

/// Sets the first-party `naano_session` cookie from the server side when a request
/// arrives with `?naano_session=…` (the landing request after a tracking-link redirect):
/// 90 days, `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` behind https. A
/// server-set cookie survives browsers' caps on script-set cookies. An older session in
/// the URL (a bookmarked landing page) never replaces a newer cookie.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionCookieLayer {
    secure: Option<bool>,
}

impl SessionCookieLayer {
    /// `Secure` is decided per request: set when the request's scheme or
    /// `X-Forwarded-Proto` is https.
    pub fn new() -> Self {
        Self::default()
    }

    /// Always (or never) mark the cookie `Secure`.
    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }
}

impl<S> tower::Layer<S> for SessionCookieLayer {
    type Service = SessionCookie<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionCookie {
            inner,
            secure: self.secure,
        }
    }
}

/// The service made by [`SessionCookieLayer`].
#[derive(Debug, Clone)]
pub struct SessionCookie<S> {
    inner: S,
    secure: Option<bool>,
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for SessionCookie<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Send,
    S::Future: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let cookie = query_session(request.uri().query())
            .filter(|incoming| {
                should_replace_session(cookie_session(request.headers()).as_deref(), incoming)
            })
            .and_then(|session| {
                let secure = self.secure.unwrap_or_else(|| is_https(&request));
                session_cookie(session, secure)
            });
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            if let Some(cookie) = cookie {
                response.headers_mut().append(SET_COOKIE, cookie);
            }
            Ok(response)
        })
    }
}

fn is_https<B>(request: &Request<B>) -> bool {
    request.uri().scheme_str() == Some("https")
        || request
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.split(',')
                    .next()
                    .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
            })
}

fn session_cookie(session: String, secure: bool) -> Option<HeaderValue> {
    HeaderValue::from_str(&session_set_cookie(&session, secure)).ok()
}
