//! Deciding whether the company a user typed is the company we inferred.
//!
//! Two signals count as a match: the names normalise to the same key, or the signup
//! email's domain is the inferred company's domain. Free-mail domains never match,
//! since `gmail.com` says nothing about an employer.

use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// What enrichment inferred for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inferred<'a> {
    /// The inferred company's name.
    pub company: &'a str,
    /// Its web domain, when the provider knows it.
    pub domain: Option<&'a str>,
}

/// Legal-form words that do not distinguish one company from another. Compared after
/// normalisation (lowercase, accents and dots removed), and stripped only from the end.
const LEGAL_SUFFIXES: &[&str] = &[
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "llc",
    "llp",
    "lp",
    "ltd",
    "limited",
    "plc",
    "gmbh",
    "mbh",
    "ag",
    "kg",
    "ug",
    "se",
    "sa",
    "sas",
    "sasu",
    "sarl",
    "sl",
    "srl",
    "spa",
    "bv",
    "nv",
    "oy",
    "oyj",
    "ab",
    "as",
    "asa",
    "aps",
    "kk",
    "pty",
    "pte",
    "pvt",
    "private",
    "holding",
    "holdings",
    "group",
];

/// Consumer mailbox providers: an address there names no employer.
const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "live.com",
    "live.co.uk",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "yandex.com",
    "yandex.ru",
    "mail.ru",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "tutanota.com",
    "tuta.io",
    "qq.com",
    "163.com",
    "126.com",
    "naver.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "t-online.de",
    "rediffmail.com",
    "hushmail.com",
];

/// The comparison key of a company name: Unicode-normalised (NFKD, accents dropped),
/// lowercased, punctuation and whitespace removed, a leading "the" and trailing legal
/// suffixes ("Corp", "Inc.", "GmbH", …) removed. A name made only of suffixes keeps them
/// so that "Company" does not collapse to the empty key.
pub fn normalize_company(name: &str) -> String {
    let folded = if name.is_ascii() {
        fold_ascii(name)
    } else {
        fold_unicode(name)
    };
    let tokens: Vec<&str> = folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty() && *t != "and")
        .collect();
    let mut end = tokens.len();
    while end > 1 && LEGAL_SUFFIXES.contains(&tokens[end - 1]) {
        end -= 1;
    }
    let start = usize::from(end > 1 && tokens.first() == Some(&"the"));
    tokens[start..end].concat()
}

/// Lowercased, accents and combining marks dropped, and the punctuation that joins a
/// word removed ("Inc." and "O'Brien" are one word each; '&' reads as "and").
fn fold_unicode(name: &str) -> String {
    name.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .filter(|c| !matches!(c, '.' | '\'' | '’'))
        .map(|c| if c == '&' { ' ' } else { c })
        .collect()
}

/// [`fold_unicode`] for an ASCII name, which NFKD leaves as it is: byte by byte, without
/// the decomposition machinery. Most names are ASCII, and the SQLite writer keys every
/// inferred click by its company (decomposing was a tenth of the writer's work per click).
fn fold_ascii(name: &str) -> String {
    let mut folded = String::with_capacity(name.len());
    folded.extend(
        name.bytes()
            .filter(|b| !matches!(b, b'.' | b'\''))
            .map(|b| {
                if b == b'&' {
                    ' '
                } else {
                    char::from(b.to_ascii_lowercase())
                }
            }),
    );
    folded
}

/// The lowercased domain of an email address, if it has one.
pub fn email_domain(email: &str) -> Option<String> {
    let (_, domain) = email.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    (!domain.is_empty()).then_some(domain)
}

/// Whether `domain` (or a parent of it) is a consumer mailbox provider.
pub fn is_free_mail_domain(domain: &str) -> bool {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    FREE_MAIL_DOMAINS
        .iter()
        .any(|free| is_domain_or_subdomain(&domain, free))
}

