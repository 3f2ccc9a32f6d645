//! Store behaviour without any network: migrations, dedup, idempotence, delete policies.

use switchboard_store::{
    AccountKind, IncomingMessage, IngestOutcome, NewAccount, SourceKey, Store, SyncPolicy, TlsMode,
    SCHEMA_VERSION,
};

fn mail(id: Option<&str>, subject: &str, body: &str) -> Vec<u8> {
    let mut m = String::new();
    if let Some(id) = id {
        m.push_str(&format!("Message-ID: {id}\r\n"));
    }
    m.push_str("From: Bob <bob@example.org>\r\nTo: alice@example.org\r\n");
    m.push_str(&format!(
        "Subject: {subject}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\n{body}\r\n"
    ));
    m.into_bytes()
}

fn incoming(raw: Vec<u8>, source: SourceKey) -> IncomingMessage {
    IncomingMessage {
        parsed: switchboard_model::parse(&raw),
        raw,
        source,
        flags: None,
    }
}

fn imap(uid: u32) -> SourceKey {
    SourceKey::Imap {
        mailbox: "INBOX".into(),
        uidvalidity: 7,
        uid,
    }
}

fn pop(uidl: &str) -> SourceKey {
    SourceKey::Pop3 { uidl: uidl.into() }
}

fn account(store: &Store, name: &str, kind: AccountKind, policy: SyncPolicy) -> i64 {
    store
        .add_account(&NewAccount {
            name: name.into(),
            kind,
            host: "127.0.0.1".into(),
            port: 993,
            tls: TlsMode::Implicit,
            username: "alice".into(),
            trust_cert: None,
            mailboxes: vec![],
            policy,
        })
        .expect("add account")
        .id
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    (dir, store)
}

#[test]
fn migrates_from_empty_and_is_idempotent() {
    let (dir, store) = open();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let id = store.install_id().unwrap();
    drop(store);
    let again = Store::open_in(dir.path()).unwrap();
    assert_eq!(again.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(again.install_id().unwrap(), id, "install id is stable");
}

#[test]
fn migrates_from_every_earlier_version() {
    // Each earlier version (0 = empty) is reproduced by running only its migrations; opening the store
    // must bring it to the current version with the data intact.
    for from in 0..=SCHEMA_VERSION {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        switchboard_store::testing::create_at_version(&path, from).unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            SCHEMA_VERSION,
            "from v{from}"
        );
    }
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.sqlite3");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let err = Store::open(&path).err().expect("must refuse").to_string();
    assert!(err.contains("newer"), "{err}");
}

