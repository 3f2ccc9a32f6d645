//! What the router knows about a message: the salient features seed 001's decision maker
//! looks at, already normalised (addresses and words lower-cased) so that matching 200 rules
//! costs no allocation.

use serde::{Deserialize, Serialize};

/// How much of the body word conditions look at. Keeps a 30 MB text body from costing
/// 30 MB of scanning per rule.
pub const BODY_SCAN_LIMIT: usize = 1 << 20;

/// The channel a message came in by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageChannel {
    #[default]
    Mail,
    Im,
}

impl MessageChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageChannel::Mail => "mail",
            MessageChannel::Im => "im",
        }
    }
}

/// Importance from the Importance, X-Priority, Priority and X-MSMail-Priority headers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Importance {
    Low,
    #[default]
    Normal,
    High,
}

impl Importance {
    pub fn as_str(self) -> &'static str {
        match self {
            Importance::Low => "low",
            Importance::Normal => "normal",
            Importance::High => "high",
        }
    }

    /// Reads the importance headers of a raw message (header block only). The first header
    /// that says something definite wins, in this order: Importance (RFC 4021: high, normal,
    /// low), X-Priority (1–2 high, 3 normal, 4–5 low; "1 (Highest)" style allowed), Priority
    /// (RFC 2156: urgent, normal, non-urgent), X-MSMail-Priority (High, Normal, Low).
    pub fn from_raw_headers(raw: &[u8]) -> Importance {
        let mut found: [Option<Importance>; 4] = [None; 4];
        for (name, value) in header_fields(raw) {
            let slot = match name.to_ascii_lowercase().as_slice() {
                b"importance" => 0,
                b"x-priority" => 1,
                b"priority" => 2,
                b"x-msmail-priority" => 3,
                _ => continue,
            };
            if found[slot].is_none() {
                found[slot] = importance_value(slot, &value);
            }
        }
        found.into_iter().flatten().next().unwrap_or_default()
    }
}

impl std::str::FromStr for Importance {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Importance::Low),
            "normal" => Ok(Importance::Normal),
            "high" => Ok(Importance::High),
            _ => Err(format!("importance '{s}' is not one of low, normal, high")),
        }
    }
}

fn importance_value(slot: usize, value: &str) -> Option<Importance> {
    let v = value.trim().to_ascii_lowercase();
    match slot {
        1 => match v.chars().next()? {
            '1' | '2' => Some(Importance::High),
            '3' => Some(Importance::Normal),
            '4' | '5' => Some(Importance::Low),
            _ => None,
        },
        2 => match v.as_str() {
            "urgent" => Some(Importance::High),
            "normal" => Some(Importance::Normal),
            "non-urgent" => Some(Importance::Low),
            _ => None,
        },
        _ => match v.as_str() {
            "high" => Some(Importance::High),
            "normal" => Some(Importance::Normal),
            "low" => Some(Importance::Low),
            _ => None,
        },
    }
}

/// (name, unfolded value) of each header field before the first empty line. Tolerates LF
/// line ends and junk lines; stops after 256 KB of header.
fn header_fields(raw: &[u8]) -> Vec<(Vec<u8>, String)> {
    let head = &raw[..raw.len().min(256 * 1024)];
    let mut out: Vec<(Vec<u8>, String)> = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(String::from_utf8_lossy(line).trim());
            }
            continue;
        }
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name = line[..colon].trim_ascii().to_vec();
            let value = String::from_utf8_lossy(&line[colon + 1..])
                .trim()
                .to_string();
            out.push((name, value));
        }
    }
    out
}

