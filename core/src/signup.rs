//! The signup webhook's request and its two success shapes (`upgraded`, `mismatch_handled`).

use serde::{Deserialize, Serialize};

use crate::validate::{Checker, ValidationError, MAX_TEXT_LEN};

/// The webhook body as sent. Every field is optional at this stage so that a missing
/// or `null` field is reported by [`SignupRequest::validate`] with its name, like any
/// other rule; unknown fields are ignored for forward compatibility.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupRequest {
    /// Value of the `naano_session` cookie.
    #[serde(default)]
    pub session_id: Option<String>,
    /// The address the user signed up with.
    #[serde(default)]
    pub email: Option<String>,
    /// The company the user typed.
    #[serde(default)]
    pub company: Option<String>,
    /// Full name.
    #[serde(default)]
    pub name: Option<String>,
    /// Job title.
    #[serde(default)]
    pub job_title: Option<String>,
    /// LinkedIn profile URL.
    #[serde(default)]
    pub linkedin_url: Option<String>,
}

impl SignupRequest {
    /// A signup with the three required fields.
    pub fn new(
        session_id: impl Into<String>,
        email: impl Into<String>,
        company: impl Into<String>,
    ) -> Self {
        Self {
            session_id: Some(session_id.into()),
            email: Some(email.into()),
            company: Some(company.into()),
            ..Self::default()
        }
    }

    /// Sets the full name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the job title.
    pub fn job_title(mut self, job_title: impl Into<String>) -> Self {
        self.job_title = Some(job_title.into());
        self
    }

    /// Sets the LinkedIn profile URL.
    pub fn linkedin_url(mut self, url: impl Into<String>) -> Self {
        self.linkedin_url = Some(url.into());
        self
    }

    /// Applies every field rule; strings come back trimmed, blank optionals as `None`.
    pub fn validate(self) -> Result<ValidSignup, ValidationError> {
        let mut check = Checker::default();
        let signup = ValidSignup {
            session_id: check.session_id(self.session_id),
            email: check.email(self.email),
            company: check.required_text("company", self.company, MAX_TEXT_LEN),
            name: check.optional_text("name", self.name, MAX_TEXT_LEN),
            job_title: check.optional_text("job_title", self.job_title, MAX_TEXT_LEN),
            linkedin_url: check.linkedin_url(self.linkedin_url),
        };
        check.finish(signup)
    }
}

/// A signup that passed validation. Serializes to the webhook's request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidSignup {
    /// Session id, well-formed.
    pub session_id: String,
    /// Email as typed (trimmed); compare with [`ValidSignup::email_key`].
    pub email: String,
    /// Company as typed (trimmed).
    pub company: String,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// LinkedIn profile URL on linkedin.com.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkedin_url: Option<String>,
}

impl ValidSignup {
    /// The identity of a lead: one lead per email, case-insensitively.
    pub fn email_key(&self) -> String {
        self.email.to_lowercase()
    }
}

/// What the webhook did with the signup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignupAction {
    /// The inferred company (or none) was upgraded to the signup's company.
    Upgraded,
    /// The signup named another company than the inferred one; the old one is kept for audit.
    MismatchHandled,
}

impl SignupAction {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upgraded => "upgraded",
            Self::MismatchHandled => "mismatch_handled",
        }
    }
}

/// The `result` object of a 200 answer, tagged by `action`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum SignupResult {
    /// Attribution confirmed for `company`.
    Upgraded {
        /// The confirmed company (as the user typed it).
        company: String,
        /// The session's inference record.
        company_inference_id: String,
    },
    /// The signup company differs from the inferred one.
    MismatchHandled {
        /// What had been inferred before the signup.
        old_company: String,
        /// What the user typed; now the confirmed company.
        new_company: String,
        /// The session's inference record.
        company_inference_id: String,
    },
}

impl SignupResult {
    /// Which of the two shapes this is.
    pub fn action(&self) -> SignupAction {
        match self {
            Self::Upgraded { .. } => SignupAction::Upgraded,
            Self::MismatchHandled { .. } => SignupAction::MismatchHandled,
        }
    }
}

/// A 200 answer of the webhook. The spec's keys come first and keep their meaning;
/// `message`, `lead_id` and `company_inference_id` on mismatch and `related_updated`
/// are additive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupResponse {
    /// Always `true` on a 200.
    pub success: bool,
    /// Human-readable summary.
    #[serde(default)]
    pub message: String,
    /// What happened.
    pub result: SignupResult,
    /// The lead (one per email).
    #[serde(default)]
    pub lead_id: String,
    /// The session's inference record (same as in `result`).
    #[serde(default)]
    pub company_inference_id: String,
    /// How many other sessions' inferences of the confirmed company this call updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related_updated: Option<u64>,
}

