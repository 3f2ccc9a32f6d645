//! The awkward inputs a mail client meets in the wild, one test each.

use std::time::Instant;

use switchboard_model::{
    attachment_body, content_matches, is_synthetic_key, normalize_message_id, parse, search_text,
    Address, UniformMessage,
};

fn crlf(text: &str) -> Vec<u8> {
    text.replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

fn has_problem(m: &UniformMessage, needle: &str) -> bool {
    m.parse_problems.iter().any(|p| p.contains(needle))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() / 3 * 4 + bytes.len() / 57 * 2 + 8);
    for (n, chunk) in bytes.chunks(3).enumerate() {
        if n > 0 && n % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((v >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const PLAIN: &str = "From: Alice Example <alice@example.com>\n\
To: Bob <bob@example.org>, carol@example.net\n\
Cc: \"Dave, D.\" <dave@example.com>\n\
Reply-To: replies@example.com\n\
Subject: Quarterly numbers\n\
Date: Tue, 1 Jul 2003 10:52:37 +0200\n\
Message-ID: <Part1.ABC@Mail.Example.COM>\n\
In-Reply-To: <prev@example.com>\n\
References: <root@example.com>\n <prev@example.com> <root@example.com>\n\
List-Id: Numbers list <numbers.lists.example.com>\n\
\n\
Hi Bob,\n\
\n\
the numbers are attached.\n";

#[test]
fn a_plain_message_is_read_completely() {
    let m = parse(PLAIN.as_bytes());
    assert_eq!(m.message_key, "Part1.ABC@mail.example.com");
    assert!(m.has_message_id);
    assert_eq!(m.subject, "Quarterly numbers");
    assert_eq!(
        m.from,
        vec![Address {
            name: Some("Alice Example".into()),
            email: "alice@example.com".into()
        }]
    );
    assert_eq!(m.to.len(), 2);
    assert_eq!(m.to[1].email, "carol@example.net");
    assert_eq!(m.cc[0].name.as_deref(), Some("Dave, D."));
    assert_eq!(m.reply_to[0].email, "replies@example.com");
    assert_eq!(m.date, Some(1_057_049_557));
    assert_eq!(m.in_reply_to, vec!["prev@example.com"]);
    assert_eq!(m.references, vec!["root@example.com", "prev@example.com"]);
    assert_eq!(m.list_id.as_deref(), Some("numbers.lists.example.com"));
    assert_eq!(
        m.text_body.as_deref(),
        Some("Hi Bob,\n\nthe numbers are attached.\n")
    );
    assert_eq!(m.html_body, None);
    assert!(m.attachments.is_empty());
    assert_eq!(m.size, PLAIN.len() as u64);
    assert!(m.parse_problems.is_empty(), "{:?}", m.parse_problems);
}

#[test]
fn missing_message_id_gets_a_stable_synthetic_key() {
    let text = PLAIN.replace("Message-ID: <Part1.ABC@Mail.Example.COM>\n", "");
    let lf = parse(text.as_bytes());
    assert!(!lf.has_message_id);
    assert!(is_synthetic_key(&lf.message_key), "{}", lf.message_key);
    assert!(lf.message_key.ends_with("@synthetic.switchboard.invalid"));
    assert!(has_problem(&lf, "Message-ID header is missing"));

    // IMAP hands out CRLF; a POP3 copy may have lost or gained the final line ending, and a
    // server may have added its own trace headers.
    let imap = parse(&crlf(&text));
    let pop3_trimmed = parse(crlf(&text).strip_suffix(b"\r\n").unwrap_or_default());
    let pop3_padded = parse(&[crlf(&text), b"\r\n\r\n".to_vec()].concat());
    let with_trace = parse(format!("Received: from somewhere\nX-UIDL: 123\n{text}").as_bytes());
    for other in [&imap, &pop3_trimmed, &pop3_padded, &with_trace] {
        assert_eq!(other.message_key, lf.message_key);
        assert!(content_matches(&lf, other));
    }

    let different_body = parse(text.replace("attached", "not attached").as_bytes());
    assert_ne!(different_body.message_key, lf.message_key);
    let different_subject = parse(text.replace("Quarterly", "Monthly").as_bytes());
    assert_ne!(different_subject.message_key, lf.message_key);
}

#[test]
fn header_only_messages_without_key_fields_do_not_collide() {
    let a = parse(b"X-Mailer: one\nX-Note: first\n");
    let b = parse(b"X-Mailer: two\nX-Note: second\n");
    assert!(is_synthetic_key(&a.message_key));
    assert_ne!(a.message_key, b.message_key);
    let a_crlf = parse(b"X-Mailer: one\r\nX-Note: first\r\n\r\n");
    assert_eq!(a.message_key, a_crlf.message_key);
}

#[test]
fn empty_or_garbage_message_id_is_replaced() {
    for header in [
        "Message-ID:\n",
        "Message-ID: <>\n",
        "Message-ID:    \n",
        "Message-ID: this is not an id\n",
    ] {
        let m = parse(format!("{header}Subject: x\n\nbody\n").as_bytes());
        assert!(!m.has_message_id, "{header:?}");
        assert!(is_synthetic_key(&m.message_key));
        assert!(
            has_problem(&m, "Message-ID header"),
            "{:?}",
            m.parse_problems
        );
    }
    let bare = parse(b"Message-ID: bare@Example.com\n\nbody\n");
    assert_eq!(bare.message_key, "bare@example.com");
}

#[test]
fn reused_message_id_with_different_content_is_not_a_duplicate() {
    let a = parse(PLAIN.as_bytes());
    let b = parse(
        PLAIN
            .replace("the numbers are attached.", "lunch on friday?")
            .as_bytes(),
    );
    assert_eq!(a.message_key, b.message_key);
    assert!(!content_matches(&a, &b));

    let later = parse(PLAIN.replace("10:52:37", "10:52:38").as_bytes());
    assert!(!content_matches(&a, &later));
    let other_sender = parse(
        PLAIN
            .replace("alice@example.com", "mallory@example.com")
            .as_bytes(),
    );
    assert!(!content_matches(&a, &other_sender));
    let reply = parse(PLAIN.replace("Subject: ", "Subject: Re: ").as_bytes());
    assert!(!content_matches(&a, &reply));
}

#[test]
fn list_copy_with_footer_and_subject_tag_is_a_duplicate() {
    let original = parse(PLAIN.as_bytes());
    let list_copy = PLAIN
        .replace("Subject: Quarterly numbers", "Subject: [numbers]   Quarterly\n numbers")
        .replace("From: Alice Example <alice@example.com>", "From: Alice Example <ALICE@Example.com>")
        + "_______________________________________________\nnumbers mailing list\nhttps://lists.example.com/numbers\n";
    let list_copy = parse(&crlf(&list_copy));
    assert!(content_matches(&original, &list_copy));
    assert!(content_matches(&list_copy, &original), "symmetric");
}

#[test]
fn html_only_bodies_are_compared_and_indexed_as_text() {
    let html = "Message-ID: <h@x>\nFrom: a@x\nContent-Type: text/html; charset=utf-8\n\n\
                <html><body><p>Hello&nbsp;<b>there</b></p><style>p{}</style></body></html>\n";
    let m = parse(html.as_bytes());
    assert_eq!(m.text_body, None);
    assert!(m
        .html_body
        .as_deref()
        .unwrap_or_default()
        .contains("<b>there</b>"));
    assert_eq!(search_text(&m), "Hello there");
    let footer = parse(
        html.replace("</body>", "<div>-- list footer</div></body>")
            .as_bytes(),
    );
    assert!(content_matches(&m, &footer));
}

const MIXED_BROKEN: &str = "Message-ID: <mixed@x>\n\
From: a@x\n\
Subject: broken\n\
Content-Type: multipart/mixed; boundary=\"b1\"\n\
\n\
--b1\n\
Content-Type: text/plain; charset=utf-8\n\
Content-Transfer-Encoding: quoted-printable\n\
\n\
caf=C3=A9 au lait\n\
--b1\n\
Content-Type: application/pdf; name=\"report.pdf\"\n\
Content-Disposition: attachment; filename=\"report.pdf\"\n\
Content-Transfer-Encoding: base64\n\
\n\
aGVs!!bG8g\n\
d29y*bGQ=\n\
--b1\n\
Content-Type: image/png\n\
Content-Disposition: attachment; filename=\"ok.png\"\n\
Content-Transfer-Encoding: base64\n\
\n\
aGVsbG8=\n\
--b1--\n";

#[test]
fn broken_base64_is_recorded_and_the_rest_is_decoded() {
    let m = parse(MIXED_BROKEN.as_bytes());
    assert_eq!(m.text_body.as_deref(), Some("café au lait"));
    assert!(
        has_problem(
            &m,
            "part 2 (application/pdf, 'report.pdf'): base64 body is corrupt"
        ),
        "{:?}",
        m.parse_problems
    );
    assert_eq!(m.parse_problems.len(), 1, "{:?}", m.parse_problems);
    assert_eq!(m.attachments.len(), 2);
    let pdf = &m.attachments[0];
    assert_eq!(pdf.filename.as_deref(), Some("report.pdf"));
    assert_eq!(pdf.content_type, "application/pdf");
    assert_eq!(pdf.size, "hello world".len() as u64);
    let png = &m.attachments[1];
    assert_eq!((png.index, png.size), (1, 5));

    let (meta, bytes) = attachment_body(MIXED_BROKEN.as_bytes(), 0).expect("pdf");
    assert_eq!(meta, *pdf);
    assert_eq!(bytes, b"hello world", "decoded leniently, garbage skipped");
    let (_, bytes) = attachment_body(MIXED_BROKEN.as_bytes(), 1).expect("png");
    assert_eq!(bytes, b"hello");
    assert!(attachment_body(MIXED_BROKEN.as_bytes(), 2).is_none());
}

#[test]
fn single_part_with_broken_base64_still_has_a_body() {
    let m = parse(
        b"Message-ID: <b@x>\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\naGVs$bG8=\n",
    );
    assert_eq!(m.text_body.as_deref(), Some("hello"));
    assert!(has_problem(
        &m,
        "base64 body is corrupt; 1 invalid characters"
    ));
}

#[test]
fn unknown_charset_falls_back_and_is_recorded() {
    let m = parse(b"Message-ID: <c@x>\nContent-Type: text/plain; charset=x-unknown\n\ncaf\xe9\n");
    assert_eq!(m.text_body.as_deref(), Some("café\n"));
    assert!(
        has_problem(
            &m,
            "part 0 (text/plain): charset 'x-unknown' is unknown; decoded as latin-1"
        ),
        "{:?}",
        m.parse_problems
    );

    let utf8 = parse(
        "Message-ID: <c@x>\nContent-Type: text/plain; charset=x-unknown\n\ncafé\n".as_bytes(),
    );
    assert_eq!(utf8.text_body.as_deref(), Some("café\n"));
    assert!(has_problem(&utf8, "decoded as UTF-8"));

    let mislabelled =
        parse(b"Message-ID: <c@x>\nContent-Type: text/plain; charset=utf-8\n\ncaf\xe9\n");
    assert_eq!(mislabelled.text_body.as_deref(), Some("café\n"));
    assert!(has_problem(
        &mislabelled,
        "is not valid UTF-8; decoded as latin-1"
    ));

    let known = parse(b"Message-ID: <c@x>\nContent-Type: text/plain; charset=koi8-r\n\n\xf0\xd2\xc9\xd7\xc5\xd4\n");
    assert_eq!(known.text_body.as_deref(), Some("Привет\n"));
    assert!(known.parse_problems.is_empty());
}

#[test]
fn raw_eight_bit_headers_utf8_and_latin1() {
    let utf8 = parse(
        "Message-ID: <u@x>\nFrom: Jörg Müller <jm@example.de>\nSubject: Grüße aus Köln\n\nx\n"
            .as_bytes(),
    );
    assert_eq!(utf8.subject, "Grüße aus Köln");
    assert_eq!(utf8.from[0].name.as_deref(), Some("Jörg Müller"));
    assert!(utf8.parse_problems.is_empty(), "{:?}", utf8.parse_problems);

    let latin1 = parse(b"Message-ID: <l@x>\nFrom: J\xf6rg M\xfcller <jm@example.de>\nSubject: Gr\xfc\xdfe aus K\xf6ln\n\nx\n");
    assert_eq!(latin1.subject, "Grüße aus Köln");
    assert_eq!(latin1.from[0].name.as_deref(), Some("Jörg Müller"));
    assert_eq!(latin1.from[0].email, "jm@example.de");
    assert!(has_problem(
        &latin1,
        "Subject header is not valid UTF-8; decoded as latin-1"
    ));
    assert!(has_problem(
        &latin1,
        "From header is not valid UTF-8; decoded as latin-1"
    ));

    let filename = parse(
        b"Message-ID: <f@x>\nContent-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: text/plain\n\nhi\n--z\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"r\xe9sum\xe9.txt\"\n\nabc\n--z--\n",
    );
    assert_eq!(
        filename.attachments[0].filename.as_deref(),
        Some("résumé.txt")
    );
}

#[test]
fn deeply_nested_multiparts_do_not_overflow() {
    let mut raw = String::from("Message-ID: <deep@x>\nSubject: deep\n");
    for level in 0..200 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\n\n--b{level}\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\n\nleaf\n");
    for level in (0..200).rev() {
        raw.push_str(&format!("--b{level}--\n"));
    }
    let m = parse(raw.as_bytes());
    assert_eq!(m.text_body.as_deref().map(str::trim), Some("leaf"));
    assert!(m.parse_problems.is_empty(), "{:?}", m.parse_problems);
}

#[test]
fn hundreds_of_thousands_of_nested_messages_do_not_overflow() {
    // mail-parser builds these iteratively; dropping them recursively would overflow the
    // 2 MiB test-thread stack.
    let mut raw = b"Message-ID: <nest@x>\nSubject: nest\n".to_vec();
    for _ in 0..200_000 {
        raw.extend_from_slice(b"Content-Type: message/rfc822\n\nSubject: x\n");
    }
    raw.extend_from_slice(b"\nbody\n");
    let m = parse(&raw);
    assert_eq!(m.subject, "nest");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].content_type, "message/rfc822");
    let (_, inner) = attachment_body(&raw, 0).expect("nested message");
    assert!(inner.starts_with(b"Subject: x\n"));
}

#[test]
fn message_rfc822_attachment_is_one_attachment_holding_the_message() {
    let raw = "Message-ID: <outer@x>\nSubject: Fwd: hello\nContent-Type: multipart/mixed; boundary=o\n\n\
--o\nContent-Type: text/plain\n\nsee attached\n\
--o\nContent-Type: message/rfc822\n\n\
Message-ID: <inner@x>\nSubject: hello\nContent-Type: multipart/mixed; boundary=i\n\n\
--i\nContent-Type: text/plain\n\ninner text\n--i\nContent-Type: image/gif; name=x.gif\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n--i--\n\
--o--\n";
    let m = parse(raw.as_bytes());
    assert_eq!(m.text_body.as_deref(), Some("see attached"));
    assert_eq!(m.attachments.len(), 1, "{:?}", m.attachments);
    assert_eq!(m.attachments[0].content_type, "message/rfc822");
    let (meta, bytes) = attachment_body(raw.as_bytes(), 0).expect("attachment");
    assert_eq!(meta.size, bytes.len() as u64);
    let inner = parse(&bytes);
    assert_eq!(inner.message_key, "inner@x");
    assert_eq!(inner.subject, "hello");
    assert_eq!(inner.text_body.as_deref(), Some("inner text"));
    assert_eq!(inner.attachments[0].filename.as_deref(), Some("x.gif"));
}

const RELATED: &str = "Message-ID: <rel@x>\nFrom: a@x\nSubject: logo\n\
Content-Type: multipart/mixed; boundary=m\n\n\
--m\nContent-Type: multipart/related; boundary=r\n\n\
--r\nContent-Type: multipart/alternative; boundary=a\n\n\
--a\nContent-Type: text/plain\n\nSee the logo.\n\
--a\nContent-Type: text/html\n\n<p>See the <img src=\"cid:Logo%40example.com\"> logo.</p>\n\
--a--\n\
--r\nContent-Type: image/png; name=logo.png\nContent-ID: <logo@example.com>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n\
--r--\n\
--m\nContent-Type: image/jpeg; name=photo.jpg\nContent-ID: <photo@example.com>\nContent-Disposition: attachment\nContent-Transfer-Encoding: base64\n\n/9j/4AAQ\n\
--m\nContent-Type: image/gif\nContent-ID: <sig@example.com>\nContent-Disposition: inline\nContent-Transfer-Encoding: base64\n\nR0lGODlh\n\
--m--\n";

#[test]
fn inline_image_referenced_by_cid() {
    let m = parse(RELATED.as_bytes());
    assert_eq!(m.text_body.as_deref(), Some("See the logo."));
    assert!(m.html_body.as_deref().unwrap_or_default().contains("cid:"));
    assert_eq!(m.attachments.len(), 3, "{:?}", m.attachments);
    let logo = &m.attachments[0];
    assert_eq!(logo.content_id.as_deref(), Some("logo@example.com"));
    assert_eq!(logo.filename.as_deref(), Some("logo.png"));
    assert_eq!(logo.size, 8);
    assert!(logo.inline, "referenced from the HTML");
    assert!(
        !m.attachments[1].inline,
        "has a Content-ID but is an attachment"
    );
    assert!(
        m.attachments[2].inline,
        "disposition inline with a Content-ID"
    );
    assert!(m.parse_problems.is_empty(), "{:?}", m.parse_problems);
}

#[test]
fn rfc2231_filenames() {
    let raw = "Message-ID: <f@x>\nContent-Type: multipart/mixed; boundary=z\n\n\
--z\nContent-Type: text/plain\n\nhi\n\
--z\nContent-Type: application/pdf\nContent-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.pdf\n\nx\n\
--z\nContent-Type: application/pdf\nContent-Disposition: attachment;\n filename*0*=iso-8859-1''r%E9sum;\n filename*1*=%E9%20final.pdf\n\nx\n\
--z\nContent-Type: application/pdf; name=\"=?utf-8?B?w6l0w6kucGRm?=\"\n\nx\n\
--z--\n";
    let m = parse(raw.as_bytes());
    let names: Vec<_> = m
        .attachments
        .iter()
        .map(|a| a.filename.as_deref().unwrap_or_default())
        .collect();
    assert_eq!(names, ["€ rates.pdf", "résumé final.pdf", "été.pdf"]);
}

#[test]
fn rfc2047_subjects_in_several_charsets() {
    for (header, expected) in [
        ("=?utf-8?B?R3LDvMOfZQ==?=", "Grüße"),
        ("=?ISO-8859-1?Q?Caf=E9_cr=E8me?=", "Café crème"),
        ("=?koi8-r?B?8NLJ18XU?=", "Привет"),
        ("=?iso-2022-jp?B?GyRCJU8lbSE8GyhC?=", "ハロー"),
        ("=?windows-1252?Q?=80_100?=", "€ 100"),
        (
            "=?utf-8?q?a?= =?utf-8?q?b?= plain =?iso-8859-15?q?=A4?=",
            "ab plain €",
        ),
        ("=?x-unknown?q?abc?=", "abc"),
    ] {
        let m = parse(format!("Message-ID: <s@x>\nSubject: {header}\n\nx\n").as_bytes());
        assert_eq!(m.subject, expected, "{header}");
    }
}

#[test]
fn one_megabyte_header() {
    let long_subject = "word ".repeat(200_000);
    let mut raw = format!("Message-ID: <big@x>\nX-Junk: {}\n", "a".repeat(1 << 20));
    raw.push_str(&format!("Subject: {long_subject}\n"));
    let mut to = String::from("To: ");
    for n in 0..30_000 {
        to.push_str(&format!("user{n}@example.com, "));
    }
    raw.push_str(&to);
    raw.push_str("last@example.com\n\nbody\n");
    let started = Instant::now();
    let m = parse(raw.as_bytes());
    eprintln!(
        "{} byte header block parsed in {:?}",
        raw.len(),
        started.elapsed()
    );
    assert_eq!(m.subject, long_subject.trim());
    assert_eq!(m.to.len(), 30_001);
    assert_eq!(m.text_body.as_deref(), Some("body\n"));

    let huge_id = parse(format!("Message-ID: <{}@x>\n\nbody\n", "a".repeat(1 << 20)).as_bytes());
    assert!(!huge_id.has_message_id);
    assert!(
        huge_id.parse_problems.iter().all(|p| p.len() < 300),
        "problems stay short"
    );
}

#[test]
fn twenty_five_megabyte_attachment() {
    let payload: Vec<u8> = (0..25 * 1024 * 1024u32)
        .map(|n| (n.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut raw = b"Message-ID: <huge@x>\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--B\r\nContent-Type: application/octet-stream; name=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    raw.extend_from_slice(base64(&payload).as_bytes());
    raw.extend_from_slice(b"\r\n--B--\r\n");

    let started = Instant::now();
    let m = parse(&raw);
    eprintln!(
        "{} MB message parsed in {:?}",
        raw.len() >> 20,
        started.elapsed()
    );
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].size, payload.len() as u64);
    assert_eq!(m.text_body.as_deref(), Some("see attachment"));

    let started = Instant::now();
    let (_, bytes) = attachment_body(&raw, 0).expect("attachment");
    eprintln!("attachment extracted in {:?}", started.elapsed());
    assert!(bytes == payload);
}

#[test]
fn empty_input() {
    let m = parse(b"");
    assert!(is_synthetic_key(&m.message_key));
    assert!(!m.has_message_id);
    assert_eq!(m.size, 0);
    assert_eq!(m.text_body, None);
    assert!(has_problem(&m, "empty"));
    assert!(attachment_body(b"", 0).is_none());
}

#[test]
fn garbage_only_input_is_kept() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|n| (n.wrapping_mul(7919) % 251) as u8)
        .filter(|b| *b != b':')
        .collect();
    let m = parse(&garbage);
    assert!(!m.has_message_id);
    assert!(is_synthetic_key(&m.message_key));
    assert!(!m.parse_problems.is_empty());
    assert_eq!(m.size, garbage.len() as u64);
    let other = parse(&garbage[1..]);
    assert_ne!(m.message_key, other.message_key);
    assert!(!content_matches(&m, &other) || m.message_key == other.message_key);

    let text = parse(b"just some words, no headers at all\n");
    assert_eq!(
        text.text_body.as_deref(),
        Some("just some words, no headers at all\n")
    );
    assert!(has_problem(&text, "no header fields found"));
}

