//! Proves the harness itself works: Dovecot, doveadm operations, TLS material, the private
//! keyring, and the Maildir fast path. Needs no `switchboard` binary.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use sha2::{Digest, Sha256};
use switchboard_tests::util::{run_checked, run_with_stdin};
use switchboard_tests::{
    awkward_corpus, mail, Dovecot, ImapProbe, KeyringSession, Pop3Probe, TestMail,
};

fn three_messages() -> Vec<Vec<u8>> {
    (1..=3)
        .map(|i| {
            TestMail::new()
                .message_id(&format!("<smoke-{i}@switchboard.test>"))
                .from("x@example.test")
                .to("alice@localhost")
                .subject(&format!("Smoke {i}"))
                .body(&format!("Body {i}\n"))
                .build()
        })
        .collect()
}

#[test]
fn dovecot_serves_imap_and_pop3_with_the_expected_capabilities() -> Result<()> {
    let dv = Dovecot::start()?;
    let p = dv.ports();
    let all = [p.imap, p.imaps, p.pop3, p.pop3s];
    let mut unique = all.to_vec();
    unique.dedup();
    assert_eq!(unique.len(), 4, "four distinct ports: {p:?}");

    let mut imap = ImapProbe::connect(dv.imap_port())?;
    let pre = imap.capabilities()?;
    assert!(pre.contains(&"STARTTLS".to_string()), "{pre:?}");
    assert!(!pre.contains(&"LOGINDISABLED".to_string()), "{pre:?}");
    imap.login("alice", "alice-pass")?;
    let post = imap.capabilities()?;
    for cap in ["IDLE", "CONDSTORE", "QRESYNC", "UIDPLUS", "ENABLE"] {
        assert!(
            post.contains(&cap.to_string()),
            "{cap} missing from {post:?}"
        );
    }
    imap.command("ENABLE QRESYNC")?;
    let sel = imap.select("INBOX")?;
    assert_eq!(sel.exists, 0);
    assert!(sel.highestmodseq.is_some(), "CONDSTORE gives HIGHESTMODSEQ");
    imap.logout()?;

    let mut pop = Pop3Probe::connect(dv.pop3_port())?;
    let capa = pop.capabilities()?;
    for cap in ["STLS", "UIDL", "USER", "TOP"] {
        assert!(capa.iter().any(|c| c == cap), "{cap} missing from {capa:?}");
    }
    pop.login("bob", "bob-pass")?;
    assert_eq!(pop.stat()?, (0, 0));
    pop.quit()?;

    // Wrong passwords are refused (IMAP at once, auth_failure_delay = 0; pop3-login adds a fixed
    // 0.5 s) and do not slow down the next logins from 127.0.0.1 (no auth penalty).
    for _ in 0..4 {
        assert!(ImapProbe::connect(dv.imap_port())?
            .login("alice", "wrong")
            .is_err());
        assert!(Pop3Probe::connect(dv.pop3_port())?
            .login("alice", "wrong")
            .is_err());
    }
    let t = Instant::now();
    ImapProbe::connect(dv.imap_port())?.login("alice", "alice-pass")?;
    Pop3Probe::connect(dv.pop3_port())?.login("alice", "alice-pass")?;
    assert!(t.elapsed().as_millis() < 1500, "took {:?}", t.elapsed());
    Ok(())
}

