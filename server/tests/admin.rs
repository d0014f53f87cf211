//! The admin API: auth, creators and links, listings with filters and cursors,
//! inference updates and stats.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_requires_the_bearer_token() {
    let server = TestServer::start().await;
    let url = server.url("/api/admin/stats");
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic dGVzdA=="),
        Some("Bearer "),
    ] {
        let mut req = server.http.get(&url);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        assert_error(status, &resp.json().await.unwrap(), 401, "unauthorized");
    }
    let resp = server
        .http
        .get(&url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    server.stop().await;

    let server = TestServer::start_with(|c| c.admin_token = None).await;
    let resp = server
        .http
        .get(server.url("/api/admin/stats"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_error(status, &body, 401, "unauthorized");
    assert!(
        body["details"].as_str().unwrap().contains("disabled"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creators_and_links_are_validated() {
    let server = TestServer::start().await;
    let (status, body) = server
        .admin(Method::POST, "/api/admin/creators", Some(json!({})))
        .await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["details"].as_str().unwrap().starts_with("name"));
    let (status, body) = server
        .admin(
            Method::POST,
            "/api/admin/creators",
            Some(json!({ "name": "A", "linkedin_url": "https://x.io" })),
        )
        .await;
    assert_error(status, &body, 400, "validation_failed");

    let creator = server.creator("Ada").await;
    let link = server.link(&creator, "https://saas.example/").await;
    let slug = link["slug"].as_str().unwrap();
    assert_eq!(slug.len(), 8);
    assert_eq!(link["tracking_url"], server.url(&format!("/c/{slug}")));
    assert_eq!(link["creator_id"], creator.as_str());

    let post = |body: Value| server.admin(Method::POST, "/api/admin/links", Some(body));
    let (status, body) = post(json!({ "creator_id": creator, "destination_url": "https://a.io", "slug": "launch", "campaign": "q1" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["slug"], "launch");
    assert_eq!(body["campaign"], "q1");
    let (status, body) =
        post(json!({ "creator_id": creator, "destination_url": "https://a.io", "slug": "launch" }))
            .await;
    assert_error(status, &body, 409, "conflict");
    let (status, body) =
        post(json!({ "creator_id": "nobody", "destination_url": "https://a.io" })).await;
    assert_error(status, &body, 400, "validation_failed");
    assert!(body["details"].as_str().unwrap().starts_with("creator_id"));
    for bad in [
        "javascript:alert(1)",
        "/relative",
        "ftp://a.io",
        "not a url",
    ] {
        let (status, body) = post(json!({ "creator_id": creator, "destination_url": bad })).await;
        assert_error(status, &body, 400, "validation_failed");
        assert!(
            body["details"]
                .as_str()
                .unwrap()
                .starts_with("destination_url"),
            "{bad}: {body}"
        );
    }
    let (status, body) =
        post(json!({ "creator_id": creator, "destination_url": "https://a.io", "slug": "a/b" }))
            .await;
    assert_error(status, &body, 400, "validation_failed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_page_with_cursors_and_filter() {
    let server = TestServer::start().await;
    for i in 0..5 {
        server.creator(&format!("Creator {i}")).await;
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/admin/creators?limit=2&cursor={c}"),
            None => "/api/admin/creators?limit=2".to_owned(),
        };
        let page = server.admin_get(&path).await;
        pages += 1;
        for c in page["data"].as_array().unwrap() {
            names.push(c["name"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        names,
        (0..5).map(|i| format!("Creator {i}")).collect::<Vec<_>>()
    );

    for bad in [
        "/api/admin/creators?limit=0",
        "/api/admin/creators?limit=501",
        "/api/admin/creators?limit=x",
        "/api/admin/leads?emial=a@b.io",
        "/api/admin/inferences?status=maybe",
    ] {
        let (status, body) = server.admin(Method::GET, bad, None).await;
        assert_error(status, &body, 400, "validation_failed");
    }

    // Filters on clicks, inferences and leads.
    let slug = server.tracking_link().await;
    let acme = server.settled_click(&slug, ACME_IP).await;
    let other = server.settled_click(&slug, UNKNOWN_IP).await;
    server
        .signup(signup_body(&acme, "Fay@Acme.com", "Acme"))
        .await;
    let confirmed = server
        .admin_get("/api/admin/inferences?status=confirmed")
        .await;
    assert_eq!(confirmed["data"].as_array().unwrap().len(), 1);
    assert_eq!(confirmed["data"][0]["session_id"], acme.as_str());
    let no_company = server
        .admin_get("/api/admin/inferences?status=no_company")
        .await;
    assert_eq!(no_company["data"][0]["session_id"], other.as_str());
    let clicks = server
        .admin_get(&format!("/api/admin/clicks?session_id={other}"))
        .await;
    assert_eq!(clicks["data"].as_array().unwrap().len(), 1);
    let leads = server
        .admin_get("/api/admin/leads?email=FAY@ACME.COM")
        .await;
    assert_eq!(leads["data"][0]["email"], "Fay@Acme.com");
    let none = server
        .admin_get("/api/admin/leads?email=nobody@acme.com")
        .await;
    assert_eq!(none["data"], json!([]));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_updates_are_validated_and_confirmed_sessions_are_protected() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let session = server.settled_click(&slug, UNKNOWN_IP).await;
    let path = format!("/api/admin/sessions/{session}/inference");
    for (body, field) in [
        (json!({ "confidence": 0.5 }), "company"),
        (json!({ "company": "Acme" }), "confidence"),
        (
            json!({ "company": "Acme", "confidence": 1.5 }),
            "confidence",
        ),
        (
            json!({ "company": "Acme", "confidence": 0.5, "domain": "not a domain" }),
            "domain",
        ),
    ] {
        let (status, err) = server.admin(Method::PUT, &path, Some(body)).await;
        assert_error(status, &err, 400, "validation_failed");
        assert!(err["details"].as_str().unwrap().starts_with(field), "{err}");
    }
    // Correcting a settled (not yet confirmed) inference is allowed.
    let (status, set) = server
        .admin(
            Method::PUT,
            &path,
            Some(json!({ "company": "Initech", "domain": "WWW.Initech.com", "confidence": 0.6 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["status"], "inferred");
    let inference = server.inference(&session).await;
    assert_eq!(inference["inferred_company"], "Initech");
    assert_eq!(inference["inferred_domain"], "initech.com");

    server
        .signup(signup_body(&session, "p@initech.com", "Initech"))
        .await;
    let (status, err) = server
        .admin(
            Method::PUT,
            &path,
            Some(json!({ "company": "X", "confidence": 0.1 })),
        )
        .await;
    assert_error(status, &err, 409, "conflict");
    let (status, err) = server
        .admin(
            Method::PUT,
            "/api/admin/sessions/naano_session_unknown/inference",
            Some(json!({ "company": "X", "confidence": 0.1 })),
        )
        .await;
    assert_error(status, &err, 404, "session_not_found");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_the_funnel_per_creator() {
    let server = TestServer::start().await;
    let ada = server.creator("Ada").await;
    let bob = server.creator("Bob").await;
    let ada_slug = server.link(&ada, "https://saas.example/").await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob_slug = server.link(&bob, "https://saas.example/").await["slug"]
        .as_str()
        .unwrap()
        .to_owned();

    // Ada's second link counts for her too; Cy has no link yet.
    let ada_other = server.link(&ada, "https://saas.example/pricing").await["slug"]
        .as_str()
        .unwrap()
        .to_owned();
    let cy = server.creator("Cy").await;

    let a1 = server.settled_click(&ada_slug, ACME_IP).await;
    let a2 = server.settled_click(&ada_slug, ACME_IP_2).await;
    let a3 = server.settled_click(&ada_other, GLOBEX_IP).await;
    server.settled_click(&ada_slug, UNKNOWN_IP).await;
    server.settled_click(&bob_slug, GLOBEX_IP).await;
    server.signup(signup_body(&a1, "u1@acme.com", "Acme")).await;
    server
        .signup(signup_body(&a2, "u2@initech.io", "Initech"))
        .await; // mismatch
    server
        .signup(signup_body(&a3, "u3@globex.com", "Globex"))
        .await;

    let stats = server.admin_get("/api/admin/stats").await;
    let creators = stats["creators"].as_array().unwrap();
    let ada_row = creators
        .iter()
        .find(|c| c["creator_id"] == ada.as_str())
        .unwrap();
    assert_eq!(ada_row["name"], "Ada");
    assert_eq!(ada_row["clicks"], 4);
    assert_eq!(ada_row["inferred_companies"], 2, "Acme and Globex");
    assert_eq!(ada_row["confirmed_companies"], 3, "Acme, Initech, Globex");
    assert_eq!(ada_row["signups"], 3);
    assert_eq!(ada_row["mismatches"], 1);
    let bob_row = creators
        .iter()
        .find(|c| c["creator_id"] == bob.as_str())
        .unwrap();
    assert_eq!(
        (bob_row["clicks"].clone(), bob_row["signups"].clone()),
        (json!(1), json!(0))
    );
    let cy_row = creators
        .iter()
        .find(|c| c["creator_id"] == cy.as_str())
        .unwrap();
    assert_eq!(
        (cy_row["clicks"].clone(), cy_row["signups"].clone()),
        (json!(0), json!(0))
    );
    server.stop().await;
}