/// What the router looks at. Build it with [`MessageFacts::new`] (or `from_uniform` with the
/// `model` feature); the constructor normalises, the decision only compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageFacts {
    /// The store's message id, when stored.
    pub message_id: Option<i64>,
    pub channel: MessageChannel,
    /// Names of the accounts the message came through.
    pub accounts: Vec<String>,
    /// The first From address, lower-case; `None` when there is none.
    pub sender: Option<String>,
    /// Where the domain starts in `sender` (after the last '@'); 0 when unknown.
    #[serde(skip)]
    pub(crate) domain_start: usize,
    /// The sender's display name as written.
    pub sender_name: Option<String>,
    /// To and Cc addresses, lower-case.
    pub recipients: Vec<String>,
    /// The subject as written (for display).
    pub subject: String,
    /// Lower-case subject, for word conditions.
    #[serde(skip)]
    pub subject_lc: String,
    /// Lower-case text of the body, at most [`BODY_SCAN_LIMIT`] bytes.
    #[serde(skip)]
    pub body_lc: String,
    /// The distinct words of `subject_lc` and `body_lc`.
    #[serde(skip)]
    pub subject_words: WordIndex,
    #[serde(skip)]
    pub body_words: WordIndex,
    /// Raw size in bytes.
    pub size: u64,
    pub has_attachment: bool,
    /// The List-Id identifier (without phrase and brackets), lower-case.
    pub list_id: Option<String>,
    pub importance: Importance,
    /// The thread this message belongs to: the first References id, else In-Reply-To, else
    /// its own Message-ID. Rate limits count per conversation.
    pub conversation: String,
}

/// Input of [`MessageFacts::new`], as found in the message.
#[derive(Debug, Clone, Default)]
pub struct FactsInput<'a> {
    pub message_id: Option<i64>,
    pub channel: MessageChannel,
    pub accounts: Vec<String>,
    pub sender: Option<&'a str>,
    pub sender_name: Option<&'a str>,
    pub recipients: Vec<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
    pub size: u64,
    pub has_attachment: bool,
    pub list_id: Option<&'a str>,
    pub importance: Importance,
    pub message_key: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
}

impl MessageFacts {
    pub fn new(i: FactsInput<'_>) -> MessageFacts {
        let body = if i.body.len() > BODY_SCAN_LIMIT {
            let mut end = BODY_SCAN_LIMIT;
            while !i.body.is_char_boundary(end) {
                end -= 1;
            }
            &i.body[..end]
        } else {
            i.body
        };
        let sender = i
            .sender
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        let conversation = i
            .references
            .first()
            .map(String::as_str)
            .or(i.in_reply_to)
            .unwrap_or(i.message_key)
            .to_string();
        let subject_lc = i.subject.to_lowercase();
        let body_lc = body.to_lowercase();
        let domain_start = sender
            .as_deref()
            .and_then(|s| s.rfind('@'))
            .map_or(0, |at| at + 1);
        MessageFacts {
            domain_start,
            subject_words: WordIndex::new(&subject_lc),
            body_words: WordIndex::new(&body_lc),
            subject_lc,
            body_lc,
            message_id: i.message_id,
            channel: i.channel,
            accounts: i.accounts,
            sender,
            sender_name: i.sender_name.map(str::to_string),
            recipients: i
                .recipients
                .iter()
                .map(|r| r.trim().to_lowercase())
                .filter(|r| !r.is_empty())
                .collect(),
            subject: i.subject.to_string(),
            size: i.size,
            has_attachment: i.has_attachment,
            list_id: i
                .list_id
                .map(|l| l.trim().to_lowercase())
                .filter(|l| !l.is_empty()),
            importance: i.importance,
            conversation,
        }
    }

    /// The domain of the sender's address, lower-case.
    pub fn sender_domain(&self) -> Option<&str> {
        let s = self.sender.as_deref()?;
        let d = self.domain_start;
        // The position found by `new`, unless `sender` was changed by hand since.
        if d > 0 && d <= s.len() && s.as_bytes()[d - 1] == b'@' && !s[d..].contains('@') {
            return Some(&s[d..]);
        }
        s.rsplit_once('@').map(|(_, d)| d)
    }

    /// Facts from a parsed message. `accounts` are the accounts it came through; `raw` (when
    /// at hand) supplies the importance headers, which the uniform message does not keep.
    #[cfg(feature = "model")]
    pub fn from_uniform(
        m: &switchboard_model::UniformMessage,
        message_id: Option<i64>,
        accounts: Vec<String>,
        raw: Option<&[u8]>,
    ) -> MessageFacts {
        let body = switchboard_model::search_text(m);
        MessageFacts::new(FactsInput {
            message_id,
            channel: MessageChannel::Mail,
            accounts,
            sender: m.from.first().map(|a| a.email.as_str()),
            sender_name: m.from.first().and_then(|a| a.name.as_deref()),
            recipients: m.to.iter().chain(&m.cc).map(|a| a.email.as_str()).collect(),
            subject: &m.subject,
            body: &body,
            size: m.size,
            has_attachment: m.attachments.iter().any(|a| !a.inline),
            list_id: m.list_id.as_deref(),
            importance: raw.map(Importance::from_raw_headers).unwrap_or_default(),
            message_key: &m.message_key,
            in_reply_to: m.in_reply_to.first().map(String::as_str),
            references: &m.references,
        })
    }
}