#[test]
fn doveadm_operations_uidvalidity_and_restart() -> Result<()> {
    let dv = Dovecot::start()?;
    for m in three_messages() {
        dv.deliver("alice", "INBOX", &m)?;
    }
    assert_eq!(dv.count("alice", "INBOX")?, 3);
    assert_eq!(dv.uids("alice", "INBOX")?, vec![1, 2, 3]);
    assert_eq!(
        dv.message_ids("alice", "INBOX")?,
        vec![
            "<smoke-1@switchboard.test>",
            "<smoke-2@switchboard.test>",
            "<smoke-3@switchboard.test>"
        ]
    );
    // Other users and mailboxes are separate; missing mailboxes are created.
    dv.deliver("bob", "Archive/2024", &three_messages()[0])?;
    assert_eq!(dv.count("bob", "Archive/2024")?, 1);
    assert_eq!(dv.count("bob", "INBOX")?, 0);

    // Flags.
    dv.set_flags("alice", "INBOX", "uid 1:2", "\\Seen \\Flagged")?;
    dv.remove_flags("alice", "INBOX", "uid 2", "\\Flagged")?;
    let flags = dv.flags_by_uid("alice", "INBOX")?;
    assert_eq!(flags[0], (1, vec!["\\Flagged".into(), "\\Seen".into()]));
    assert_eq!(flags[1], (2, vec!["\\Seen".into()]));
    assert_eq!(flags[2], (3, vec![]));
    assert_eq!(dv.status("alice", "INBOX")?.unseen, 1);

    // Expunge by Message-ID; the IMAP view agrees.
    let gone = dv.expunge(
        "alice",
        "INBOX",
        "header Message-ID <smoke-2@switchboard.test>",
    )?;
    assert_eq!(gone, 1);
    assert_eq!(dv.uids("alice", "INBOX")?, vec![1, 3]);
    let mut imap = ImapProbe::connect(dv.imap_port())?;
    imap.login("alice", "alice-pass")?;
    let before = imap.select("INBOX")?;
    assert_eq!(imap.uid_search_all()?, vec![1, 3]);
    imap.logout()?;

    // UIDVALIDITY change: new value, new UIDs, same messages, flags kept.
    let new_validity = dv.change_uidvalidity("alice", "INBOX")?;
    assert_ne!(new_validity, before.uidvalidity);
    let mut imap = ImapProbe::connect(dv.imap_port())?;
    imap.login("alice", "alice-pass")?;
    let after = imap.select("INBOX")?;
    assert_eq!(after.uidvalidity, new_validity);
    let new_uids = imap.uid_search_all()?;
    imap.logout()?;
    assert_eq!(new_uids.len(), 2);
    assert!(new_uids.iter().all(|u| ![1, 3].contains(u)), "{new_uids:?}");
    assert_eq!(dv.uids("alice", "INBOX")?, new_uids);
    assert_eq!(
        dv.message_ids("alice", "INBOX")?,
        vec!["<smoke-1@switchboard.test>", "<smoke-3@switchboard.test>"]
    );
    let flags = dv.flags_by_uid("alice", "INBOX")?;
    assert_eq!(
        flags[0].1,
        vec!["\\Flagged".to_string(), "\\Seen".to_string()]
    );

    // POP3 sees the same two messages; UIDLs embed UID and UIDVALIDITY.
    let mut pop = Pop3Probe::connect(dv.pop3_port())?;
    pop.login("alice", "alice-pass")?;
    let uidl = pop.uidl()?;
    pop.quit()?;
    assert_eq!(uidl.len(), 2);
    assert!(
        uidl[0].1.ends_with(&format!("{new_validity:08x}")),
        "{uidl:?}"
    );

    // Stop: nothing listens. Restart: same ports, same mail.
    let ports = dv.ports();
    dv.stop()?;
    assert!(!dv.is_running());
    assert!(ImapProbe::connect(ports.imap).is_err());
    assert!(
        dv.count("alice", "INBOX").is_err(),
        "doveadm needs the server"
    );
    dv.restart()?;
    assert_eq!(dv.ports(), ports);
    let mut imap = ImapProbe::connect(dv.imap_port())?;
    imap.login("alice", "alice-pass")?;
    assert_eq!(imap.select("INBOX")?.uidvalidity, new_validity);
    assert_eq!(imap.uid_search_all()?, new_uids);
    imap.logout()?;
    dv.restart()?; // restart while running works too
    assert_eq!(dv.count("alice", "INBOX")?, 2);
    Ok(())
}

#[test]
fn added_users_can_log_in_without_a_restart() -> Result<()> {
    let dv = Dovecot::start()?;
    ImapProbe::connect(dv.imap_port())?
        .login("alice", "alice-pass")
        .context("pre-created alice")?;
    assert!(ImapProbe::connect(dv.imap_port())?
        .login("carol", "carol-pass")
        .is_err());
    dv.add_user("carol", "carol-pass")?;
    let mut imap = ImapProbe::connect(dv.imap_port())?;
    imap.login("carol", "carol-pass")?;
    imap.select("INBOX")?;
    imap.logout()?;
    dv.deliver(
        "carol",
        "INBOX",
        &TestMail::new().to("carol@localhost").build(),
    )?;
    assert_eq!(dv.count("carol", "INBOX")?, 1);
    // Changing a password also takes effect at once.
    dv.add_user("carol", "new-pass")?;
    assert!(ImapProbe::connect(dv.imap_port())?
        .login("carol", "carol-pass")
        .is_err());
    ImapProbe::connect(dv.imap_port())?.login("carol", "new-pass")?;
    let mut pop = Pop3Probe::connect(dv.pop3_port())?;
    pop.login("carol", "new-pass")?;
    assert_eq!(pop.stat()?.0, 1);
    Ok(())
}

