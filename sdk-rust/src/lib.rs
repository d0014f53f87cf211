//! `naano`: the Naano client engine. Placeholder until the Rust SDK issue lands; for now it
//! re-exports the shared contract so applications can already read the session cookie.

pub use naano_core::{session_id_from_cookie_header, SignupRequest, SignupResponse};
