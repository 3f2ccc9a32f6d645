//! Test messages: a small RFC 5322 / MIME builder, and a corpus of awkward real-world shapes.
//!
//! Everything is generated in memory (nothing large is committed) and uses CRLF line ends.

use std::sync::atomic::{AtomicU64, Ordering};

/// Builder for one RFC 5322 message (CRLF line ends). Defaults: a unique Message-ID, From
/// `sender@example.test`, To `alice@localhost`, a unique Subject, a fixed Date, a short body.
///
/// ```
/// use switchboard_tests::TestMail;
/// let raw: Vec<u8> = TestMail::new()
///     .message_id("<a@b>")
///     .from("x@y")
///     .to("alice@localhost")
///     .subject("Grüße")
///     .body("hello\n")
///     .attachment("a.bin", b"\x00\x01")
///     .build();
/// assert!(raw.starts_with(b"Message-ID: <a@b>\r\n"));
/// ```
#[derive(Debug, Clone)]
pub struct TestMail {
    message_id: Option<String>,
    from: String,
    to: Vec<String>,
    cc: Vec<String>,
    subject: String,
    date: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    body_type: String,
    html: Option<String>,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
struct Part {
    filename: String,
    content_type: String,
    data: Vec<u8>,
    content_id: Option<String>,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Default for TestMail {
    fn default() -> Self {
        Self::new()
    }
}

impl TestMail {
    pub fn new() -> Self {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        Self {
            message_id: Some(format!("<test-{n}-{pid}@switchboard.test>")),
            from: "Sender <sender@example.test>".into(),
            to: vec!["alice@localhost".into()],
            cc: Vec::new(),
            subject: format!("Test message {n}-{pid}"),
            date: "Mon, 01 Jan 2024 10:00:00 +0000".into(),
            headers: Vec::new(),
            body: b"Hello from the Switchboard tests.\r\n".to_vec(),
            body_type: "text/plain; charset=utf-8".into(),
            html: None,
            parts: Vec::new(),
        }
    }

    /// Sets the Message-ID header value, angle brackets included (`<a@b>`).
    pub fn message_id(mut self, id: &str) -> Self {
        self.message_id = Some(id.to_string());
        self
    }

    /// Omits the Message-ID header.
    pub fn no_message_id(mut self) -> Self {
        self.message_id = None;
        self
    }

    /// The Message-ID that will be written, if any.
    pub fn get_message_id(&self) -> Option<&str> {
        self.message_id.as_deref()
    }

    /// The Subject that will be written (before RFC 2047 encoding).
    pub fn get_subject(&self) -> &str {
        &self.subject
    }

    pub fn from(mut self, from: &str) -> Self {
        self.from = from.to_string();
        self
    }

    /// Replaces the recipients with one address.
    pub fn to(mut self, to: &str) -> Self {
        self.to = vec![to.to_string()];
        self
    }

    /// Adds a recipient.
    pub fn add_to(mut self, to: &str) -> Self {
        self.to.push(to.to_string());
        self
    }

    pub fn cc(mut self, cc: &str) -> Self {
        self.cc.push(cc.to_string());
        self
    }

    /// Subject text; non-ASCII is RFC 2047-encoded (UTF-8, base64) on output.
    pub fn subject(mut self, subject: &str) -> Self {
        self.subject = subject.to_string();
        self
    }

    /// Date header verbatim (RFC 5322 form, e.g. `Mon, 01 Jan 2024 10:00:00 +0000`).
    pub fn date(mut self, date: &str) -> Self {
        self.date = date.to_string();
        self
    }

    /// Date header from seconds since the Unix epoch, in UTC.
    pub fn date_unix(mut self, secs: i64) -> Self {
        self.date = rfc5322_date(secs);
        self
    }

    /// Adds a header; the value is written verbatim (raw bytes allowed, no encoding).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    /// Plain-text body (LF or CRLF; normalised to CRLF). Non-ASCII is sent as 8bit UTF-8.
    pub fn body(mut self, text: &str) -> Self {
        self.body = crlf(text.as_bytes());
        self.body_type = "text/plain; charset=utf-8".into();
        self
    }