/// Connects with `openssl s_client` and returns (verify result line, SHA-256 of the leaf DER).
fn tls_handshake(port: u16, ca: Option<&Path>, starttls: Option<&str>) -> Result<(String, String)> {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"]);
    if let Some(ca) = ca {
        cmd.arg("-CAfile").arg(ca);
    } else {
        // An empty trust store, so the machine's own CAs cannot matter.
        cmd.args(["-no-CAfile", "-no-CApath", "-no-CAstore"]);
    }
    if let Some(proto) = starttls {
        cmd.args(["-starttls", proto]);
    }
    let out = run_with_stdin(&mut cmd, b"")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let verify = text
        .lines()
        .find(|l| l.trim_start().starts_with("Verify return code:"))
        .with_context(|| format!("no verify result from s_client:\n{text}"))?
        .trim()
        .to_string();
    let begin = text
        .find("-----BEGIN CERTIFICATE-----")
        .context("s_client printed no certificate")?;
    let end = text[begin..]
        .find("-----END CERTIFICATE-----")
        .context("unterminated certificate")?
        + begin
        + "-----END CERTIFICATE-----".len();
    let dir = tempfile::tempdir()?;
    let pem = dir.path().join("peer.pem");
    std::fs::write(&pem, &text[begin..end])?;
    let der = dir.path().join("peer.der");
    run_checked(
        Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&pem)
            .arg("-out")
            .arg(&der),
        "openssl x509",
    )?;
    Ok((verify, hex::encode(Sha256::digest(std::fs::read(&der)?))))
}

#[test]
fn tls_listeners_present_the_generated_certificate() -> Result<()> {
    let dv = Dovecot::start()?;
    let ca = dv.ca_pem_path();
    assert_eq!(dv.cert_sha256().len(), 64);
    for (port, starttls) in [
        (dv.imaps_port(), None),
        (dv.pop3s_port(), None),
        (dv.imap_port(), Some("imap")),
        (dv.pop3_port(), Some("pop3")),
    ] {
        let (verify, sha) = tls_handshake(port, Some(ca), starttls)?;
        assert_eq!(
            verify, "Verify return code: 0 (ok)",
            "port {port} {starttls:?}"
        );
        assert_eq!(
            sha,
            dv.cert_sha256(),
            "pinned hash matches what the server presents"
        );
        // Without the CA the same certificate is untrusted.
        let (verify, _) = tls_handshake(port, None, starttls)?;
        assert!(
            verify.contains("unable to get local issuer") || verify.contains("unable to verify"),
            "{verify}"
        );
    }

    let expired = Dovecot::start_with_expired_cert()?;
    let (verify, sha) = tls_handshake(expired.imaps_port(), Some(expired.ca_pem_path()), None)?;
    assert!(verify.contains("certificate has expired"), "{verify}");
    assert_eq!(sha, expired.cert_sha256());
    assert_ne!(expired.cert_sha256(), dv.cert_sha256());
    Ok(())
}