#[test]
fn header_without_body() {
    for raw in [
        &b"Message-ID: <h@x>\nFrom: a@x\nSubject: hi"[..],
        b"Message-ID: <h@x>\nFrom: a@x\nSubject: hi\n",
        b"Message-ID: <h@x>\r\nFrom: a@x\r\nSubject: hi\r\n\r\n",
    ] {
        let m = parse(raw);
        assert_eq!(m.subject, "hi", "{raw:?}");
        assert_eq!(m.message_key, "h@x");
        assert_eq!(m.from[0].email, "a@x");
        assert!(m.text_body.as_deref().unwrap_or_default().is_empty());
        assert!(m.parse_problems.is_empty(), "{:?}", m.parse_problems);
    }
    let last_is_id = parse(b"Subject: hi\nMessage-ID: <Last@X.org>");
    assert_eq!(last_is_id.message_key, "Last@x.org");
}

#[test]
fn crlf_and_lf_give_the_same_message() {
    for raw in [PLAIN, MIXED_BROKEN, RELATED] {
        let lf = parse(raw.as_bytes());
        let crlf = parse(&crlf(raw));
        assert_eq!(lf.message_key, crlf.message_key);
        assert_eq!(lf.subject, crlf.subject);
        assert_eq!(lf.from, crlf.from);
        assert_eq!(lf.to, crlf.to);
        assert_eq!(lf.date, crlf.date);
        assert_eq!(lf.attachments, crlf.attachments);
        assert_eq!(
            lf.text_body,
            crlf.text_body.as_ref().map(|t| t.replace("\r\n", "\n"))
        );
        assert_eq!(lf.parse_problems.len(), crlf.parse_problems.len());
        assert!(content_matches(&lf, &crlf));
    }
}