impl SignupResponse {
    /// Builds the answer for a result, with the message the spec shows.
    pub fn new(result: SignupResult, lead_id: String, related_updated: Option<u64>) -> Self {
        let (message, inference_id) = match &result {
            SignupResult::Upgraded {
                company_inference_id,
                ..
            } => (
                "Signup attribution upgraded successfully",
                company_inference_id.clone(),
            ),
            SignupResult::MismatchHandled {
                company_inference_id,
                ..
            } => (
                "Company mismatch handled: signup company recorded as confirmed",
                company_inference_id.clone(),
            ),
        };
        Self {
            success: true,
            message: message.to_owned(),
            result,
            lead_id,
            company_inference_id: inference_id,
            related_updated,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> SignupRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn spec_example_is_valid() {
        let req = parse(
            r#"{"session_id":"naano_session_xxx","email":"user@example.com","company":"Acme Corporation",
                "name":"John Doe","job_title":"CTO","linkedin_url":"https://linkedin.com/in/johndoe"}"#,
        );
        let valid = req.validate().unwrap();
        assert_eq!(valid.company, "Acme Corporation");
        assert_eq!(
            valid.linkedin_url.as_deref(),
            Some("https://linkedin.com/in/johndoe")
        );
    }

    #[test]
    fn null_optionals_and_unknown_fields_are_accepted() {
        let valid = parse(
            r#"{"session_id":"s","email":" A@B.io ","company":"Acme","name":null,"job_title":null,
                "linkedin_url":null,"utm_source":"x"}"#,
        )
        .validate()
        .unwrap();
        assert_eq!(valid.email, "A@B.io");
        assert_eq!(valid.email_key(), "a@b.io");
        assert_eq!(valid.name, None);
    }

    #[test]
    fn missing_and_null_required_fields_are_all_named() {
        let err = parse(r#"{"session_id":null}"#).validate().unwrap_err();
        let fields: Vec<_> = err.errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["session_id", "email", "company"]);
    }

    #[test]
    fn every_field_rule_names_its_field() {
        let cases: &[(&str, &str)] = &[
            (
                r#"{"session_id":"bad id","email":"a@b.io","company":"A"}"#,
                "session_id",
            ),
            (
                r#"{"session_id":"s","email":"nope","company":"A"}"#,
                "email",
            ),
            (
                r#"{"session_id":"s","email":"a@b.io","company":""}"#,
                "company",
            ),
            (
                r#"{"session_id":"s","email":"a@b.io","company":"A\u0000"}"#,
                "company",
            ),
            (
                r#"{"session_id":"s","email":"a@b.io","company":"A","linkedin_url":"https://x.io"}"#,
                "linkedin_url",
            ),
        ];
        for (json, field) in cases {
            let err = parse(json).validate().unwrap_err();
            assert_eq!(err.first_field(), *field, "{json}");
            assert!(err.to_string().starts_with(field), "{err}");
        }
        let long = "n".repeat(201);
        for field in ["name", "job_title"] {
            let json = format!(
                r#"{{"session_id":"s","email":"a@b.io","company":"A","{field}":"{long}"}}"#
            );
            assert_eq!(parse(&json).validate().unwrap_err().first_field(), field);
        }
    }

    #[test]
    fn response_shapes_match_the_spec_keys() {
        let up = SignupResponse::new(
            SignupResult::Upgraded {
                company: "Acme Corporation".into(),
                company_inference_id: "ci".into(),
            },
            "lead".into(),
            None,
        );
        assert_eq!(
            serde_json::to_string(&up).unwrap(),
            r#"{"success":true,"message":"Signup attribution upgraded successfully","result":{"action":"upgraded","company":"Acme Corporation","company_inference_id":"ci"},"lead_id":"lead","company_inference_id":"ci"}"#
        );
        let mm = SignupResponse::new(
            SignupResult::MismatchHandled {
                old_company: "Inferred Company Inc".into(),
                new_company: "Acme Corporation".into(),
                company_inference_id: "ci".into(),
            },
            "lead".into(),
            Some(2),
        );
        let v = serde_json::to_value(&mm).unwrap();
        assert_eq!(v["success"], true);
        assert_eq!(v["result"]["action"], "mismatch_handled");
        assert_eq!(v["result"]["old_company"], "Inferred Company Inc");
        assert_eq!(v["result"]["new_company"], "Acme Corporation");
        assert_eq!(v["result"]["company_inference_id"], "ci");
        assert_eq!(v["related_updated"], 2);
        let back: SignupResponse = serde_json::from_value(v).unwrap();
        assert_eq!(back, mm);
    }

    #[test]
    fn a_spec_shaped_mismatch_without_additive_keys_still_parses() {
        let spec = r#"{"success":true,"result":{"action":"mismatch_handled","old_company":"A","new_company":"B","company_inference_id":"x"}}"#;
        let parsed: SignupResponse = serde_json::from_str(spec).unwrap();
        assert_eq!(parsed.result.action(), SignupAction::MismatchHandled);
    }
}