#[test]
fn two_connections_write_at_once() {
    let (dir, store) = open();
    let a = account(&store, "a", AccountKind::Imap, SyncPolicy::Mirror);
    let path = store.path().to_path_buf();
    let threads: Vec<_> = (0..2u32)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut s = Store::open(&path).unwrap();
                for i in 0..50u32 {
                    let uid = t * 1000 + i;
                    let raw = mail(Some(&format!("<m{uid}@x>")), "s", "b");
                    s.ingest(a, &[incoming(raw, imap(uid))]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.message_count(false).unwrap(), 100);
    drop(dir);
}

#[test]
fn same_message_through_two_accounts_is_stored_once() {
    let (_dir, mut store) = open();
    let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
    let p = account(&store, "p", AccountKind::Pop3, SyncPolicy::Mirror);
    let raw = mail(Some("<Same@Example.ORG>"), "hello", "one body");
    let a = store.ingest(i, &[incoming(raw.clone(), imap(1))]).unwrap();
    // The POP3 copy differs in the case of the domain part and angle spacing only.
    let raw2 = mail(Some(" <Same@example.org> "), "hello", "one body");
    let b = store.ingest(p, &[incoming(raw2, pop("u1"))]).unwrap();
    assert!(matches!(a[0], IngestOutcome::Stored(_)));
    assert_eq!(b[0], IngestOutcome::Merged(a[0].message_id()));
    let detail = store.message(a[0].message_id()).unwrap();
    assert_eq!(detail.summary.sources.len(), 2);
    assert_eq!(store.message_count(false).unwrap(), 1);
}

#[test]
fn reused_message_id_with_other_content_keeps_both() {
    let (_dir, mut store) = open();
    let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
    let a = mail(Some("<dup@x>"), "hello", "first body");
    let b = mail(Some("<dup@x>"), "hello", "a completely different body");
    let out = store
        .ingest(i, &[incoming(a, imap(1)), incoming(b, imap(2))])
        .unwrap();
    assert!(matches!(out[0], IngestOutcome::Stored(_)));
    assert!(matches!(out[1], IngestOutcome::Stored(_)));
    assert_ne!(out[0].message_id(), out[1].message_id());
    assert_eq!(store.message_count(false).unwrap(), 2);
}

#[test]
fn messages_without_message_id_dedup_by_content_hash() {
    let (_dir, mut store) = open();
    let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
    let p = account(&store, "p", AccountKind::Pop3, SyncPolicy::Mirror);
    let raw = mail(None, "no id", "body");
    let a = store.ingest(i, &[incoming(raw.clone(), imap(1))]).unwrap();
    let b = store.ingest(p, &[incoming(raw, pop("x"))]).unwrap();
    assert_eq!(b[0], IngestOutcome::Merged(a[0].message_id()));
    let other = store
        .ingest(p, &[incoming(mail(None, "no id", "other body"), pop("y"))])
        .unwrap();
    assert!(matches!(other[0], IngestOutcome::Stored(_)));
    let m = store.message(a[0].message_id()).unwrap();
    assert!(m.summary.synthetic_id);
    assert!(m
        .summary
        .message_id
        .ends_with("@synthetic.switchboard.invalid"));
}

#[test]
fn re_ingesting_a_known_source_changes_nothing() {
    let (_dir, mut store) = open();
    let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
    let raw = mail(Some("<a@x>"), "s", "b");
    let first = store.ingest(i, &[incoming(raw.clone(), imap(1))]).unwrap();
    let again = store.ingest(i, &[incoming(raw, imap(1))]).unwrap();
    assert_eq!(again[0], IngestOutcome::Known(first[0].message_id()));
    assert_eq!(store.message_count(true).unwrap(), 1);
}

#[test]
fn raw_source_round_trips() {
    let (_dir, mut store) = open();
    let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
    let raw = mail(Some("<raw@x>"), "s", &"long line ".repeat(5000));
    let out = store.ingest(i, &[incoming(raw.clone(), imap(1))]).unwrap();
    assert_eq!(store.raw(out[0].message_id()).unwrap(), raw);
}

#[test]
fn search_finds_words_in_subject_sender_and_body() {
    let (_dir, mut store) = open();
    let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
    store
        .ingest(
            i,
            &[
                incoming(
                    mail(Some("<1@x>"), "Quarterly report", "numbers inside"),
                    imap(1),
                ),
                incoming(mail(Some("<2@x>"), "Lunch", "pizza on friday"), imap(2)),
            ],
        )
        .unwrap();
    assert_eq!(store.search("quarterly", 10).unwrap().len(), 1);
    assert_eq!(store.search("pizz", 10).unwrap().len(), 1, "prefix match");
    assert_eq!(store.search("bob", 10).unwrap().len(), 2, "sender");
    assert_eq!(store.search("\"unbalanced OR (", 10).unwrap().len(), 0);
    assert!(store.search("", 10).unwrap().is_empty());
}

#[test]
fn delete_under_mirror_waits_for_the_server_then_purges() {
    let (_dir, mut store) = open();
    let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
    let out = store
        .ingest(i, &[incoming(mail(Some("<d@x>"), "s", "b"), imap(1))])
        .unwrap();
    let id = out[0].message_id();
    store.delete_message(id).unwrap();
    assert_eq!(
        store.message_count(false).unwrap(),
        0,
        "gone from the inbox at once"
    );
    let sources = store.sources(i, "INBOX").unwrap();
    assert!(sources[0].delete_requested);
    assert_eq!(
        store.message_count(true).unwrap(),
        1,
        "kept until the server confirms"
    );
    store
        .remote_deleted(SyncPolicy::Mirror, &[sources[0].id])
        .unwrap();
    assert_eq!(store.message_count(true).unwrap(), 0);
    assert!(
        store.delete_message(id).is_err(),
        "deleting twice is an error"
    );
}

#[test]
fn delete_under_keep_leaves_a_tombstone() {
    let (_dir, mut store) = open();
    let p = account(&store, "p", AccountKind::Pop3, SyncPolicy::Keep);
    let out = store
        .ingest(p, &[incoming(mail(Some("<k@x>"), "s", "b"), pop("u9"))])
        .unwrap();
    store.delete_message(out[0].message_id()).unwrap();
    assert_eq!(store.message_count(true).unwrap(), 0);
    let t = store.tombstones(p).unwrap();
    assert!(t.contains("uidl:u9") && t.contains("mid:k@x"), "{t:?}");
}

#[test]
fn forward_sync_respects_delete_after() {
    let (_dir, mut store) = open();
    let p = account(&store, "p", AccountKind::Pop3, SyncPolicy::DeleteAfter(0));
    let out = store
        .ingest(p, &[incoming(mail(Some("<f@x>"), "s", "b"), pop("u1"))])
        .unwrap();
    let src = store.sources(p, "").unwrap();
    // The server lost it: under delete-after the local copy is the master and stays.
    assert_eq!(
        store
            .sources_vanished(SyncPolicy::DeleteAfter(0), &[src[0].id])
            .unwrap(),
        0
    );
    assert_eq!(store.message_count(false).unwrap(), 1);
    assert!(store.sources(p, "").unwrap()[0].gone);
    // Under mirror the last source going removes the message.
    let m = account(&store, "m", AccountKind::Pop3, SyncPolicy::Mirror);
    store
        .ingest(m, &[incoming(mail(Some("<g@x>"), "s", "b"), pop("u2"))])
        .unwrap();
    let src = store.sources(m, "").unwrap();
    assert_eq!(
        store
            .sources_vanished(SyncPolicy::Mirror, &[src[0].id])
            .unwrap(),
        1
    );
    assert_eq!(store.message_count(false).unwrap(), 1);
    assert!(store.message(out[0].message_id()).is_ok());
}

#[test]
fn removing_an_account_keeps_messages_shared_with_another() {
    let (_dir, mut store) = open();
    let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
    let p = account(&store, "p", AccountKind::Pop3, SyncPolicy::Mirror);
    let shared = mail(Some("<s@x>"), "s", "b");
    store
        .ingest(
            i,
            &[
                incoming(shared.clone(), imap(1)),
                incoming(mail(Some("<only@x>"), "o", "b"), imap(2)),
            ],
        )
        .unwrap();
    store.ingest(p, &[incoming(shared, pop("u"))]).unwrap();
    store.remove_account("i").unwrap();
    assert_eq!(store.message_count(true).unwrap(), 1);
    assert!(store.remove_account("i").is_err());
}

mod change_log {
    use super::*;
    use switchboard_store::{ChangeKind, Flags};

    fn kinds(store: &Store, since: i64) -> Vec<ChangeKind> {
        store
            .changes_since(since, 100)
            .unwrap()
            .into_iter()
            .map(|c| c.kind)
            .collect()
    }

    #[test]
    fn every_change_moves_the_sequence() {
        let (_dir, mut store) = open();
        let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
        assert_eq!(store.change_seq().unwrap(), 0);
        let out = store
            .ingest(i, &[incoming(mail(Some("<c1@x>"), "s", "b"), imap(1))])
            .unwrap();
        let after_add = store.change_seq().unwrap();
        assert!(after_add > 0);
        // A merge of the same message through another source changes nothing visible.
        let p = account(&store, "p", AccountKind::Pop3, SyncPolicy::Mirror);
        store
            .ingest(p, &[incoming(mail(Some("<c1@x>"), "s", "b"), pop("u"))])
            .unwrap();
        assert_eq!(store.change_seq().unwrap(), after_add);
        // Flags: a real change moves it, a no-op does not.
        let seen = Flags {
            seen: true,
            ..Flags::default()
        };
        store.apply_imap_flags(i, "INBOX", 7, &[(1, seen)]).unwrap();
        let after_flag = store.change_seq().unwrap();
        assert!(after_flag > after_add);
        store.apply_imap_flags(i, "INBOX", 7, &[(1, seen)]).unwrap();
        assert_eq!(store.change_seq().unwrap(), after_flag);
        // Deleted here: one 'removed' now, nothing more when the servers confirm and it is purged.
        store.delete_message(out[0].message_id()).unwrap();
        let after_delete = store.change_seq().unwrap();
        let ids: Vec<i64> = store
            .sources(i, "INBOX")
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect();
        store.remote_deleted(SyncPolicy::Mirror, &ids).unwrap();
        let ids: Vec<i64> = store.sources(p, "").unwrap().iter().map(|s| s.id).collect();
        store.remote_deleted(SyncPolicy::Mirror, &ids).unwrap();
        assert_eq!(store.message_count(true).unwrap(), 0);
        assert_eq!(store.change_seq().unwrap(), after_delete);
        assert_eq!(
            kinds(&store, 0),
            vec![ChangeKind::Added, ChangeKind::Updated, ChangeKind::Removed]
        );
    }

    #[test]
    fn a_delete_followed_by_an_add_is_two_changes() {
        // A plain message count would show no change here; the sequence must.
        let (_dir, mut store) = open();
        let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
        store
            .ingest(i, &[incoming(mail(Some("<a@x>"), "s", "b"), imap(1))])
            .unwrap();
        let before = store.change_seq().unwrap();
        let src = store.sources(i, "INBOX").unwrap();
        store
            .sources_vanished(SyncPolicy::Mirror, &[src[0].id])
            .unwrap();
        store
            .ingest(i, &[incoming(mail(Some("<b@x>"), "t", "c"), imap(2))])
            .unwrap();
        assert_eq!(store.message_count(false).unwrap(), 1);
        assert_eq!(
            kinds(&store, before),
            vec![ChangeKind::Removed, ChangeKind::Added]
        );
    }

    #[test]
    fn compaction_keeps_the_latest_sequence() {
        let (_dir, mut store) = open();
        let i = account(&store, "i", AccountKind::Imap, SyncPolicy::Mirror);
        for uid in 1..=3 {
            store
                .ingest(
                    i,
                    &[incoming(
                        mail(Some(&format!("<k{uid}@x>")), "s", "b"),
                        imap(uid),
                    )],
                )
                .unwrap();
        }
        let seq = store.change_seq().unwrap();
        store.compact_changes(i64::MAX).unwrap();
        assert_eq!(store.change_seq().unwrap(), seq);
        assert_eq!(store.oldest_change_seq().unwrap(), seq);
    }

    #[test]
    fn a_version_1_store_with_mail_migrates_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite3");
        switchboard_store::testing::create_at_version(&path, 1).unwrap();
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "INSERT INTO account (id, name, kind, host, port, tls, username, mailboxes, policy, created_at) \
                 VALUES (1, 'old', 'imap', 'h', 993, 'implicit', 'u', '[\"INBOX\"]', 'mirror', 0);
                 INSERT INTO message (id, message_key, has_message_id, subject, to_json, cc_json, reply_to_json, \
                 stored_at, sort_date, size, references_json, has_attachments, attachments_json, parse_problems_json) \
                 VALUES (1, 'old@x', 1, 'From before', '[]', '[]', '[]', 0, 0, 10, '[]', 0, '[]', '[]');
                 INSERT INTO source (message_id, account_id, mailbox, uidvalidity, uid, stored_at) VALUES (1, 1, 'INBOX', 1, 1, 0);",
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let list = store
            .inbox(&switchboard_store::InboxQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].subject, "From before");
        assert_eq!(
            store.change_seq().unwrap(),
            0,
            "history before the log is not invented"
        );
        store.delete_message(1).unwrap();
        assert_eq!(kinds(&store, 0), vec![ChangeKind::Removed]);
    }
}

