//! Instant messages in the store: XMPP accounts, dedup across live/carbon/archive copies,
//! the outbox and delivery states, conversations, the channel filter and routing records.

use switchboard_model::Address;
use switchboard_store::{
    AccountKind, ArchivePosition, Channel, ImDirection, ImOutcome, ImState, InboxQuery, NewAccount,
    NewIm, RosterItem, Store, SyncPolicy, TlsMode,
};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    (dir, store)
}

fn xmpp_account(store: &Store, name: &str, host: &str, port: u16) -> i64 {
    store
        .add_account(&NewAccount {
            name: name.into(),
            kind: AccountKind::Xmpp,
            host: host.into(),
            port,
            tls: TlsMode::Starttls,
            username: "alice@example.org".into(),
            trust_cert: None,
            mailboxes: vec![],
            policy: SyncPolicy::Keep,
        })
        .expect("add xmpp account")
        .id
}

fn im(direction: ImDirection, contact: &str, body: &str, keys: &[&str], at_ms: i64) -> NewIm {
    let me = Address {
        name: None,
        email: "alice@example.org".into(),
    };
    let them = Address {
        name: None,
        email: contact.into(),
    };
    let (from, to) = match direction {
        ImDirection::In => (them, me),
        ImDirection::Out => (me, them),
    };
    NewIm {
        direction,
        contact: contact.into(),
        from,
        to,
        body: body.into(),
        at_ms,
        stanza_id: None,
        origin_id: Some(format!("o-{}", keys[0])),
        thread: None,
        keys: keys.iter().map(|k| k.to_string()).collect(),
        message_key: format!("{}@im.switchboard.invalid", keys[0].replace(':', "-")),
        raw: format!("<message><body>{body}</body></message>").into_bytes(),
        state: if direction == ImDirection::In {
            ImState::Received
        } else {
            ImState::Sent
        },
        history: false,
        route_note: None,
        detail: None,
    }
}

#[test]
fn xmpp_accounts_are_accepted_after_migrating_and_other_kinds_still_refused() {
    // A store from before IM support: version 8, the one before the IM step (later steps are
    // appended after it, so the number stays).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    switchboard_store::testing::create_at_version(&path, 8).unwrap();
    let store = Store::open(&path).unwrap();
    // DNS SRV (no host, no port) and an override both work.
    xmpp_account(&store, "chat", "", 0);
    xmpp_account(&store, "chat2", "127.0.0.1", 5222);
    let a = store.account("chat").unwrap().unwrap();
    assert_eq!(a.kind, AccountKind::Xmpp);
    assert!(a.mailboxes.is_empty());
    // A port without a host makes no sense.
    let err = store
        .add_account(&NewAccount {
            name: "bad".into(),
            kind: AccountKind::Xmpp,
            host: "".into(),
            port: 5222,
            tls: TlsMode::Starttls,
            username: "a@b".into(),
            trust_cert: None,
            mailboxes: vec![],
            policy: SyncPolicy::Keep,
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("host"), "{err}");
    // Mail accounts still need a host.
    let err = store
        .add_account(&NewAccount {
            name: "mail".into(),
            kind: AccountKind::Imap,
            host: "".into(),
            port: 993,
            tls: TlsMode::Implicit,
            username: "a".into(),
            trust_cert: None,
            mailboxes: vec![],
            policy: SyncPolicy::Mirror,
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("host"), "{err}");
    // The widened constraint still refuses unknown kinds.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let refused = conn.execute(
        "INSERT INTO account (name, kind, host, port, tls, username, mailboxes, policy, created_at) \
         VALUES ('x', 'fax', 'h', 1, 'implicit', 'u', '[]', 'keep', 0)",
        [],
    );
    assert!(refused.is_err());
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

#[test]
fn the_same_im_by_any_key_is_stored_once_and_learns_its_archive_id() {
    let (_d, mut store) = open();
    let acc = xmpp_account(&store, "chat", "", 0);
    // Live, without an archive id.
    let live = im(
        ImDirection::In,
        "bob@example.org",
        "hi",
        &["msg:bob:1:h"],
        1_000,
    );
    let first = store.ingest_im(acc, &[live], None).unwrap();
    let ImOutcome::Stored(id) = first[0] else {
        panic!("{first:?}")
    };
    // The same from the archive: a new key first, the shared one after.
    let mut archived = im(
        ImDirection::In,
        "bob@example.org",
        "hi",
        &["sid:A1", "msg:bob:1:h"],
        1_000,
    );
    archived.stanza_id = Some("A1".into());
    let pos = ArchivePosition {
        after_id: "A1".into(),
        at_ms: 1_000,
    };
    let again = store
        .ingest_im(acc, &[archived.clone()], Some(&pos))
        .unwrap();
    assert_eq!(again, vec![ImOutcome::Known(id)]);
    assert_eq!(store.message_count(false).unwrap(), 1);
    assert_eq!(
        store.im_message(id).unwrap().stanza_id.as_deref(),
        Some("A1")
    );
    assert_eq!(store.im_archive_position(acc).unwrap(), Some(pos));
    // Now known by the archive id alone too.
    let by_sid = im(ImDirection::In, "bob@example.org", "hi", &["sid:A1"], 1_000);
    assert_eq!(
        store.ingest_im(acc, &[by_sid], None).unwrap(),
        vec![ImOutcome::Known(id)]
    );

    // Deleted here: the next catch-up does not bring it back.
    store.delete_message(id).unwrap();
    assert_eq!(store.message_count(false).unwrap(), 0);
    let r = store.ingest_im(acc, &[archived], None).unwrap();
    assert!(matches!(r[0], ImOutcome::Known(_)), "{r:?}");
    assert_eq!(store.message_count(false).unwrap(), 0);
}

#[test]
fn ims_are_in_the_inbox_as_channel_im_grouped_into_conversations() {
    let (_d, mut store) = open();
    let acc = xmpp_account(&store, "chat", "", 0);
    store
        .set_im_roster(
            acc,
            &[RosterItem {
                jid: "bob@example.org".into(),
                name: Some("Bob".into()),
                subscription: "both".into(),
            }],
        )
        .unwrap();
    store
        .set_im_presence(acc, "bob@example.org", "away", Some("lunch"))
        .unwrap();
    let batch = vec![
        im(ImDirection::In, "bob@example.org", "one", &["k1"], 1_000),
        im(ImDirection::Out, "bob@example.org", "two", &["k2"], 2_000),
        im(
            ImDirection::In,
            "carol@example.org",
            "three",
            &["k3"],
            3_000,
        ),
        im(ImDirection::In, "bob@example.org", "four", &["k4"], 4_000),
    ];
    let seq_before = store.change_seq().unwrap();
    store.ingest_im(acc, &batch, None).unwrap();
    assert!(
        store.change_seq().unwrap() >= seq_before + 4,
        "IMs move the index"
    );

    let ims = store
        .inbox(&InboxQuery {
            limit: 10,
            channel: Some(Channel::Im),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ims.len(), 4);
    assert!(ims.iter().all(|m| m.channel == "im"));
    let mail = store
        .inbox(&InboxQuery {
            limit: 10,
            channel: Some(Channel::Mail),
            ..Default::default()
        })
        .unwrap();
    assert!(mail.is_empty());
    assert_eq!(store.search("three", 10).unwrap().len(), 1);

    let convs = store.im_conversations(None, 10).unwrap();
    assert_eq!(convs.len(), 2);
    assert_eq!(convs[0].contact, "bob@example.org");
    assert_eq!(convs[0].messages, 3);
    assert_eq!(convs[0].unread, 2, "the outgoing one is read");
    assert_eq!(convs[0].last.body, "four");
    assert_eq!(convs[0].name.as_deref(), Some("Bob"));
    assert_eq!(convs[0].presence, "away");
    assert_eq!(convs[1].contact, "carol@example.org");
    assert_eq!(convs[1].presence, "offline");

    let bob = store
        .im_conversation("chat", "bob@example.org", 10, None)
        .unwrap();
    let bodies: Vec<&str> = bob.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, vec!["four", "two", "one"]);
    assert_eq!(bob[1].direction, ImDirection::Out);

    let contacts = store.im_contacts(None, None).unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].status.as_deref(), Some("lunch"));
    store.clear_im_presence(acc).unwrap();
    assert_eq!(
        store.im_contacts(None, None).unwrap()[0].presence,
        "offline"
    );

    // Removing the account removes its IMs.
    store.remove_account("chat").unwrap();
    assert_eq!(store.message_count(true).unwrap(), 0);
}