    /// Raw body bytes with an explicit Content-Type (normalised to CRLF line ends).
    pub fn body_bytes(mut self, content_type: &str, bytes: &[u8]) -> Self {
        self.body = crlf(bytes);
        self.body_type = content_type.to_string();
        self
    }

    /// Adds an HTML alternative to the text body (multipart/alternative).
    pub fn html(mut self, html: &str) -> Self {
        self.html = Some(html.to_string());
        self
    }

    /// Adds an attachment, base64-encoded; the type is guessed from the file name.
    pub fn attachment(self, filename: &str, data: &[u8]) -> Self {
        let ct = guess_type(filename);
        self.attachment_typed(filename, ct, data)
    }

    /// Adds an attachment with an explicit content type.
    pub fn attachment_typed(mut self, filename: &str, content_type: &str, data: &[u8]) -> Self {
        self.parts.push(Part {
            filename: filename.to_string(),
            content_type: content_type.to_string(),
            data: data.to_vec(),
            content_id: None,
        });
        self
    }

    /// Adds an inline part referenced from the HTML as `cid:CONTENT_ID` (multipart/related).
    pub fn inline_image(mut self, content_id: &str, filename: &str, data: &[u8]) -> Self {
        self.parts.push(Part {
            filename: filename.to_string(),
            content_type: guess_type(filename).to_string(),
            data: data.to_vec(),
            content_id: Some(content_id.to_string()),
        });
        self
    }

