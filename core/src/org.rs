//! What kind of organisation holds an IP network, and the rule set that tells it from the
//! name an ASN registry gives.
//!
//! Reverse-IP attribution is only honest when it refuses to name a company for traffic
//! that says nothing about an employer: a residential or mobile ISP, a cloud or CDN, a
//! VPN. Only a [`OrgKind::Business`] answer becomes an inferred company; every other kind
//! finishes enrichment with "no company".

use std::fmt;
use std::str::FromStr;

/// The kind of organisation behind a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// A company whose own staff use the network: the only kind worth attributing.
    Business,
    /// Residential, mobile or transit internet access.
    Isp,
    /// Clouds, CDNs, hosting, VPN and proxy services.
    Hosting,
    /// Universities, schools, research networks.
    Education,
    /// Public administrations.
    Government,
    /// The source could not tell.
    Unknown,
}

impl OrgKind {
    /// Every kind, in a fixed order (for docs and validation messages).
    pub const ALL: [Self; 6] = [
        Self::Business,
        Self::Isp,
        Self::Hosting,
        Self::Education,
        Self::Government,
        Self::Unknown,
    ];

    /// The wire and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Business => "business",
            Self::Isp => "isp",
            Self::Hosting => "hosting",
            Self::Education => "education",
            Self::Government => "government",
            Self::Unknown => "unknown",
        }
    }

    /// Whether an answer of this kind names a company to attribute the visit to.
    pub fn is_attributable(self) -> bool {
        self == Self::Business
    }
}