#[test]
fn outbox_states_move_forward_only() {
    let (_d, mut store) = open();
    let acc = xmpp_account(&store, "chat", "", 0);
    let mut out = im(
        ImDirection::Out,
        "bob@example.org",
        "hello",
        &["out:1"],
        5_000,
    );
    out.origin_id = Some("orig-1".into());
    let id = store.queue_im(acc, &out).unwrap();
    let outbox = store.im_outbox(acc).unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].origin_id, "orig-1");
    assert_eq!(store.im_by_origin(acc, "orig-1").unwrap(), Some(id));

    assert!(store.set_im_state(id, ImState::Sent, None).unwrap());
    assert!(store.im_outbox(acc).unwrap().is_empty());
    // A receipt may overtake the server's ack.
    assert!(store.set_im_state(id, ImState::Delivered, None).unwrap());
    assert!(!store.set_im_state(id, ImState::Acked, None).unwrap());
    assert!(!store
        .set_im_state(id, ImState::Failed, Some("late bounce"))
        .unwrap());
    assert_eq!(store.im_message(id).unwrap().state, ImState::Delivered);

    // What this person wrote is not routed back to them.
    let routed: String = rusqlite::Connection::open(store.path())
        .unwrap()
        .query_row(
            "SELECT state FROM message_route WHERE message_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(routed, "skipped");
}

#[test]
fn a_batch_with_a_keyless_im_changes_nothing() {
    let (_d, mut store) = open();
    let acc = xmpp_account(&store, "chat", "", 0);
    let good = im(ImDirection::In, "bob@example.org", "ok", &["k1"], 1);
    let mut bad = im(ImDirection::In, "bob@example.org", "bad", &["k2"], 2);
    bad.keys.clear();
    let err = store.ingest_im(acc, &[good, bad], None).unwrap_err();
    assert!(err.to_string().contains("key"), "{err}");
    assert_eq!(store.message_count(true).unwrap(), 0);
}