#[test]
fn keyring_session_stores_secrets_privately() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ks = KeyringSession::start(dir.path())?;
    let env = ks.env();
    let bus = env
        .iter()
        .find(|(k, _)| k == "DBUS_SESSION_BUS_ADDRESS")
        .map(|(_, v)| v.clone())
        .context("no bus address")?;
    assert!(bus.contains(&*dir.path().to_string_lossy()), "{bus}");

    // secret-tool under exactly the env we hand to children.
    let mut store = Command::new("secret-tool");
    store
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["store", "--label", "x", "service", "test", "user", "u"]);
    let out = run_with_stdin(&mut store, b"hunter2")?;
    ensure!(out.status.success(), "secret-tool store: {out:?}");
    let mut lookup = Command::new("secret-tool");
    lookup
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["lookup", "service", "test", "user", "u"]);
    let out = run_checked(&mut lookup, "secret-tool lookup")?;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hunter2");

    // The keyring file is inside the session dir.
    assert!(ks.keyrings_dir().starts_with(dir.path()));
    assert!(ks.keyrings_dir().join("login.keyring").is_file());

    // A second session does not see the first one's secrets.
    let dir2 = tempfile::tempdir()?;
    let ks2 = KeyringSession::start(dir2.path())?;
    assert_eq!(
        ks2.lookup_secret(&[("service", "test"), ("user", "u")])?,
        None
    );
    ks2.store_secret("y", &[("service", "test"), ("user", "u")], "other")?;
    assert_eq!(
        ks.lookup_secret(&[("service", "test"), ("user", "u")])?
            .as_deref(),
        Some("hunter2")
    );
    ks.clear_secret(&[("service", "test"), ("user", "u")])?;
    assert_eq!(
        ks.lookup_secret(&[("service", "test"), ("user", "u")])?,
        None
    );
    Ok(())
}

#[test]
fn deliver_many_is_fast_and_keeps_order() -> Result<()> {
    let dv = Dovecot::start()?;
    dv.deliver(
        "alice",
        "INBOX",
        &TestMail::new().message_id("<first@x>").build(),
    )?;
    const N: usize = 2000;
    let messages: Vec<Vec<u8>> = (0..N)
        .map(|i| {
            TestMail::new()
                .message_id(&format!("<bulk-{i}@switchboard.test>"))
                .date_unix(1_700_000_000 + i as i64 * 60)
                .subject(&format!("Bulk {i}"))
                .body(&format!("Bulk message number {i}.\n"))
                .build()
        })
        .collect();
    let t = Instant::now();
    let written = dv.deliver_many("alice", "INBOX", &messages)?;
    let elapsed = t.elapsed();
    println!("deliver_many({N}) took {elapsed:?}");
    eprintln!("deliver_many({N}) took {elapsed:?}");
    assert_eq!(written, N);
    assert_eq!(dv.count("alice", "INBOX")?, N + 1);
    let ids = dv.message_ids("alice", "INBOX")?;
    assert_eq!(ids[0], "<first@x>");
    for (i, id) in ids[1..].iter().enumerate() {
        assert_eq!(
            id,
            &format!("<bulk-{i}@switchboard.test>"),
            "UID order = given order"
        );
    }
    assert_eq!(
        dv.uids("alice", "INBOX")?,
        (1..=(N as u32 + 1)).collect::<Vec<_>>()
    );
    // IMAP sees them, and a second batch into a new folder works.
    let mut imap = ImapProbe::connect(dv.imap_port())?;
    imap.login("alice", "alice-pass")?;
    assert_eq!(imap.select("INBOX")?.exists as usize, N + 1);
    imap.logout()?;
    dv.deliver_many("alice", "Bulk", messages.iter().take(10))?;
    assert_eq!(dv.count("alice", "Bulk")?, 10);
    Ok(())
}

#[test]
fn the_awkward_corpus_is_accepted_by_dovecot() -> Result<()> {
    let dv = Dovecot::start()?;
    let corpus = awkward_corpus();
    assert_eq!(corpus.len(), mail::CORPUS_NAMES.len());
    let big = &corpus.last().context("empty corpus")?.1;
    assert!(big.len() > mail::LARGE_ATTACHMENT_BYTES, "{}", big.len());
    for (name, raw) in &corpus {
        dv.deliver("alice", "Corpus", raw)
            .with_context(|| format!("delivering {name}"))?;
    }
    assert_eq!(dv.count("alice", "Corpus")?, corpus.len());
    let ids = dv.message_ids("alice", "Corpus")?;
    // One message has no Message-ID; two share one.
    assert_eq!(ids.len(), corpus.len() - 1);
    assert_eq!(
        ids.iter().filter(|i| *i == mail::SHARED_MESSAGE_ID).count(),
        2
    );
    // Each can be found by its subject.
    let found = dv.doveadm(&[
        "search",
        "-u",
        "alice",
        "mailbox",
        "Corpus",
        "header",
        "Subject",
        "Corpus: 1 MB",
    ])?;
    assert_eq!(found.lines().count(), 1, "{found}");
    Ok(())
}
