//! The signup webhook over real HTTP against a real SQLite file: the spec's answers,
//! both 404s, the deferred upgrade, idempotency, validation and body handling.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_example_is_upgraded_with_the_spec_shape() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let session = server.settled_click(&slug, ACME_IP).await;

    let (status, _, body) = server
        .signup(json!({
            "session_id": session, "email": "user@example.com", "company": "Acme Corporation",
            "name": "John Doe", "job_title": "CTO", "linkedin_url": "https://linkedin.com/in/johndoe"
        }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Signup attribution upgraded successfully");
    assert_eq!(body["result"]["action"], "upgraded");
    assert_eq!(body["result"]["company"], "Acme Corporation");
    let inference_id = body["company_inference_id"].as_str().unwrap();
    assert_eq!(body["result"]["company_inference_id"], inference_id);
    assert!(uuid::Uuid::parse_str(body["lead_id"].as_str().unwrap()).is_ok());
    assert!(uuid::Uuid::parse_str(inference_id).is_ok());

    let inference = server.inference(&session).await;
    assert_eq!(inference["status"], "confirmed");
    assert_eq!(inference["confirmed_company"], "Acme Corporation");
    assert_eq!(inference["inferred_company"], "Acme Corporation");
    assert_eq!(inference["mismatch"], false);
    assert_eq!(inference["lead_id"], body["lead_id"]);

    let lead = &server
        .admin_get("/api/admin/leads?email=user@example.com")
        .await["data"][0];
    assert_eq!(lead["name"], "John Doe");
    assert_eq!(lead["job_title"], "CTO");
    assert_eq!(lead["linkedin_url"], "https://linkedin.com/in/johndoe");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_company_is_a_mismatch_and_the_inference_is_kept_for_audit() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let session = server.settled_click(&slug, ACME_IP).await;

    let (status, _, body) = server
        .signup(signup_body(&session, "bob@globex.com", "Globex"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["result"]["action"], "mismatch_handled");
    assert_eq!(body["result"]["old_company"], "Acme Corporation");
    assert_eq!(body["result"]["new_company"], "Globex");
    assert_eq!(
        body["result"]["company_inference_id"],
        body["company_inference_id"]
    );

    let inference = server.inference(&session).await;
    assert_eq!(inference["status"], "confirmed");
    assert_eq!(inference["mismatch"], true);
    assert_eq!(
        inference["inferred_company"], "Acme Corporation",
        "old company kept for audit"
    );
    assert_eq!(inference["confirmed_company"], "Globex");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_matching_uses_names_and_business_email_domains() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let cases = [
        ("x1@elsewhere.io", "ACME, Inc.", "upgraded"),
        ("x2@acme.com", "Road Runner Ltd", "upgraded"),
        ("x3@gmail.com", "Road Runner Ltd", "mismatch_handled"),
        ("x4@elsewhere.io", "Acme Labs", "mismatch_handled"),
    ];
    for (email, company, action) in cases {
        let session = server.settled_click(&slug, ACME_IP).await;
        let (status, _, body) = server.signup(signup_body(&session, email, company)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["result"]["action"], action,
            "{email} / {company}: {body}"
        );
    }
    // IPv6 networks are inferred too.
    let session = server.settled_click(&slug, ACME_IP_V6).await;
    assert_eq!(
        server.inference(&session).await["inferred_company"],
        "Acme Corporation"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_company_found_means_the_signup_company_is_confirmed() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let session = server.settled_click(&slug, UNKNOWN_IP).await;
    assert_eq!(server.inference(&session).await["status"], "no_company");

    let (status, _, body) = server
        .signup(signup_body(&session, "eve@initech.io", "Initech"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["action"], "upgraded");
    assert_eq!(body["result"]["company"], "Initech");
    let inference = server.inference(&session).await;
    assert_eq!(inference["status"], "confirmed");
    assert_eq!(inference["confirmed_company"], "Initech");
    assert_eq!(inference["inferred_company"], Value::Null);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_session_is_404_session_not_found_and_creates_no_lead() {
    let server = TestServer::start().await;
    let (status, headers, body) = server
        .signup(signup_body("naano_session_doesnotexist", "a@b.io", "Acme"))
        .await;
    assert_error(status, &body, 404, "session_not_found");
    assert!(headers.get("retry-after").is_none());
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 0);
    // The call is still in the append-only log.
    assert_eq!(
        server
            .count("SELECT COUNT(*) FROM signup_events WHERE outcome = 'session_not_found'")
            .await,
        1
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_inference_stores_the_lead_and_upgrades_when_the_inference_lands() {
    let server = TestServer::start_with(|c| c.external_inference = true).await;
    let slug = server.tracking_link().await;
    let session = server.click(&slug, UNKNOWN_IP).await;
    assert_eq!(server.inference(&session).await["status"], "pending");

    let body = signup_body(&session, "Dana@Acme.com", "Acme Corp");
    let (status, headers, err) = server.signup(body.clone()).await;
    assert_error(status, &err, 404, "inference_pending");
    assert_eq!(headers.get("retry-after").unwrap(), "2");
    // The lead is stored and linked to the click already.
    let lead = &server
        .admin_get("/api/admin/leads?email=dana@acme.com")
        .await["data"][0];
    let lead_id = lead["id"].as_str().unwrap().to_owned();
    let inference = server.inference(&session).await;
    assert_eq!(inference["status"], "pending");
    assert_eq!(inference["lead_id"], lead_id.as_str());

    // The external pipeline settles the inference: the waiting signup is applied at once.
    let (status, set) = server
        .admin(
            reqwest::Method::PUT,
            &format!("/api/admin/sessions/{session}/inference"),
            Some(json!({ "company": "ACME Corporation", "domain": "acme.com", "confidence": 0.7 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["status"], "confirmed");
    assert_eq!(set["applied_signup"]["result"]["action"], "upgraded");
    assert_eq!(set["applied_signup"]["lead_id"], lead_id.as_str());
    let inference = server.inference(&session).await;
    assert_eq!(inference["status"], "confirmed");
    assert_eq!(inference["source"], "admin");
    assert_eq!(inference["confidence"], 0.7);

    // A retry of the same call now reads the final answer.
    let (status, _, done) = server.signup(body).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["result"]["action"], "upgraded");
    assert_eq!(done["lead_id"], lead_id.as_str());
    assert_eq!(done["company_inference_id"], set["company_inference_id"]);
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_signup_with_another_company_becomes_a_mismatch_when_inference_lands() {
    let server = TestServer::start_with(|c| c.external_inference = true).await;
    let slug = server.tracking_link().await;
    let session = server.click(&slug, UNKNOWN_IP).await;
    let (status, _, _) = server
        .signup(signup_body(&session, "z@globex.com", "Globex"))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, set) = server
        .admin(
            reqwest::Method::PUT,
            &format!("/api/admin/sessions/{session}/inference"),
            Some(json!({ "company": "Acme Corporation", "confidence": 0.5 })),
        )
        .await;
    assert_eq!(
        set["applied_signup"]["result"]["action"],
        "mismatch_handled"
    );
    assert_eq!(
        set["applied_signup"]["result"]["old_company"],
        "Acme Corporation"
    );
    assert_eq!(set["applied_signup"]["result"]["new_company"], "Globex");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_payload_again_gives_the_same_answer_and_no_duplicate_rows() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let session = server.settled_click(&slug, ACME_IP).await;
    let body = signup_body(&session, "sam@acme.com", "Acme");

    let (_, _, first) = server.signup(body.clone()).await;
    let (_, _, again) = server.signup(body.clone()).await;
    for key in ["lead_id", "company_inference_id"] {
        assert_eq!(first[key], again[key], "{key}");
    }
    assert_eq!(first["result"], again["result"]);

    // Twenty copies at the same moment.
    let answers = futures::future::join_all((0..20).map(|_| server.signup(body.clone()))).await;
    for (status, _, answer) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(answer["lead_id"], first["lead_id"]);
        assert_eq!(
            answer["company_inference_id"],
            first["company_inference_id"]
        );
        assert_eq!(answer["result"], first["result"]);
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 1);
    assert_eq!(server.count("SELECT COUNT(*) FROM clicks").await, 1);
    assert_eq!(
        server.count("SELECT COUNT(*) FROM signup_events").await,
        22,
        "every call is logged"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_signups_for_one_session_agree() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let session = server.settled_click(&slug, GLOBEX_IP).await;
    let body = signup_body(&session, "kim@globex.com", "Globex");
    let answers = futures::future::join_all((0..16).map(|_| server.signup(body.clone()))).await;
    let first = &answers[0].2;
    assert_eq!(first["result"]["action"], "upgraded");
    for (status, _, answer) in &answers {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(answer["lead_id"], first["lead_id"]);
        assert_eq!(answer["result"], first["result"]);
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_the_first_answer_and_rejects_another_body() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let session = server.settled_click(&slug, ACME_IP).await;
    // Another Acme click, so the first answer has related_updated = 1 and a plain
    // re-send (without key) would answer 0: the replay must give the stored 1.
    server.settled_click(&slug, ACME_IP_2).await;
    let body = signup_body(&session, "lee@acme.com", "Acme");

    let (s1, _, first) = server.signup_with(body.clone(), Some("evt-1")).await;
    assert_eq!(s1, StatusCode::OK);
    assert_eq!(first["related_updated"], 1);
    let replays =
        futures::future::join_all((0..8).map(|_| server.signup_with(body.clone(), Some("evt-1"))))
            .await;
    for (status, _, replay) in replays {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(replay, first, "replay is the stored first answer");
    }

    let other = signup_body(&session, "lee@acme.com", "Globex");
    let (status, _, err) = server.signup_with(other, Some("evt-1")).await;
    assert_error(status, &err, 409, "idempotency_conflict");

    for bad in ["", &"k".repeat(256), "has space"] {
        let (status, _, err) = server.signup_with(body.clone(), Some(bad)).await;
        assert_error(status, &err, 400, "validation_failed");
        assert!(
            err["details"].as_str().unwrap().contains("Idempotency-Key"),
            "{err}"
        );
    }
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lead_per_email_case_insensitively_across_sessions() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let s1 = server.settled_click(&slug, ACME_IP).await;
    let s2 = server.settled_click(&slug, GLOBEX_IP).await;
    let (_, _, a) = server
        .signup(signup_body(&s1, "Jane@Acme.com", "Acme"))
        .await;
    let (_, _, b) = server
        .signup(json!({ "session_id": s2, "email": "jane@acme.COM", "company": "Acme", "name": "Jane" }))
        .await;
    assert_eq!(a["lead_id"], b["lead_id"]);
    assert_ne!(a["company_inference_id"], b["company_inference_id"]);
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 1);
    let lead = &server
        .admin_get("/api/admin/leads?email=JANE@acme.com")
        .await["data"][0];
    assert_eq!(
        lead["name"], "Jane",
        "later signups fill in what they provide"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_corroborates_other_inferences_of_the_same_company() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let signer = server.settled_click(&slug, ACME_IP).await;
    let acme_2 = server.settled_click(&slug, ACME_IP_2).await;
    let acme_v6 = server.settled_click(&slug, ACME_IP_V6).await;
    let globex = server.settled_click(&slug, GLOBEX_IP).await;

    let (_, _, body) = server
        .signup(signup_body(&signer, "ann@acme.com", "Acme Corp"))
        .await;
    assert_eq!(body["related_updated"], 2);
    for session in [&acme_2, &acme_v6] {
        let inference = server.inference(session).await;
        assert_eq!(
            inference["status"], "inferred",
            "other sessions stay inferred"
        );
        assert_eq!(inference["corroborated_by_lead_id"], body["lead_id"]);
    }
    assert_eq!(
        server.inference(&globex).await["corroborated_by_lead_id"],
        Value::Null
    );
    server.stop().await;
}

/// The two ways an inference is related, each on its own: the same company by name
/// (another Acme click, whose domain acme.com is not the email's), and the signup's
/// business email domain (a Globex click, globex.com, under another company name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn related_inferences_are_found_by_company_name_and_by_email_domain() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let signer = server.settled_click(&slug, ACME_IP).await;
    let acme_2 = server.settled_click(&slug, ACME_IP_2).await;
    let globex = server.settled_click(&slug, GLOBEX_IP).await;

    let (_, _, body) = server
        .signup(signup_body(&signer, "ann@globex.com", "Acme Corp"))
        .await;
    assert_eq!(body["result"]["action"], "upgraded", "{body}");
    assert_eq!(body["related_updated"], 2, "{body}");
    for session in [&acme_2, &globex] {
        assert_eq!(
            server.inference(session).await["corroborated_by_lead_id"],
            body["lead_id"]
        );
    }
    // A repeat corroborates nothing new: both are marked already.
    let (_, _, again) = server
        .signup(signup_body(&signer, "ann@globex.com", "Acme Corp"))
        .await;
    assert_eq!(again["related_updated"], 0, "{again}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validation_rule_is_a_400_naming_its_field() {
    let server = TestServer::start().await;
    let slug = server.tracking_link().await;
    let session = server.settled_click(&slug, ACME_IP).await;
    let ok = signup_body(&session, "a@acme.com", "Acme");
    let with = |key: &str, value: Value| {
        let mut body = ok.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = ok.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("session_id"), "session_id"),
        (with("session_id", json!(null)), "session_id"),
        (with("session_id", json!("has spaces")), "session_id"),
        (with("session_id", json!("x".repeat(129))), "session_id"),
        (without("email"), "email"),
        (with("email", json!("not-an-email")), "email"),
        (
            with("email", json!(format!("{}@acme.com", "a".repeat(250)))),
            "email",
        ),
        (with("email", json!(42)), "email"),
        (without("company"), "company"),
        (with("company", json!("   ")), "company"),
        (with("company", json!("c".repeat(201))), "company"),
        (with("company", json!("Acme\u{0001}")), "company"),
        (with("name", json!("n".repeat(201))), "name"),
        (with("job_title", json!("j".repeat(201))), "job_title"),
        (
            with("linkedin_url", json!("https://evil.example/in/x")),
            "linkedin_url",
        ),
        (
            with("linkedin_url", json!("ftp://linkedin.com/in/x")),
            "linkedin_url",
        ),
        (
            with("linkedin_url", json!(["https://linkedin.com/in/x"])),
            "linkedin_url",
        ),
    ];
    for (body, field) in cases {
        let (status, _, err) = server.signup(body.clone()).await;
        assert_error(status, &err, 400, "validation_failed");
        assert!(
            err["details"].as_str().unwrap().starts_with(field),
            "{field}: {err}"
        );
    }
    // Valid edge cases: trimmed, nulls as absent, unknown fields ignored, 200 characters.
    let edge = json!({
        "session_id": format!("  {session}  "), "email": " a@acme.com ", "company": "c".repeat(200),
        "name": null, "job_title": "", "linkedin_url": "https://www.linkedin.com/in/a", "utm": {"x": 1}
    });
    let (status, _, body) = server.signup(edge).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Nothing failed above left a row behind.
    assert_eq!(server.count("SELECT COUNT(*) FROM leads").await, 1);
    assert_eq!(server.count("SELECT COUNT(*) FROM signup_events").await, 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_and_non_json_bodies_get_the_error_shape() {
    let server = TestServer::start().await;
    let json_ct = Some("application/json");
    let (status, body) = server.raw_signup(json_ct, b"{not json".to_vec()).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = server.raw_signup(json_ct, b"[1,2]".to_vec()).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = server.raw_signup(json_ct, b"".to_vec()).await;
    assert_error(status, &body, 400, "validation_failed");
    let (status, body) = server.raw_signup(json_ct, vec![0xff, 0xfe, b'{']).await;
    assert_error(status, &body, 400, "validation_failed");

    let mut big = br#"{"session_id":"s","email":"a@b.io","company":"A","pad":""#.to_vec();
    big.extend(std::iter::repeat_n(b'x', 70 * 1024));
    big.extend(br#""}"#);
    let (status, body) = server.raw_signup(json_ct, big).await;
    assert_error(status, &body, 413, "payload_too_large");

    let valid = br#"{"session_id":"s","email":"a@b.io","company":"A"}"#.to_vec();
    let (status, body) = server.raw_signup(None, valid.clone()).await;
    assert_error(status, &body, 415, "unsupported_media_type");
    let (status, body) = server.raw_signup(Some("text/plain"), valid.clone()).await;
    assert_error(status, &body, 415, "unsupported_media_type");
    let (status, body) = server
        .raw_signup(Some("application/x-www-form-urlencoded"), valid.clone())
        .await;
    assert_error(status, &body, 415, "unsupported_media_type");
    // JSON with parameters or a +json type is JSON.
    let (status, body) = server
        .raw_signup(Some("application/json; charset=utf-8"), valid.clone())
        .await;
    assert_error(status, &body, 404, "session_not_found");
    let (status, body) = server
        .raw_signup(Some("application/vnd.naano+json"), valid)
        .await;
    assert_error(status, &body, 404, "session_not_found");

    let resp = server
        .http
        .get(server.url("/api/track/signup"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_error(
        status,
        &resp.json().await.unwrap(),
        405,
        "method_not_allowed",
    );
    let resp = server
        .http
        .get(server.url("/no/such/route"))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert_error(status, &resp.json().await.unwrap(), 404, "not_found");
    server.stop().await;
}