    /// The finished message.
    pub fn build(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(id) = &self.message_id {
            push_header(&mut out, "Message-ID", id.as_bytes());
        }
        push_header(&mut out, "Date", self.date.as_bytes());
        push_header(&mut out, "From", self.from.as_bytes());
        push_header(&mut out, "To", self.to.join(", ").as_bytes());
        if !self.cc.is_empty() {
            push_header(&mut out, "Cc", self.cc.join(", ").as_bytes());
        }
        push_header(
            &mut out,
            "Subject",
            encode_header_text(&self.subject).as_bytes(),
        );
        for (name, value) in &self.headers {
            push_header(&mut out, name, value);
        }
        push_header(&mut out, "MIME-Version", b"1.0");

        let text = leaf(&self.body_type, &self.body);
        let content = match &self.html {
            Some(html) => multipart(
                "alternative",
                &[
                    text,
                    leaf("text/html; charset=utf-8", &crlf(html.as_bytes())),
                ],
            ),
            None => text,
        };
        let (inline, attached): (Vec<&Part>, Vec<&Part>) =
            self.parts.iter().partition(|p| p.content_id.is_some());
        let content = if inline.is_empty() {
            content
        } else {
            let mut parts = vec![content];
            parts.extend(inline.iter().map(|p| attachment_part(p)));
            multipart("related", &parts)
        };
        let content = if attached.is_empty() {
            content
        } else {
            let mut parts = vec![content];
            parts.extend(attached.iter().map(|p| attachment_part(p)));
            multipart("mixed", &parts)
        };
        out.extend_from_slice(&content);
        out
    }
}

impl From<TestMail> for Vec<u8> {
    fn from(m: TestMail) -> Self {
        m.build()
    }
}

/// A MIME entity: its own header lines, a blank line, and its body.
fn leaf(content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    push_header(&mut out, "Content-Type", content_type.as_bytes());
    let cte = if body.is_ascii() { "7bit" } else { "8bit" };
    push_header(&mut out, "Content-Transfer-Encoding", cte.as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    if !body.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn attachment_part(p: &Part) -> Vec<u8> {
    let mut out = Vec::new();
    let name = quote_param(&p.filename);
    push_header(
        &mut out,
        "Content-Type",
        format!("{}; name={name}", p.content_type).as_bytes(),
    );
    push_header(&mut out, "Content-Transfer-Encoding", b"base64");
    match &p.content_id {
        Some(cid) => {
            push_header(&mut out, "Content-ID", format!("<{cid}>").as_bytes());
            push_header(
                &mut out,
                "Content-Disposition",
                format!("inline; filename={name}").as_bytes(),
            );
        }
        None => push_header(
            &mut out,
            "Content-Disposition",
            format!("attachment; filename={name}").as_bytes(),
        ),
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&base64_lines(&p.data));
    out
}

static BOUNDARY: AtomicU64 = AtomicU64::new(0);

fn multipart(subtype: &str, parts: &[Vec<u8>]) -> Vec<u8> {
    let b = format!(
        "=_sb_{}_{}",
        std::process::id(),
        BOUNDARY.fetch_add(1, Ordering::Relaxed)
    );
    let mut out = Vec::new();
    push_header(
        &mut out,
        "Content-Type",
        format!("multipart/{subtype}; boundary=\"{b}\"").as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    for p in parts {
        out.extend_from_slice(format!("--{b}\r\n").as_bytes());
        out.extend_from_slice(p);
    }
    out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    out
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn quote_param(s: &str) -> String {
    if s.is_ascii() {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        format!("\"{}\"", encode_word(s))
    }
}

/// ASCII passes through; anything else becomes one or more RFC 2047 UTF-8 B encoded-words.
pub fn encode_header_text(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        encode_word(s)
    }
}

/// RFC 2047 `=?UTF-8?B?...?=` words (split so each stays under 76 characters, never inside a
/// UTF-8 sequence), separated by folding whitespace.
pub fn encode_word(s: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in s.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(std::mem::take(&mut chunk));
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(chunk);
    }
    words
        .iter()
        .map(|w| format!("=?UTF-8?B?{}?=", base64(w.as_bytes())))
        .collect::<Vec<_>>()
        .join("\r\n ")
}

fn guess_type(filename: &str) -> &'static str {
    let lower = filename.to_ascii_lowercase();
    let ext = lower.rsplit('.').next().unwrap_or("");
    match ext {
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "zip" => "application/zip",
        "eml" => "message/rfc822",
        _ => "application/octet-stream",
    }
}

/// Converts bare LF (and lone CR) to CRLF.
pub fn crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, on one line.
pub fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let idx = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, x) in idx.iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(B64[*x as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 in CRLF-terminated lines of 76 characters (MIME body form).
pub fn base64_lines(data: &[u8]) -> Vec<u8> {
    let enc = base64(data);
    let mut out = Vec::with_capacity(enc.len() + enc.len() / 76 * 2 + 2);
    for line in enc.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// RFC 5322 date in UTC for a Unix time.
pub fn rfc5322_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Deterministic pseudo-random bytes (xorshift64*), for large generated attachments.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A valid 1×1 PNG.
pub const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// Subject shared by the two messages of the corpus that also share a Message-ID.
pub const SHARED_SUBJECT: &str = "Corpus: shared Message-ID";
/// The Message-ID the two "shared" messages of the corpus both carry.
pub const SHARED_MESSAGE_ID: &str = "<shared-id@corpus.switchboard.test>";
/// Size of the generated attachment of the `attachment-25mb` corpus message.
pub const LARGE_ATTACHMENT_BYTES: usize = 25 * 1024 * 1024;

/// Names of the corpus messages, in the order [`awkward_corpus`] returns them.
pub const CORPUS_NAMES: &[&str] = &[
    "no-message-id",
    "shared-id-a",
    "shared-id-b",
    "broken-base64",
    "unknown-charset",
    "raw-utf8-headers",
    "raw-latin1-headers",
    "nested-multipart-150",
    "message-rfc822-attachment",
    "inline-cid-image",
    "rfc2231-filename",
    "rfc2047-subjects",
    "huge-header-1mb",
    "attachment-25mb",
];

/// The awkward-mail corpus: `(name, raw message)` pairs, see [`CORPUS_NAMES`]. Every message has a
/// Subject starting with `Corpus: ` and distinct from the others (findable with
/// `header Subject "Corpus: NAME-ish"`), except the two `shared-id-*` messages, which share
/// Message-ID, From, Date and Subject and differ only in their bodies. Except `no-message-id`
/// and the shared pair, Message-IDs are `<corpus-NAME@switchboard.test>`.
/// Includes a ~34 MB message (25 MiB attachment); see [`awkward_corpus_small`].
pub fn awkward_corpus() -> Vec<(String, Vec<u8>)> {
    let mut all = awkward_corpus_small();
    all.push(("attachment-25mb".into(), large_attachment_message()));
    all
}

/// [`awkward_corpus`] without the 25 MiB attachment message.
pub fn awkward_corpus_small() -> Vec<(String, Vec<u8>)> {
    let date = "Tue, 02 Jan 2024 03:04:05 +0000";
    let base = |name: &str, subject: &str| {
        TestMail::new()
            .message_id(&format!("<corpus-{name}@switchboard.test>"))
            .from("Corpus Sender <corpus@example.test>")
            .to("alice@localhost")
            .date(date)
            .subject(subject)
    };
    let mut v: Vec<(String, Vec<u8>)> = Vec::new();

    v.push((
        "no-message-id".into(),
        base("x", "Corpus: no Message-ID")
            .no_message_id()
            .body("This message has no Message-ID header.\n")
            .build(),
    ));

    for (name, body) in [
        (
            "shared-id-a",
            "First of two different messages sharing one Message-ID.\n",
        ),
        (
            "shared-id-b",
            "Second of two different messages sharing one Message-ID; the body differs.\n",
        ),
    ] {
        v.push((
            name.into(),
            base(name, SHARED_SUBJECT)
                .message_id(SHARED_MESSAGE_ID)
                .body(body)
                .build(),
        ));
    }

    v.push(("broken-base64".into(), {
        let mut m = head(
            "<corpus-broken-base64@switchboard.test>",
            date,
            "Corpus: broken base64 part",
        );
        m.extend_from_slice(
            b"MIME-Version: 1.0\r\n\
              Content-Type: multipart/mixed; boundary=\"b64\"\r\n\r\n\
              --b64\r\n\
              Content-Type: text/plain; charset=utf-8\r\n\r\n\
              The attachment below is not valid base64.\r\n\
              --b64\r\n\
              Content-Type: application/octet-stream; name=\"broken.bin\"\r\n\
              Content-Transfer-Encoding: base64\r\n\
              Content-Disposition: attachment; filename=\"broken.bin\"\r\n\r\n\
              SGVsbG8gd29y!!!bGQ*&^%$\r\n\
              ====not base64 at all====\r\n\
              QUJD\xff\xfe\x00RE\r\n\
              SGVsbG8\r\n\
              --b64--\r\n",
        );
        m
    }));

    v.push(("unknown-charset".into(), {
        let mut m = head(
            "<corpus-unknown-charset@switchboard.test>",
            date,
            "Corpus: unknown charset",
        );
        m.extend_from_slice(
            b"MIME-Version: 1.0\r\n\
              Content-Type: text/plain; charset=\"x-klingon-9\"\r\n\
              Content-Transfer-Encoding: 8bit\r\n\r\n\
              Bytes in an unknown charset: \xa4\xe8\xf1\x80\x9f\xfe end.\r\n",
        );
        m
    }));

    v.push(("raw-utf8-headers".into(), {
        let mut m = Vec::new();
        m.extend_from_slice(b"Message-ID: <corpus-raw-utf8-headers@switchboard.test>\r\n");
        m.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
        m.extend_from_slice("From: Jürgen Müller <juergen@example.test>\r\n".as_bytes());
        m.extend_from_slice(b"To: alice@localhost\r\n");
        m.extend_from_slice("Subject: Corpus: raw UTF-8 Grüße ☃ 日本語\r\n".as_bytes());
        m.extend_from_slice(
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
              Content-Transfer-Encoding: 8bit\r\n\r\n",
        );
        m.extend_from_slice(
            "Raw 8-bit UTF-8 in the From and Subject headers: Grüße.\r\n".as_bytes(),
        );
        m
    }));

    v.push(("raw-latin1-headers".into(), {
        let mut m = Vec::new();
        m.extend_from_slice(b"Message-ID: <corpus-raw-latin1-headers@switchboard.test>\r\n");
        m.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
        m.extend_from_slice(b"From: J\xf6rg Stra\xdfe <joerg@example.test>\r\n");
        m.extend_from_slice(b"To: alice@localhost\r\n");
        m.extend_from_slice(b"Subject: Corpus: raw latin-1 \xe9t\xe9 \xe0 Z\xfcrich\r\n");
        m.extend_from_slice(
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
              Content-Transfer-Encoding: 8bit\r\n\r\n\
              Latin-1 bytes, undeclared in the headers: \xe9t\xe9.\r\n",
        );
        m
    }));

    v.push(("nested-multipart-150".into(), {
        let mut m = head(
            "<corpus-nested-multipart-150@switchboard.test>",
            date,
            "Corpus: 150-level nested multipart",
        );
        m.extend_from_slice(b"MIME-Version: 1.0\r\n");
        let depth = 150;
        for level in 0..depth {
            m.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=\"n{level}\"\r\n\r\n--n{level}\r\n")
                    .as_bytes(),
            );
        }
        m.extend_from_slice(
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe innermost part, 150 levels down.\r\n",
        );
        for level in (0..depth).rev() {
            m.extend_from_slice(format!("--n{level}--\r\n").as_bytes());
        }
        m
    }));

    v.push(("message-rfc822-attachment".into(), {
        let inner = TestMail::new()
            .message_id("<corpus-inner-forwarded@switchboard.test>")
            .from("Original Author <author@example.test>")
            .subject("Corpus: the forwarded inner message")
            .date("Sun, 31 Dec 2023 23:59:59 +0000")
            .body("Inner body.\n")
            .attachment("inner.txt", b"inner attachment\r\n")
            .build();
        let mut m = head(
            "<corpus-message-rfc822-attachment@switchboard.test>",
            date,
            "Corpus: message/rfc822 attachment",
        );
        m.extend_from_slice(
            b"MIME-Version: 1.0\r\n\
              Content-Type: multipart/mixed; boundary=\"fwd\"\r\n\r\n\
              --fwd\r\n\
              Content-Type: text/plain; charset=utf-8\r\n\r\n\
              Forwarding a message as an attachment.\r\n\
              --fwd\r\n\
              Content-Type: message/rfc822\r\n\
              Content-Disposition: attachment; filename=\"forwarded.eml\"\r\n\r\n",
        );
        m.extend_from_slice(&inner);
        m.extend_from_slice(b"\r\n--fwd--\r\n");
        m
    }));

    v.push((
        "inline-cid-image".into(),
        base("inline-cid-image", "Corpus: inline cid image")
            .body("See the logo (HTML part).\n")
            .html("<p>Logo: <img src=\"cid:logo@corpus.switchboard.test\" alt=\"logo\"></p>\n")
            .inline_image("logo@corpus.switchboard.test", "logo.png", TINY_PNG)
            .build(),
    ));

    v.push(("rfc2231-filename".into(), {
        let mut m = head(
            "<corpus-rfc2231-filename@switchboard.test>",
            date,
            "Corpus: RFC 2231 filenames",
        );
        m.extend_from_slice(
            b"MIME-Version: 1.0\r\n\
              Content-Type: multipart/mixed; boundary=\"r2231\"\r\n\r\n\
              --r2231\r\n\
              Content-Type: text/plain; charset=utf-8\r\n\r\n\
              Two attachments with RFC 2231 parameters.\r\n\
              --r2231\r\n\
              Content-Type: application/pdf; name*=UTF-8''%E2%82%AC%20rates%20%C3%BCber.pdf\r\n\
              Content-Transfer-Encoding: base64\r\n\
              Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rates%20%C3%BCber.pdf\r\n\r\n\
              JVBERi0xLjQKJSVFT0YK\r\n\
              --r2231\r\n\
              Content-Type: text/plain; charset=utf-8\r\n\
              Content-Transfer-Encoding: base64\r\n\
              Content-Disposition: attachment;\r\n \
              filename*0*=iso-8859-1'de'Sch%F6ne%20Gr%FC%DFe%20;\r\n \
              filename*1*=aus%20K%F6ln;\r\n \
              filename*2=\".txt\"\r\n\r\n\
              SGFsbG8K\r\n\
              --r2231--\r\n",
        );
        m
    }));

    v.push(("rfc2047-subjects".into(), {
        let mut m = Vec::new();
        m.extend_from_slice(b"Message-ID: <corpus-rfc2047-subjects@switchboard.test>\r\n");
        m.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
        m.extend_from_slice(
            b"From: =?ISO-8859-1?Q?Andr=E9?= Pirard <pirard@example.test>\r\n\
              To: =?UTF-8?B?5bGx55Sw?= <alice@localhost>\r\n\
              Subject: Corpus: RFC 2047 =?UTF-8?B?R3LDvMOfZSDimIM=?=\r\n \
              =?ISO-8859-1?Q?=E9t=E9_=E0?= =?UTF-8?Q?_Z=C3=BCrich?=\r\n \
              =?iso-2022-jp?B?GyRCRnxLXDhsGyhC?= =?UTF-8?B?broken?= end\r\n\
              MIME-Version: 1.0\r\n\
              Content-Type: text/plain; charset=utf-8\r\n\r\n\
              Encoded-words in UTF-8 (B and Q), ISO-8859-1, ISO-2022-JP, one invalid, folded.\r\n",
        );
        m
    }));

    v.push(("huge-header-1mb".into(), {
        let mut m = head(
            "<corpus-huge-header-1mb@switchboard.test>",
            date,
            "Corpus: 1 MB References header",
        );
        m.extend_from_slice(b"References:");
        let mut i = 0usize;
        let mut len = 0usize;
        while len < 1024 * 1024 {
            let id = format!(" <thread-{i:08}@huge-header.switchboard.test>\r\n");
            len += id.len();
            m.extend_from_slice(id.as_bytes());
            i += 1;
        }
        m.extend_from_slice(
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
              A References header of about 1 MB, folded one ID per line.\r\n",
        );
        m
    }));

    v
}

fn large_attachment_message() -> Vec<u8> {
    TestMail::new()
        .message_id("<corpus-attachment-25mb@switchboard.test>")
        .from("Corpus Sender <corpus@example.test>")
        .date("Tue, 02 Jan 2024 03:04:05 +0000")
        .subject("Corpus: 25 MB attachment")
        .body("A 25 MiB pseudo-random attachment follows.\n")
        .attachment(
            "big.bin",
            &pseudo_random_bytes(LARGE_ATTACHMENT_BYTES, 0x5eed),
        )
        .build()
}

/// Common headers for hand-written corpus messages (MIME headers follow).
fn head(message_id: &str, date: &str, subject: &str) -> Vec<u8> {
    format!(
        "Message-ID: {message_id}\r\nDate: {date}\r\nFrom: Corpus Sender <corpus@example.test>\r\n\
         To: alice@localhost\r\nSubject: {subject}\r\n"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_known_vectors() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foob"), "Zm9vYg==");
        assert_eq!(base64("☃".as_bytes()), "4piD");
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_704_067_200),
            "Mon, 01 Jan 2024 00:00:00 +0000"
        );
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn crlf_normalises() {
        assert_eq!(crlf(b"a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
    }

    #[test]
    fn builder_shapes() {
        let m = TestMail::new()
            .message_id("<a@b>")
            .subject("Grüße")
            .body("x\n")
            .build();
        let s = String::from_utf8(m).unwrap();
        assert!(s.starts_with("Message-ID: <a@b>\r\n"));
        assert!(s.contains("Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"));
        assert!(s.ends_with("\r\n\r\nx\r\n"));
        assert!(!s.replace("\r\n", "").contains('\n'));

        let m = TestMail::new()
            .html("<b>x</b>")
            .inline_image("c@d", "i.png", TINY_PNG)
            .attachment("a.pdf", b"%PDF")
            .build();
        let s = String::from_utf8(m).unwrap();
        assert!(s.contains("multipart/mixed"));
        assert!(s.contains("multipart/related"));
        assert!(s.contains("multipart/alternative"));
        assert!(s.contains("Content-ID: <c@d>"));
        assert!(s.contains("application/pdf; name=\"a.pdf\""));
    }

    #[test]
    fn corpus_subjects_are_distinct_except_the_shared_pair() {
        let corpus = awkward_corpus_small();
        let names: Vec<&str> = corpus.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, CORPUS_NAMES[..CORPUS_NAMES.len() - 1]);
        let mut subjects = Vec::new();
        for (name, raw) in &corpus {
            let text = String::from_utf8_lossy(raw);
            let subject = text
                .lines()
                .find(|l| l.starts_with("Subject: "))
                .unwrap_or_else(|| panic!("{name} has no Subject"))
                .to_string();
            assert!(subject.contains("Corpus: "), "{name}: {subject}");
            subjects.push(subject);
        }
        let mut unique = subjects.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), subjects.len() - 1);
    }
}