#[test]
fn date_problems_are_named() {
    let m = parse(b"Message-ID: <d@x>\nDate: next tuesday\n\nx\n");
    assert_eq!(m.date, None);
    assert!(has_problem(
        &m,
        "Date header 'next tuesday' is not a valid date"
    ));
    let m = parse(b"Message-ID: <d@x>\nDate: Tue, 5 Mar 2024 10:15:00 +0100\n\nx\n");
    assert_eq!(m.date, Some(1_709_630_100));
}

#[test]
fn truncated_multipart_is_recorded() {
    let truncated = MIXED_BROKEN
        .split("--b1\nContent-Type: image/png")
        .next()
        .unwrap_or_default()
        .replace("aGVs!!bG8g\nd29y*bGQ=\n", "aGVsbG8g\nd29ybGQ=\n");
    let m = parse(truncated.as_bytes());
    assert!(
        has_problem(&m, "closing MIME boundary is missing"),
        "{:?}",
        m.parse_problems
    );
    let (_, bytes) = attachment_body(truncated.as_bytes(), 0).expect("pdf");
    assert_eq!(bytes, b"hello world");
}

#[test]
fn normalize_message_id_examples() {
    assert_eq!(
        normalize_message_id(" <Foo.Bar@EXAMPLE.com> ").as_deref(),
        Some("Foo.Bar@example.com")
    );
    assert_eq!(normalize_message_id("<>"), None);
}