#[test]
fn owners_see_only_their_accounts_messages_and_changes() {
    let (_dir, mut store) = open();
    let alice = account(&store, "alice-imap", AccountKind::Imap, SyncPolicy::Mirror);
    let bob = account(&store, "bob-pop", AccountKind::Pop3, SyncPolicy::Mirror);
    store
        .set_account_owner("alice-imap", Some("alice"))
        .unwrap();
    store.set_account_owner("bob-pop", Some("bob")).unwrap();
    assert!(store.set_account_owner("nobody", Some("x")).is_err());
    assert!(store
        .set_account_owner("bob-pop", Some("has space"))
        .is_err());
    assert_eq!(store.owners().unwrap(), vec!["alice", "bob"]);
    let a = store
        .ingest(
            alice,
            &[incoming(
                mail(Some("<a1@x>"), "For Alice", "apples"),
                imap(1),
            )],
        )
        .unwrap()[0]
        .message_id();
    let b = store
        .ingest(
            bob,
            &[incoming(
                mail(Some("<b1@x>"), "For Bob", "bananas"),
                pop("u1"),
            )],
        )
        .unwrap()[0]
        .message_id();
    assert!(store.message_owned_by(a, "alice").unwrap());
    assert!(!store.message_owned_by(b, "alice").unwrap());
    let q = |owner: &str| switchboard_store::InboxQuery {
        limit: 10,
        owner: Some(owner.into()),
        ..Default::default()
    };
    let ids: Vec<i64> = store
        .inbox(&q("bob"))
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, vec![b]);
    assert!(store
        .search_for("bananas", 10, Some("alice"))
        .unwrap()
        .is_empty());
    assert_eq!(
        store.search_for("bananas", 10, Some("bob")).unwrap().len(),
        1
    );
    assert_eq!(
        store.latest_message_for("alice").unwrap().map(|l| l.0),
        Some(a)
    );

    // Every change is attributed to the owners of the message's accounts.
    let owners = store.change_owners_since(0, 100).unwrap();
    assert_eq!(owners.len(), 2);
    assert_eq!(owners[0].1, vec![Some("alice".to_string())]);
    assert_eq!(owners[1].1, vec![Some("bob".to_string())]);
    let for_alice = store.changes_since_for(0, 100, "alice").unwrap();
    assert_eq!(
        for_alice.iter().map(|c| c.message_id).collect::<Vec<_>>(),
        vec![a]
    );

    // A message purged with its sources can no longer be attributed: everybody's change.
    let seq = store.change_seq().unwrap();
    let src = store.sources(bob, "").unwrap();
    store
        .remote_deleted(SyncPolicy::Mirror, &[src[0].id])
        .unwrap();
    let after = store.change_owners_since(seq, 100).unwrap();
    assert_eq!(after.len(), 1);
    assert!(after[0].1.is_empty(), "unattributable: {after:?}");
    let for_alice = store.changes_since_for(seq, 100, "alice").unwrap();
    assert_eq!(for_alice.len(), 1, "removal of an unknown id is passed on");
    assert_eq!(for_alice[0].kind, switchboard_store::ChangeKind::Removed);

    // Tokens remember their owner.
    store
        .add_token_for("bobs-phone", "ab12", Some("bob"))
        .unwrap();
    store.add_token("desk", "cd34").unwrap();
    let mut live = store.live_tokens().unwrap();
    live.sort();
    assert_eq!(
        live,
        vec![("ab12".into(), Some("bob".into())), ("cd34".into(), None)]
    );
}