/// The distinct words of a lower-case text — maximal runs of letters and digits — so that a
/// word condition costs a binary search instead of a scan of the text. Entries are (hash,
/// start, length) sorted by hash; a hit is confirmed against the text, so the answer is
/// exact.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WordIndex {
    entries: Vec<(u64, u32, u32)>,
    /// One bit per word hash (1,024 bits): most looked-up words are absent, and most of those
    /// are turned away here without the search.
    bloom: [u64; 16],
}

fn bloom_bit(h: u64) -> (usize, u64) {
    // The top bits: FNV's low bits follow the last byte too closely.
    let bit = (h >> 54) as usize; // 0..1024
    (bit / 64, 1u64 << (bit % 64))
}

/// FNV-1a: tiny and good enough to spread words; hits are checked against the text anyway.
pub(crate) fn word_hash(w: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in w.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl WordIndex {
    pub fn new(text: &str) -> WordIndex {
        let mut entries = Vec::new();
        let mut start: Option<usize> = None;
        let mut push = |s: usize, e: usize| {
            if let (Ok(s32), Ok(len)) = (u32::try_from(s), u32::try_from(e - s)) {
                entries.push((word_hash(&text[s..e]), s32, len));
            }
        };
        for (i, c) in text.char_indices() {
            if c.is_alphanumeric() {
                start.get_or_insert(i);
            } else if let Some(s) = start.take() {
                push(s, i);
            }
        }
        if let Some(s) = start {
            push(s, text.len());
        }
        let word = |&(_, s, l): &(u64, u32, u32)| &text[s as usize..(s + l) as usize];
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| word(a).cmp(word(b))));
        entries.dedup_by(|a, b| a.0 == b.0 && word(a) == word(b));
        let mut bloom = [0u64; 16];
        for e in &entries {
            let (i, m) = bloom_bit(e.0);
            bloom[i] |= m;
        }
        WordIndex { entries, bloom }
    }

    /// Whether `word` (letters and digits only, lower-case) is one of the words of `text`,
    /// the text this index was built from.
    pub fn contains(&self, text: &str, word: &str) -> bool {
        self.contains_hashed(text, word, word_hash(word))
    }

    pub(crate) fn contains_hashed(&self, text: &str, word: &str, h: u64) -> bool {
        let (i, m) = bloom_bit(h);
        if self.bloom[i] & m == 0 {
            return false;
        }
        let from = self.entries.partition_point(|e| e.0 < h);
        self.entries[from..]
            .iter()
            .take_while(|e| e.0 == h)
            .any(|&(_, s, l)| text.get(s as usize..(s + l) as usize) == Some(word))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A sender pattern of the notification settings: an address, `@domain` (that domain and its
/// subdomains) or `group:NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderPattern {
    Address(String),
    Domain(String),
    Group(String),
}

impl SenderPattern {
    /// Exactly as written: no spaces around it.
    pub fn parse(s: &str) -> Result<SenderPattern, String> {
        if let Some(g) = s.strip_prefix("group:") {
            crate::validate::name("group name", g)?;
            return Ok(SenderPattern::Group(g.to_string()));
        }
        if let Some(d) = s.strip_prefix('@') {
            if d.is_empty()
                || d.contains('@')
                || d.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(format!("sender '{s}' is not @domain"));
            }
            return Ok(SenderPattern::Domain(d.to_lowercase()));
        }
        crate::validate::address_shape("sender", s)?;
        Ok(SenderPattern::Address(s.to_lowercase()))
    }
}