/// A cheap stand-in for the fuzzer that runs with every `cargo test`: thousands of mutated
/// messages through every entry point.
#[test]
fn mutated_messages_never_panic() {
    let seeds: [&[u8]; 4] = [
        PLAIN.as_bytes(),
        MIXED_BROKEN.as_bytes(),
        RELATED.as_bytes(),
        b"Content-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\n--x--",
    ];
    let interesting: [&[u8]; 12] = [
        b"\n",
        b"\r\n",
        b"--",
        b"=",
        b"=?",
        b"?=",
        b"<",
        b">",
        b"\"",
        b";",
        b"\xff",
        b"boundary=",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let previous = parse(PLAIN.as_bytes());
    for round in 0..3000 {
        let seed = seeds[round % seeds.len()];
        let mut raw = seed.to_vec();
        for _ in 0..(1 + next() % 8) {
            let at = (next() as usize) % (raw.len() + 1);
            match next() % 4 {
                0 => raw.insert(at, next() as u8),
                1 if at < raw.len() => {
                    raw.remove(at);
                }
                2 => {
                    let piece = interesting[(next() as usize) % interesting.len()];
                    raw.splice(at..at, piece.iter().copied());
                }
                _ => raw.truncate(at),
            }
        }
        let m = parse(&raw);
        let _ = content_matches(&m, &previous);
        let _ = search_text(&m);
        for index in 0..m.attachments.len() as u32 + 1 {
            if let Some((meta, bytes)) = attachment_body(&raw, index) {
                assert_eq!(meta.size, bytes.len() as u64, "{raw:?}");
            }
        }
    }
}
