//! `naano-core`: the contract shared by the Naano server and every SDK.
//!
//! Everything here is pure (no I/O, no async runtime) so that the server, the Rust
//! engine and the Python/Node bindings all agree on one definition of what a valid
//! signup is, what the webhook answers, which cookie carries the session and when two
//! company names mean the same company.

pub mod circuit;
pub mod company;
pub mod cookie;
pub mod error;
pub mod landing;
pub mod network;
pub mod org;
pub mod retry;
pub mod session;
pub mod signup;
pub mod validate;

pub use company::{
    companies_match, email_domain, is_free_mail_domain, normalize_company, Inferred,
};
pub use cookie::{
    session_id_from_cookie_header, session_set_cookie, SESSION_COOKIE, SESSION_MAX_AGE_SECS,
    SESSION_QUERY_PARAM,
};
pub use error::{ErrorBody, ErrorCode};
pub use landing::LandingUrl;
pub use network::{canonical_ip, client_network, client_network_prefix, is_public_ip};
pub use org::{classify_org, OrgKind, UnknownOrgKind};
pub use retry::{backoff_ceiling, classify, Disposition};
pub use session::{
    is_valid_session_id, new_session_id, new_session_id_at, session_issued_at_ms,
    should_replace_session, SESSION_ID_PREFIX,
};
pub use signup::{SignupAction, SignupRequest, SignupResponse, SignupResult, ValidSignup};
pub use validate::{Checker, FieldError, ValidationError, MAX_BODY_BYTES, MAX_TEXT_LEN};