/// Whether `domain` is `want` or a subdomain of it (both lower-case).
pub(crate) fn domain_matches(domain: &str, want: &str) -> bool {
    domain == want
        || (domain.len() > want.len()
            && domain.ends_with(want)
            && domain.as_bytes()[domain.len() - want.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn importance_headers_in_their_order() {
        let cases: &[(&str, Importance)] = &[
            ("Subject: x\r\n\r\nbody", Importance::Normal),
            ("Importance: High\r\n\r\n", Importance::High),
            ("importance: low\n\n", Importance::Low),
            ("X-Priority: 1 (Highest)\r\n\r\n", Importance::High),
            ("X-Priority: 2\r\n\r\n", Importance::High),
            ("X-Priority: 5 (Lowest)\r\n\r\n", Importance::Low),
            ("Priority: urgent\r\n\r\n", Importance::High),
            ("Priority: non-urgent\r\n\r\n", Importance::Low),
            ("X-MSMail-Priority: High\r\n\r\n", Importance::High),
            // Importance wins over X-Priority whatever the order.
            (
                "X-Priority: 5\r\nImportance: high\r\n\r\n",
                Importance::High,
            ),
            // Garbage is ignored, the next header decides.
            (
                "Importance: very\r\nX-Priority: 1\r\n\r\n",
                Importance::High,
            ),
            // Folded value.
            ("Importance:\r\n high\r\n\r\n", Importance::High),
            // Only the header block counts.
            ("Subject: x\r\n\r\nImportance: high\r\n", Importance::Normal),
            ("", Importance::Normal),
            ("\u{0}\u{1}garbage without colon", Importance::Normal),
        ];
        for (raw, want) in cases {
            assert_eq!(
                Importance::from_raw_headers(raw.as_bytes()),
                *want,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn facts_normalise_and_cap_the_body() {
        let big = "É".repeat(BODY_SCAN_LIMIT); // two bytes each: cut on a char boundary
        let refs = vec!["root@x".to_string(), "mid@x".to_string()];
        let f = MessageFacts::new(FactsInput {
            sender: Some(" Bob@Example.ORG "),
            recipients: vec!["Me@Home.example", " "],
            subject: "Grüße",
            body: &big,
            list_id: Some("Dev.Lists.Example.org"),
            message_key: "self@x",
            in_reply_to: Some("mid@x"),
            references: &refs,
            ..Default::default()
        });
        assert_eq!(f.sender.as_deref(), Some("bob@example.org"));
        assert_eq!(f.sender_domain(), Some("example.org"));
        assert_eq!(f.recipients, ["me@home.example"]);
        assert_eq!(f.subject_lc, "grüße");
        assert!(f.body_lc.len() <= BODY_SCAN_LIMIT);
        assert!(f.body_lc.starts_with('é'));
        assert_eq!(f.list_id.as_deref(), Some("dev.lists.example.org"));
        assert_eq!(f.conversation, "root@x");
        let none = MessageFacts::new(FactsInput {
            sender: Some("  "),
            message_key: "k",
            ..Default::default()
        });
        assert_eq!(none.sender, None);
        assert_eq!(none.sender_domain(), None);
        assert_eq!(none.conversation, "k");
    }

    #[test]
    fn the_word_index_finds_exactly_the_words() {
        let text = "pay the invoice, invoices and pre-invoice now: grüße 日本語 x2 invoice";
        let idx = WordIndex::new(text);
        for (w, want) in [
            ("invoice", true),
            ("invoices", true),
            ("pre", true),
            ("grüße", true),
            ("日本語", true),
            ("x2", true),
            ("voice", false),
            ("invoic", false),
            ("", false),
            ("nothing", false),
        ] {
            assert_eq!(idx.contains(text, w), want, "{w}");
        }
        // Repeated words are kept once.
        assert_eq!(idx.len(), 10);
        assert!(WordIndex::new("").is_empty());
        assert!(WordIndex::new(" ,.; ").is_empty());
    }

    #[test]
    fn sender_patterns() {
        assert_eq!(
            SenderPattern::parse("Boss@X.org").unwrap(),
            SenderPattern::Address("boss@x.org".into())
        );
        assert_eq!(
            SenderPattern::parse("@X.org").unwrap(),
            SenderPattern::Domain("x.org".into())
        );
        assert_eq!(
            SenderPattern::parse("group:VIP").unwrap(),
            SenderPattern::Group("VIP".into())
        );
        for bad in [
            "",
            "@",
            "group:",
            "boss",
            "@a b",
            " boss@x.org",
            "group: VIP",
            "@a\u{1}",
        ] {
            assert!(SenderPattern::parse(bad).is_err(), "{bad}");
        }
        assert!(domain_matches("example.org", "example.org"));
        assert!(domain_matches("lists.example.org", "example.org"));
        assert!(!domain_matches("badexample.org", "example.org"));
        assert!(!domain_matches("org", "example.org"));
    }
}
