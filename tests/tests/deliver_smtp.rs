//! The delivery crate's SMTP submission against a real SMTP server (the aiosmtpd sink):
//! STARTTLS and implicit TLS with a pinned certificate, AUTH, and the server's own codes and
//! words for 4xx and 5xx answers.

use std::time::Duration;

use switchboard_deliver::smtp::{submit, SmtpError, Submission};
use switchboard_store::TlsMode;
use switchboard_tests::smtp::{SINK_PASSWORD, SINK_USER};
use switchboard_tests::SmtpSink;

const MAIL: &[u8] = b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: hi\r\n\
Message-ID: <t1@example.org>\r\n\r\nhello\r\n";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn target<'a>(sink: &'a SmtpSink, tls: TlsMode, password: &'a str) -> Submission<'a> {
    Submission {
        host: "127.0.0.1",
        port: match tls {
            TlsMode::Starttls => sink.starttls_port(),
            TlsMode::Implicit => sink.tls_port(),
        },
        tls,
        login: Some((SINK_USER, password)),
        trust_cert: Some(sink.cert_sha256()),
    }
}

#[test]
fn submits_over_starttls_and_implicit_tls_with_auth() {
    let sink = SmtpSink::start().unwrap();
    let rt = rt();
    for tls in [TlsMode::Starttls, TlsMode::Implicit] {
        let ok = rt
            .block_on(submit(
                &target(&sink, tls, SINK_PASSWORD),
                "alice@example.org",
                &["bob@example.net".to_string()],
                MAIL,
            ))
            .unwrap_or_else(|e| panic!("{tls:?}: {e}\n{}", sink.log_tail(20)));
        assert_eq!(ok.code, 250, "{ok:?}");
        assert!(ok.text.contains("accepted"), "{ok:?}");
    }
    let got = sink.wait_for_messages(2, Duration::from_secs(5)).unwrap();
    for r in &got {
        assert_eq!(r.mail_from, "alice@example.org");
        assert_eq!(r.rcpt_tos, vec!["bob@example.net"]);
        assert_eq!(r.auth_user.as_deref(), Some(SINK_USER));
        assert!(r.tls);
        assert_eq!(r.header("Subject"), vec!["hi"]);
    }
    assert_eq!(got[0].port, sink.starttls_port());
    assert_eq!(got[1].port, sink.tls_port());
}

#[test]
fn refusals_keep_the_servers_code_and_words() {
    let sink = SmtpSink::start().unwrap();
    sink.set_rules(&serde_json::json!({
        "rcpt": {"later@example.net": ["451 4.3.0 Mailbox busy, try later"],
                 "never@example.net": ["550 5.1.1 No such user here"]}
    }))
    .unwrap();
    let rt = rt();
    let t = target(&sink, TlsMode::Starttls, SINK_PASSWORD);
    let later = rt
        .block_on(submit(
            &t,
            "alice@example.org",
            &["later@example.net".into()],
            MAIL,
        ))
        .unwrap_err();
    match &later {
        SmtpError::Refused {
            code: 451,
            text,
            permanent: false,
        } => {
            assert!(text.contains("Mailbox busy"), "{text}")
        }
        other => panic!("{other:?}"),
    }
    assert!(later.is_transient());
    let never = rt
        .block_on(submit(
            &t,
            "alice@example.org",
            &["never@example.net".into()],
            MAIL,
        ))
        .unwrap_err();
    assert!(
        matches!(&never, SmtpError::Refused { code: 550, permanent: true, text } if text.contains("No such user")),
        "{never:?}"
    );
    assert!(!never.is_transient());
    assert!(sink.received().unwrap().is_empty());

    let bad_login = rt
        .block_on(submit(
            &target(&sink, TlsMode::Implicit, "wrong"),
            "alice@example.org",
            &["bob@example.net".into()],
            MAIL,
        ))
        .unwrap_err();
    assert!(
        matches!(bad_login, SmtpError::Auth { code: 535, .. }),
        "{bad_login:?}"
    );
}

#[test]
fn an_unpinned_certificate_is_refused_and_named() {
    let sink = SmtpSink::start().unwrap();
    let rt = rt();
    let wrong_pin = "ab".repeat(32);
    for tls in [TlsMode::Starttls, TlsMode::Implicit] {
        let mut t = target(&sink, tls, SINK_PASSWORD);
        t.trust_cert = Some(&wrong_pin);
        let e = rt
            .block_on(submit(
                &t,
                "alice@example.org",
                &["bob@example.net".into()],
                MAIL,
            ))
            .unwrap_err();
        match &e {
            SmtpError::Tls(text) => assert!(text.contains(sink.cert_sha256()), "{text}"),
            other => panic!("{tls:?}: {other:?}"),
        }
        // Without a pin the test CA is unknown: refused too, with the fingerprint to pin.
        t.trust_cert = None;
        let e = rt
            .block_on(submit(
                &t,
                "alice@example.org",
                &["bob@example.net".into()],
                MAIL,
            ))
            .unwrap_err();
        assert!(
            matches!(&e, SmtpError::Tls(text) if text.contains(sink.cert_sha256())),
            "{e:?}"
        );
    }
    assert!(sink.received().unwrap().is_empty(), "nothing went out");
}
