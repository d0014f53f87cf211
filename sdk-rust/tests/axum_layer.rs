//! The axum extractor and the session-cookie layer, through a real axum router.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use axum::body::Body;
use axum::routing::get;
use axum::Router;
use http::{Request, StatusCode};
use naano::axum::{NaanoSession, SessionCookieLayer};
use tower::ServiceExt;

const OLD: &str = "naano_session_18bcfe56800AAAAAAAAAAAAAAAAAAAAAA"; // issued earlier
const NEW: &str = "naano_session_1a3185e5c00BBBBBBBBBBBBBBBBBBBBBB"; // issued later

fn app(layer: SessionCookieLayer) -> Router {
    Router::new()
        .route(
            "/",
            get(|NaanoSession(s): NaanoSession| async move { s.unwrap_or_else(|| "none".into()) }),
        )
        .layer(layer)
}

async fn call(
    layer: SessionCookieLayer,
    uri: &str,
    headers: &[(&str, &str)],
) -> (Option<String>, String) {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app(layer)
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
    (cookie, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn extractor_reads_the_cookie_then_the_query() {
    let l = SessionCookieLayer::new();
    assert_eq!(
        call(l, "/", &[("cookie", &format!("a=1; naano_session={OLD}"))])
            .await
            .1,
        OLD
    );
    assert_eq!(
        call(l, &format!("/?x=1&naano_session={NEW}"), &[]).await.1,
        NEW
    );
    assert_eq!(
        call(
            l,
            &format!("/?naano_session={NEW}"),
            &[("cookie", &format!("naano_session={OLD}"))]
        )
        .await
        .1,
        OLD
    );
    assert_eq!(call(l, "/", &[]).await.1, "none");
    assert_eq!(
        call(
            l,
            "/?naano_session=bad%20id",
            &[("cookie", "naano_session=also bad")]
        )
        .await
        .1,
        "none"
    );
    // Cookies split over several headers (HTTP/2) are all read.
    assert_eq!(
        call(
            l,
            "/",
            &[
                ("cookie", "a=1"),
                ("cookie", &format!("naano_session={NEW}"))
            ]
        )
        .await
        .1,
        NEW
    );
}

#[tokio::test]
async fn layer_persists_the_landing_session_as_a_first_party_cookie() {
    let (cookie, _) = call(
        SessionCookieLayer::new(),
        &format!("/?naano_session={NEW}"),
        &[],
    )
    .await;
    let cookie = cookie.expect("cookie set");
    let parsed = cookie::Cookie::parse(cookie.clone()).unwrap();
    assert_eq!(parsed.value(), NEW);
    assert_eq!(parsed.http_only(), Some(true));
    assert_eq!(parsed.same_site(), Some(cookie::SameSite::Lax));
    assert_eq!(parsed.path(), Some("/"));
    assert_eq!(parsed.max_age(), Some(cookie::time::Duration::days(90)));
    assert_eq!(parsed.secure(), None);

    // Secure behind https (proxy header or forced).
    let (cookie, _) = call(
        SessionCookieLayer::new(),
        &format!("/?naano_session={NEW}"),
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(cookie.unwrap().contains("Secure"));
    let (cookie, _) = call(
        SessionCookieLayer::new().secure(true),
        &format!("/?naano_session={NEW}"),
        &[],
    )
    .await;
    assert!(cookie.unwrap().contains("Secure"));

    // Nothing to persist, or something invalid: no cookie.
    assert_eq!(
        call(SessionCookieLayer::new(), "/?plan=pro", &[]).await.0,
        None
    );
    assert_eq!(
        call(
            SessionCookieLayer::new(),
            "/?naano_session=%3Cscript%3E",
            &[]
        )
        .await
        .0,
        None
    );
}

#[tokio::test]
async fn an_old_landing_url_never_replaces_a_newer_session() {
    let newer = format!("naano_session={NEW}");
    let (cookie, _) = call(
        SessionCookieLayer::new(),
        &format!("/?naano_session={OLD}"),
        &[("cookie", &newer)],
    )
    .await;
    assert_eq!(cookie, None);
    let older = format!("naano_session={OLD}");
    let (cookie, _) = call(
        SessionCookieLayer::new(),
        &format!("/?naano_session={NEW}"),
        &[("cookie", &older)],
    )
    .await;
    assert!(cookie.unwrap().starts_with(&newer));
}
