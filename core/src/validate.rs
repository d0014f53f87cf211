//! Field rules for the signup webhook, each failure naming its field.

use email_address::{EmailAddress, Options};

/// Largest request body the webhook accepts (64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// RFC 5321's practical limit for a forward path.
pub const MAX_EMAIL_LEN: usize = 254;
/// Limit for company, name and job title, in characters.
pub const MAX_TEXT_LEN: usize = 200;
/// Limit for the LinkedIn URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The JSON field name, e.g. `email`.
    pub field: &'static str,
    /// The rule it broke, in plain words.
    pub message: String,
}

/// Every rule a signup broke, in field order. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.errors))]
pub struct ValidationError {
    /// The individual failures.
    pub errors: Vec<FieldError>,
}

fn render(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ValidationError {
    /// A single failure.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                field,
                message: message.into(),
            }],
        }
    }

    /// The first field that failed.
    pub fn first_field(&self) -> &'static str {
        self.errors.first().map_or("body", |e| e.field)
    }
}

/// Collects failures while each field is checked, so a caller learns every problem at once.
/// Public so that the server validates its admin inputs by the same rules.
#[derive(Debug, Default)]
pub struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    pub fn fail(&mut self, field: &'static str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field,
            message: message.into(),
        });
    }

    pub fn finish<T>(self, value: T) -> Result<T, ValidationError> {
        if self.errors.is_empty() {
            Ok(value)
        } else {
            Err(ValidationError {
                errors: self.errors,
            })
        }
    }

    /// A required text field: trimmed, present, within `max` characters, no control characters.
    pub fn required_text(
        &mut self,
        field: &'static str,
        value: Option<String>,
        max: usize,
    ) -> String {
        match trimmed(value) {
            None => {
                self.fail(field, "is required");
                String::new()
            }
            Some(text) => {
                self.text_rules(field, &text, max);
                text
            }
        }
    }

    /// An optional text field: empty or blank counts as absent.
    pub fn optional_text(
        &mut self,
        field: &'static str,
        value: Option<String>,
        max: usize,
    ) -> Option<String> {
        let text = trimmed(value)?;
        self.text_rules(field, &text, max);
        Some(text)
    }

    fn text_rules(&mut self, field: &'static str, text: &str, max: usize) {
        let chars = text.chars().count();
        if chars > max {
            self.fail(
                field,
                format!("must be at most {max} characters (got {chars})"),
            );
        }
        if text.chars().any(char::is_control) {
            self.fail(field, "must not contain control characters");
        }
    }

    pub fn email(&mut self, value: Option<String>) -> String {
        let Some(email) = trimmed(value) else {
            self.fail("email", "is required");
            return String::new();
        };
        if email.len() > MAX_EMAIL_LEN {
            self.fail(
                "email",
                format!("must be at most {MAX_EMAIL_LEN} characters"),
            );
        } else if !is_valid_email(&email) {
            self.fail("email", "is not a valid email address");
        }
        email
    }

    pub fn session_id(&mut self, value: Option<String>) -> String {
        let Some(id) = trimmed(value) else {
            self.fail("session_id", "is required");
            return String::new();
        };
        if !crate::session::is_valid_session_id(&id) {
            self.fail(
                "session_id",
                "must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'",
            );
        }
        id
    }

    pub fn linkedin_url(&mut self, value: Option<String>) -> Option<String> {
        let raw = trimmed(value)?;
        if raw.len() > MAX_URL_LEN {
            self.fail(
                "linkedin_url",
                format!("must be at most {MAX_URL_LEN} characters"),
            );
        } else if !is_linkedin_url(&raw) {
            self.fail("linkedin_url", "must be an http(s) URL on linkedin.com");
        }
        Some(raw)
    }
}

fn trimmed(value: Option<String>) -> Option<String> {
    let value = value?;
    let t = value.trim();
    if t.is_empty() {
        None
    } else if t.len() == value.len() {
        Some(value)
    } else {
        Some(t.to_owned())
    }
}

/// Addr-spec syntax with a dotted domain name; display names and `[ip]` literals are not
/// addresses a person types into a signup form.
pub fn is_valid_email(email: &str) -> bool {
    let options = Options::default()
        .with_required_tld()
        .without_domain_literal()
        .without_display_text();
    EmailAddress::parse_with_options(email, options).is_ok()
}

/// `http(s)://linkedin.com/...` or any subdomain such as `www.` or `fr.`.
pub fn is_linkedin_url(raw: &str) -> bool {
    let Ok(url) = url::Url::parse(raw) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") {
        return false;
    }
    match url.host_str() {
        Some(host) => {
            let host = host.trim_end_matches('.');
            host.eq_ignore_ascii_case("linkedin.com")
                || host.to_ascii_lowercase().ends_with(".linkedin.com")
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_table() {
        let too_long = format!("{}@example.com", "a".repeat(250));
        let cases: &[(&str, bool)] = &[
            ("user@example.com", true),
            ("first.last+tag@sub.example.co.uk", true),
            ("o'neil@example.ie", true),
            ("user@example", false),
            ("user@", false),
            ("@example.com", false),
            ("user example@example.com", false),
            ("user@@example.com", false),
            ("John <john@example.com>", false),
            ("user@[127.0.0.1]", false),
            ("plainaddress", false),
            (&too_long, false),
        ];
        for (email, ok) in cases {
            let mut c = Checker::default();
            c.email(Some((*email).to_owned()));
            assert_eq!(c.errors.is_empty(), *ok, "{email:?}: {:?}", c.errors);
        }
    }

    #[test]
    fn linkedin_table() {
        let cases: &[(&str, bool)] = &[
            ("https://linkedin.com/in/johndoe", true),
            ("https://www.linkedin.com/in/johndoe/", true),
            ("http://fr.linkedin.com/in/x", true),
            ("https://LinkedIn.com/in/x", true),
            ("https://linkedin.com./in/x", true),
            ("ftp://linkedin.com/in/x", false),
            ("https://notlinkedin.com/in/x", false),
            ("https://linkedin.com.evil.io/in/x", false),
            ("https://evil.io/?u=linkedin.com", false),
            ("linkedin.com/in/x", false),
            ("javascript:alert(1)", false),
        ];
        for (url, ok) in cases {
            assert_eq!(is_linkedin_url(url), *ok, "{url}");
        }
    }

    #[test]
    fn text_rules() {
        let mut c = Checker::default();
        assert_eq!(
            c.required_text("company", Some("  Acme  ".into()), 200),
            "Acme"
        );
        assert!(c.errors.is_empty());
        c.required_text("company", Some("   ".into()), 200);
        c.required_text("company", None, 200);
        c.required_text("company", Some("a\u{0007}b".into()), 200);
        c.required_text("company", Some("é".repeat(201)), 200);
        assert_eq!(c.errors.len(), 4, "{:?}", c.errors);
        assert!(c.errors.iter().all(|e| e.field == "company"));

        let mut c = Checker::default();
        assert_eq!(
            c.required_text("company", Some("é".repeat(200)), 200)
                .chars()
                .count(),
            200
        );
        assert_eq!(c.optional_text("name", Some("  ".into()), 200), None);
        assert!(c.errors.is_empty());
    }

    #[test]
    fn display_joins_every_failure() {
        let err = ValidationError {
            errors: vec![
                FieldError {
                    field: "email",
                    message: "is required".into(),
                },
                FieldError {
                    field: "company",
                    message: "is required".into(),
                },
            ],
        };
        assert_eq!(err.to_string(), "email: is required; company: is required");
        assert_eq!(err.first_field(), "email");
    }
}