impl fmt::Display for OrgKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`OrgKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown organisation kind {0:?}: expected business, isp, hosting, education, government or unknown")]
pub struct UnknownOrgKind(pub String);

impl FromStr for OrgKind {
    type Err = UnknownOrgKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == lower)
            // IPinfo and others say "hosting"/"isp"/"business"/"education"/"government";
            // a few say "edu"/"gov".
            .or(match lower.as_str() {
                "edu" => Some(Self::Education),
                "gov" => Some(Self::Government),
                _ => None,
            })
            .ok_or(UnknownOrgKind(s.to_owned()))
    }
}

/// ASNs of the large clouds, CDNs and hosting companies. Their names alone would read
/// as ordinary companies ("Amazon.com, Inc.", "Microsoft Corporation", "Google LLC"), yet
/// traffic from them is servers, bots and VPN exits, not those companies' staff.
const HOSTING_ASNS: &[u32] = &[
    16509, 14618, 8987, // Amazon (AWS)
    15169, 396982, 19527, 36040, 36492, // Google, Google Cloud
    8075, 8068, 8069, 12076, // Microsoft (Azure and its backbone)
    13335, 209242, // Cloudflare
    20940, 16625, 16702, 21342, 32787, 63949, // Akamai (and Linode)
    54113, // Fastly
    16276, 35540, // OVH
    24940, 213230, // Hetzner
    14061,  // DigitalOcean
    31898,  // Oracle Cloud
    45102, 37963, // Alibaba Cloud
    132203, 45090, // Tencent Cloud
    20473, // Vultr (Choopa)
    51167, // Contabo
    12876, // Scaleway
    60781, 16265, 28753, 30633, // Leaseweb
    36352, // ColoCrossing
    46606, // Unified Layer
    26496, // GoDaddy
    9009,  // M247 (VPN exits)
    212238, 136787, // Datacamp / PacketHub (VPN exits)
    396356, // Latitude.sh
    62567, 19318, // DigitalOcean NYC, Interserver
    13414, // Twitter/X (edge)
    32934, // Facebook (edge)
    54825, // Equinix Metal
];

/// Mobile and residential carriers whose names carry no telling keyword.
const ISP_ASNS: &[u32] = &[
    7922, 7018, 701, 702, 22394, 20057, 21928, 7843, 20115, 11426, 10796, 11351, 12271, 33363,
    5650, 209, 3320, 3215, 2856, 5089, 1136, 6830, 12322, 3352, 3269, 4134, 4837, 9808, 17676,
    4713, 2516, 9121, 12389, 8359, 6327, 812, 577, 1221, 4804, 7545,
];

/// Word fragments that mark each kind, matched on the normalised name's words. Checked
/// in this order: an "Acme Hosting University" is a university running servers.
const EDUCATION_WORDS: &[&str] = &[
    "university",
    "universitat",
    "universite",
    "universidad",
    "universita",
    "universiteit",
    "college",
    "school",
    "schools",
    "academy",
    "education",
    "educational",
    "polytechnic",
    "hochschule",
    "research and education",
    "institute of technology",
    "research network",
];
const GOVERNMENT_WORDS: &[&str] = &[
    "government",
    "ministry",
    "ministerio",
    "ministere",
    "department of",
    "federal",
    "city of",
    "county of",
    "state of",
    "municipality",
    "municipal",
    "county",
    "district",
    "parliament",
    "national police",
    "armed forces",
    "defense information",
];
const HOSTING_WORDS: &[&str] = &[
    "hosting",
    "host",
    "hoster",
    "cloud",
    "datacenter",
    "data center",
    "data centre",
    "datacentre",
    "server",
    "servers",
    "vps",
    "colo",
    "colocation",
    "cdn",
    "vpn",
    "proxy",
    "dedicated",
    "web services",
];
const ISP_WORDS: &[&str] = &[
    "telecom",
    "telekom",
    "telecommunications",
    "telecommunication",
    "telecomunicacoes",
    "comunicacao",
    "comunicacoes",
    "provedor",
    "fibra",
    "wifi",
    "wisp",
    "telecomunicaciones",
    "telephone",
    "telefonica",
    "telco",
    "communications",
    "communication",
    "broadband",
    "cable",
    "cablevision",
    "mobile",
    "wireless",
    "cellular",
    "internet",
    "isp",
    "network",
    "networks",
    "net",
    "fiber",
    "fibre",
    "online",
    "telenet",
    "vodafone",
    "orange",
    "comcast",
    "verizon",
    "at&t",
    "att",
    "charter",
    "t-mobile",
    "tmobile",
    "sprint",
    "swisscom",
    "proximus",
    "telstra",
    "optus",
    "airtel",
    "jio",
    "bharti",
    "rostelecom",
    "megafon",
    "beeline",
    "turkcell",
    "telia",
    "telenor",
    "tele2",
    "sfr",
    "bouygues",
    "free sas",
    "virgin media",
    "sky",
    "rogers",
    "bell canada",
    "shaw",
    "videotron",
    "cox",
    "spectrum",
    "frontier",
    "centurylink",
    "lumen",
    "level 3",
    "cogent",
    "hurricane electric",
    "zayo",
    "gtt",
    "singtel",
    "starhub",
    "chunghwa",
    "kddi",
    "ntt",
    "softbank",
    "china unicom",
    "china mobile",
    "chinanet",
    "kt corporation",
    "lg uplus",
    "sk broadband",
    "claro",
    "movistar",
    "tim",
    "wind tre",
    "fastweb",
    "iliad",
    "kpn",
    "ziggo",
    "a1",
    "magyar",
    "plus",
    "play",
    "starlink",
    "space exploration technologies",
];

/// Classifies an organisation from its ASN and registry name.
///
/// The rules, in order: a known hosting ASN, a known ISP ASN, then words in the name
/// (education, government, hosting, ISP — the most specific first); a name left with no
/// letters is unknown; anything else is a business. Misclassifications are fixed without
/// a release through the server's override file.
pub fn classify_org(asn: u32, name: &str) -> OrgKind {
    if HOSTING_ASNS.contains(&asn) {
        return OrgKind::Hosting;
    }
    if ISP_ASNS.contains(&asn) {
        return OrgKind::Isp;
    }
    let words = name_words(name);
    if words.trim().is_empty() || words.trim() == "-" {
        return OrgKind::Unknown;
    }
    let rules: [(&[&str], OrgKind); 4] = [
        (EDUCATION_WORDS, OrgKind::Education),
        (GOVERNMENT_WORDS, OrgKind::Government),
        (HOSTING_WORDS, OrgKind::Hosting),
        (ISP_WORDS, OrgKind::Isp),
    ];
    for (phrases, kind) in rules {
        if phrases.iter().any(|p| contains_phrase(&words, p)) {
            return kind;
        }
    }
    // A registry name that is a domain ("example.gov", "cs.example.edu").
    let lower = name.to_ascii_lowercase();
    if lower.contains(".gov") {
        return OrgKind::Government;
    }
    if lower.contains(".edu") {
        return OrgKind::Education;
    }
    OrgKind::Business
}

/// Lowercase words separated by single spaces and padded with one space on each side,
/// so a phrase matches on word boundaries with a plain substring search.
fn name_words(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push(' ');
    let mut last_space = true;
    for c in name.chars().flat_map(char::to_lowercase) {
        // `&` and `-` stay: "at&t", "t-mobile".
        let keep = c.is_alphanumeric() || c == '&' || c == '-';
        if keep {
            out.push(c);
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    if !last_space {
        out.push(' ');
    }
    // Accents folded for the few non-English words in the lists.
    out.replace(['ä', 'à', 'á', 'â'], "a")
        .replace(['é', 'è', 'ê'], "e")
        .replace(['ö', 'ó', 'ô'], "o")
        .replace(['ü', 'ú'], "u")
        .replace('ç', "c")
        .replace('ã', "a")
}

/// Stems so specific that they mark a kind anywhere inside a word ("Gtelecom",
/// "Netcologne Telekommunikation", "Webhostingworld").
const STRONG_STEMS: &[&str] = &[
    "telecom",
    "telekom",
    "broadband",
    "hosting",
    "datacenter",
    "vpn",
];

/// Phrases that also match as the start of a longer word.
const PREFIX_STEMS: &[&str] = &["host", "cloud", "server"];

fn contains_phrase(words: &str, phrase: &str) -> bool {
    // `words` is padded with spaces, so a whole-word match is bounded by spaces.
    let prefix_ok = PREFIX_STEMS.contains(&phrase);
    if STRONG_STEMS.contains(&phrase) && words.contains(phrase) {
        return true;
    }
    words.match_indices(phrase).any(|(at, _)| {
        let before = words[..at].ends_with(' ');
        let after = words[at + phrase.len()..].starts_with(' ');
        // Hosting brands are often compounds: "Hostinger", "Cloudhouse", "Serverius".
        // Every other phrase matches whole words only ("mobile" is not "Mobileye").
        before && (after || prefix_ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        use OrgKind::*;
        let cases: &[(u32, &str, OrgKind)] = &[
            // The clouds and CDNs by ASN, whatever their names say.
            (16509, "Amazon.com, Inc.", Hosting),
            (14618, "Amazon.com, Inc.", Hosting),
            (15169, "Google LLC", Hosting),
            (8075, "Microsoft Corporation", Hosting),
            (13335, "Cloudflare, Inc.", Hosting),
            (16276, "OVH SAS", Hosting),
            (24940, "Hetzner Online GmbH", Hosting),
            (14061, "DigitalOcean, LLC", Hosting),
            (54113, "Fastly, Inc.", Hosting),
            (20940, "Akamai International B.V.", Hosting),
            // Hosting by words.
            (64500, "Example Hosting Ltd", Hosting),
            (64501, "Hostinger International Limited", Hosting),
            (64502, "Acme Cloud Services", Hosting),
            (64503, "NordVPN S.A.", Hosting),
            (64504, "Big Data Center GmbH", Hosting),
            // ISPs and mobile carriers, by ASN and by words.
            (7922, "Comcast Cable Communications, LLC", Isp),
            (7018, "AT&T Services, Inc.", Isp),
            (3320, "Deutsche Telekom AG", Isp),
            (64510, "Vodafone GmbH", Isp),
            (64511, "T-Mobile USA, Inc.", Isp),
            (64512, "Orange S.A.", Isp),
            (64513, "Example Broadband Co", Isp),
            (64514, "Gtelecom Pty Ltd", Isp), // a strong stem inside a word
            (64515, "ARTERIA Networks Corporation", Isp),
            (64516, "Hurricane Electric LLC", Isp),
            (64517, "Reliance Jio Infocomm Limited", Isp),
            (64518, "Example Wireless Internet", Isp),
            // Education and government.
            (64520, "Massachusetts Institute of Technology", Education),
            (64521, "Universität Wien", Education),
            (64522, "Stanford University", Education),
            (64523, "WIDE Project research network", Education),
            (64524, "Ministry of Finance", Government),
            (64525, "City of Chicago", Government),
            (64526, "U.S. Department of Energy", Government),
            (64527, "example.gov", Government),
            (64528, "Jefferson County", Government),
            (64529, "Springfield School District", Education),
            (64519, "Example Provedor de Internet Ltda", Isp),
            // Businesses: their own networks.
            (64530, "Enecom,Inc.", Business),
            (64531, "Apple Inc.", Business),
            (64532, "Goldman Sachs & Co. LLC", Business),
            (64533, "Siemens AG", Business),
            (64535, "Mobileye Vision Technologies", Business),
            (64536, "Colorado Springs Utilities", Business),
            (64537, "Skyline Partners LLC", Business),
            (64534, "Internet Systems Consortium, Inc.", Isp),
            // Nothing to go by.
            (64540, "", Unknown),
            (64541, "-", Unknown),
            (64542, "  ", Unknown),
        ];
        for (asn, name, expected) in cases {
            assert_eq!(classify_org(*asn, name), *expected, "AS{asn} {name:?}");
        }
    }

    #[test]
    fn only_business_is_attributable() {
        for kind in OrgKind::ALL {
            assert_eq!(kind.is_attributable(), kind == OrgKind::Business, "{kind}");
        }
    }

    #[test]
    fn kinds_round_trip_and_accept_aliases() {
        for kind in OrgKind::ALL {
            assert_eq!(kind.as_str().parse::<OrgKind>(), Ok(kind));
        }
        assert_eq!("EDU".parse::<OrgKind>(), Ok(OrgKind::Education));
        assert_eq!(" gov ".parse::<OrgKind>(), Ok(OrgKind::Government));
        assert_eq!("Hosting".parse::<OrgKind>(), Ok(OrgKind::Hosting));
        assert!("bank".parse::<OrgKind>().is_err());
    }
}
