//! Chat states (XEP-0085) in the store: a contact's last state, ours queued only for contacts
//! that use chat states, the latest one per conversation, stale ones dropped.

use switchboard_store::{AccountKind, NewAccount, RosterItem, Store, SyncPolicy, TlsMode};

fn open() -> (tempfile::TempDir, Store, i64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_in(dir.path()).expect("open");
    let id = store
        .add_account(&NewAccount {
            name: "chat".into(),
            kind: AccountKind::Xmpp,
            host: String::new(),
            port: 0,
            tls: TlsMode::Starttls,
            username: "alice@example.org".into(),
            trust_cert: None,
            mailboxes: vec![],
            policy: SyncPolicy::Keep,
        })
        .expect("add xmpp account")
        .id;
    (dir, store, id)
}

#[test]
fn a_contacts_state_is_kept_with_its_time() {
    let (_d, mut store, id) = open();
    store
        .set_im_roster(
            id,
            &[RosterItem {
                jid: "bob@example.org".into(),
                name: Some("Bob".into()),
                subscription: "both".into(),
            }],
        )
        .unwrap();
    store
        .set_im_chat_state(id, "bob@example.org", "composing", 1_000)
        .unwrap();
    // Someone not in the roster too (the contact list does not show them).
    store
        .set_im_chat_state(id, "eve@example.org", "paused", 2_000)
        .unwrap();
    let all = store.im_chat_states(None, 0).unwrap();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].contact, "bob@example.org");
    assert_eq!(all[0].state, "composing");
    assert_eq!(all[0].at_ms, 1_000);
    // Only recent ones are asked for.
    let recent = store.im_chat_states(None, 1_500).unwrap();
    assert_eq!(recent.len(), 1);
    assert_eq!(recent[0].contact, "eve@example.org");
    // The roster entry keeps its name and subscription.
    let contacts = store.im_contacts(None, None).unwrap();
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0].name.as_deref(), Some("Bob"));
    // Household owners see only their accounts' states.
    assert!(store.im_chat_states(Some("kid"), 0).unwrap().is_empty());
    // Not a chat state.
    let err = store
        .set_im_chat_state(id, "bob@example.org", "dancing", 3_000)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dancing") && err.contains("composing"),
        "{err}"
    );
}

#[test]
fn ours_go_only_to_contacts_that_use_chat_states_latest_first_and_once() {
    let (_d, mut store, id) = open();
    // Bob's client never sent a chat state: nothing is queued for him.
    assert!(!store
        .queue_im_chat_state(id, "bob@example.org", "composing", 10)
        .unwrap());
    store
        .set_im_chat_state(id, "bob@example.org", "active", 5)
        .unwrap();
    store
        .set_im_chat_state(id, "carol@example.org", "active", 5)
        .unwrap();
    assert!(store
        .queue_im_chat_state(id, "bob@example.org", "composing", 10)
        .unwrap());
    // The latest state of a conversation replaces the one not sent yet.
    assert!(store
        .queue_im_chat_state(id, "bob@example.org", "paused", 20)
        .unwrap());
    assert!(store
        .queue_im_chat_state(id, "carol@example.org", "composing", 3)
        .unwrap());
    // Carol's is too old to mean anything now: dropped, not sent.
    let out = store.take_im_chat_states(id, 8).unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].contact, "bob@example.org");
    assert_eq!(out[0].state, "paused");
    // Taken once.
    assert!(store.take_im_chat_states(id, 0).unwrap().is_empty());
    assert!(store
        .queue_im_chat_state(id, "bob@example.org", "typing", 30)
        .is_err());
}

#[test]
fn taking_them_waits_for_another_writer_instead_of_failing() {
    let (dir, mut store, id) = open();
    // Another connection (the router, a sync pass) is writing when the connection takes its
    // queue: the take waits for that commit rather than failing with "database is locked".
    let db = dir.path().join("switchboard.sqlite3");
    assert!(db.exists(), "the store file is {}", db.display());
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let writer = std::thread::spawn(move || {
        let mut conn = rusqlite::Connection::open(&db).expect("second connection");
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("write lock");
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('other writer', '1')",
            [],
        )
        .expect("a write");
        ready_tx.send(()).expect("signal");
        std::thread::sleep(std::time::Duration::from_millis(300));
        tx.commit().expect("commit");
    });
    ready.recv().expect("the other writer holds the lock");
    let taken = store.take_im_chat_states(id, 0);
    writer.join().expect("writer thread");
    assert!(taken.expect("taken while another wrote").is_empty());
}