/// Whether `domain` is `parent` or one of its subdomains (both lowercase). Compared in
/// place: this runs for every entry of the free-mail list on every signup.
fn is_domain_or_subdomain(domain: &str, parent: &str) -> bool {
    domain
        .strip_suffix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

fn bare_domain(domain: &str) -> String {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    d.strip_prefix("www.").map(str::to_owned).unwrap_or(d)
}

/// Whether the signup (`company` typed, `email` given) confirms the inferred company.
pub fn companies_match(inferred: Inferred<'_>, company: &str, email: &str) -> bool {
    let key = normalize_company(company);
    if !key.is_empty() && key == normalize_company(inferred.company) {
        return true;
    }
    let (Some(inferred_domain), Some(email_domain)) = (inferred.domain, email_domain(email)) else {
        return false;
    };
    let inferred_domain = bare_domain(inferred_domain);
    if inferred_domain.is_empty() || is_free_mail_domain(&email_domain) {
        return false;
    }
    is_domain_or_subdomain(&email_domain, &inferred_domain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_fast_path_folds_exactly_as_unicode_path() {
        // Every ASCII character, alone and between letters, then whole names.
        let mut inputs: Vec<String> = (0u8..128)
            .flat_map(|b| [char::from(b).to_string(), format!("Ab{}Cd", char::from(b))])
            .collect();
        inputs.extend(
            [
                "Acme, Inc.",
                "O'Reilly Media",
                "AT&T",
                "The  Acme Co.",
                "  X-Y_Z  ",
                "",
            ]
            .map(str::to_owned),
        );
        for input in &inputs {
            assert!(input.is_ascii());
            assert_eq!(fold_ascii(input), fold_unicode(input), "{input:?}");
        }
    }

    #[test]
    fn normalisation_table() {
        let same: &[(&str, &str)] = &[
            ("Acme Corp", "ACME Corporation"),
            ("Acme, Inc.", "acme"),
            ("  acme   inc ", "Acme"),
            ("Acme Holdings Co., Ltd.", "ACME"),
            ("The Acme Company", "acme"),
            ("Société Générale S.A.", "societe generale"),
            ("Ｓｏｎｙ", "Sony"),
            ("Müller GmbH & Co. KG", "MULLER"),
            ("Mail Chimp", "MailChimp"),
            ("O'Reilly Media", "OReilly Media"),
            ("Johnson & Johnson", "Johnson and Johnson"),
        ];
        for (a, b) in same {
            assert_eq!(normalize_company(a), normalize_company(b), "{a:?} vs {b:?}");
        }
        let different: &[(&str, &str)] = &[
            ("Acme", "Acme Labs"),
            ("Globex", "Acme"),
            ("Apple", "Applied Materials"),
        ];
        for (a, b) in different {
            assert_ne!(normalize_company(a), normalize_company(b), "{a:?} vs {b:?}");
        }
        assert_eq!(normalize_company("Company"), "company");
        assert_eq!(normalize_company("The"), "the");
        assert_eq!(normalize_company("!!!"), "");
    }

    #[test]
    fn match_table() {
        let acme = Inferred {
            company: "Acme Corporation",
            domain: Some("acme.com"),
        };
        let nodomain = Inferred {
            company: "Acme Corporation",
            domain: None,
        };
        let gmail_inferred = Inferred {
            company: "Google",
            domain: Some("gmail.com"),
        };
        let cases: &[(Inferred<'_>, &str, &str, bool)] = &[
            (acme, "Acme, Inc.", "x@elsewhere.io", true),
            (acme, "ACME", "x@acme.com", true),
            (acme, "Road Runner Ltd", "x@acme.com", true),
            (acme, "Road Runner Ltd", "x@eu.acme.com", true),
            (acme, "Road Runner Ltd", "x@ACME.COM", true),
            (acme, "Road Runner Ltd", "x@notacme.com", false),
            (acme, "Globex", "x@gmail.com", false),
            (nodomain, "Globex", "x@acme.com", false),
            (gmail_inferred, "Someone", "x@gmail.com", false),
            (
                Inferred {
                    company: "Acme",
                    domain: Some("www.acme.com"),
                },
                "Other",
                "x@acme.com",
                true,
            ),
        ];
        for (inferred, company, email, expected) in cases {
            assert_eq!(
                companies_match(*inferred, company, email),
                *expected,
                "{inferred:?} vs {company:?} <{email}>"
            );
        }
    }

    #[test]
    fn free_mail_and_email_domain() {
        assert!(is_free_mail_domain("gmail.com"));
        assert!(is_free_mail_domain("GMAIL.COM."));
        assert!(is_free_mail_domain("outlook.com"));
        assert!(!is_free_mail_domain("acme.com"));
        assert!(!is_free_mail_domain("notgmail.com"));
        assert!(
            is_free_mail_domain("eu.mail.yahoo.com"),
            "a subdomain of one"
        );
        assert!(!is_free_mail_domain("gmail.com.acme.io"));
        assert_eq!(email_domain("A@Acme.COM").as_deref(), Some("acme.com"));
        assert_eq!(email_domain("no-at-sign"), None);
        assert_eq!(email_domain("x@"), None);
    }
}
