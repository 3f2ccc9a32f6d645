//! Full-text search gives the newest matches first, exactly as the inbox orders them, whatever
//! the number of matches; and an index rebuilt from the stored messages (after the migration
//! that replaced the old one, or a rebuild cut short) finds the same messages once each.

use switchboard_store::{
    AccountKind, InboxQuery, IncomingMessage, MessageSummary, NewAccount, SourceKey, Store,
    SyncPolicy, TlsMode,
};

/// Dates out of step with the order of arrival (ids), so an answer that follows ids shows.
fn date_of(n: u32) -> u32 {
    (n * 37) % 101
}

fn words_of(n: u32) -> &'static str {
    if n.is_multiple_of(10) {
        "common rare"
    } else {
        "common"
    }
}

fn mail(n: u32, date: &str, body: &str) -> Vec<u8> {
    format!(
        "Message-ID: <s{n}@x>\r\nFrom: Bob <bob@example.org>\r\nTo: alice@example.org\r\n\
         Subject: Note {n}\r\nDate: {date}\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn march(n: u32) -> String {
    let d = date_of(n);
    format!("{:02} Mar 2026 {:02}:00:00 +0000", 1 + d / 24, d % 24)
}

fn incoming(uid: u32, raw: Vec<u8>) -> IncomingMessage {
    IncomingMessage {
        parsed: switchboard_model::parse(&raw),
        raw,
        source: SourceKey::Imap {
            mailbox: "INBOX".into(),
            uidvalidity: 1,
            uid,
        },
        flags: None,
    }
}

fn add_account(store: &Store) -> i64 {
    store
        .add_account(&NewAccount {
            name: "i".into(),
            kind: AccountKind::Imap,
            host: "127.0.0.1".into(),
            port: 993,
            tls: TlsMode::Implicit,
            username: "alice".into(),
            trust_cert: None,
            mailboxes: vec![],
            policy: SyncPolicy::Mirror,
        })
        .expect("account")
        .id
}

fn store_with(messages: u32) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("open");
    let account = add_account(&store);
    let batch: Vec<IncomingMessage> = (1..=messages)
        .map(|n| incoming(n, mail(n, &march(n), words_of(n))))
        .collect();
    store.ingest(account, &batch).expect("ingest");
    (dir, store)
}

fn ids(list: &[MessageSummary]) -> Vec<i64> {
    list.iter().map(|m| m.id).collect()
}

/// The n of "Note n".
fn note(m: &MessageSummary) -> u32 {
    m.subject
        .trim_start_matches("Note ")
        .parse()
        .expect("a note")
}

/// What a search must answer: the inbox, newest first, kept where `matches` says so.
fn expected(store: &Store, limit: usize, matches: impl Fn(u32) -> bool) -> Vec<i64> {
    let inbox = store
        .inbox(&InboxQuery {
            limit: 100_000,
            ..Default::default()
        })
        .expect("inbox");
    let kept: Vec<i64> = inbox
        .iter()
        .filter(|m| matches(note(m)))
        .map(|m| m.id)
        .collect();
    kept.into_iter().take(limit).collect()
}

/// Which notes a search must find.
type Matches = dyn Fn(u32) -> bool;

#[test]
fn newest_matches_first_exactly_as_the_inbox_orders_them() {
    let (_dir, mut store) = store_with(120);
    // One deleted match must stay out of every answer.
    let first = store.search("common", 1).unwrap()[0].id;
    store.delete_message(first).unwrap();
    let rare = |n: u32| n.is_multiple_of(10);
    let common = |_: u32| true;
    let cases: [(&str, usize, &Matches); 7] = [
        ("common", 10, &common),
        ("common", 200, &common),
        ("co", 7, &common),
        ("rare", 5, &rare),
        ("comm rar", 50, &rare),
        ("ra", 3, &rare),
        ("nothing", 5, &|_| false),
    ];
    for (text, limit, matches) in cases {
        let got = ids(&store.search(text, limit).unwrap());
        assert_eq!(
            got,
            expected(&store, limit, matches),
            "{text} limit {limit}"
        );
        assert!(!got.contains(&first), "{text}: the deleted message is out");
    }
    assert_eq!(store.search("common", 1000).unwrap().len(), 119);
    assert_eq!(store.search("bob@example.org", 1000).unwrap().len(), 119);
}

#[test]
fn dates_before_1970_and_far_ahead_keep_their_place() {
    let (_dir, mut store) = store_with(20);
    let account = store.accounts().unwrap()[0].id;
    let odd = [
        (101, "01 Jan 1965 00:00:00 +0000"),
        (102, "01 Jan 2300 00:00:00 +0000"),
        (103, "31 Dec 1969 23:59:59 +0000"),
    ];
    let batch: Vec<IncomingMessage> = odd
        .iter()
        .map(|&(n, date)| incoming(n, mail(n, date, "common odd")))
        .collect();
    store.ingest(account, &batch).unwrap();
    let all = store.search("common", 100).unwrap();
    assert_eq!(ids(&all), expected(&store, 100, |_| true));
    assert_eq!(note(&all[0]), 102, "2300 is the newest");
    let notes: Vec<u32> = store.search("odd", 10).unwrap().iter().map(note).collect();
    assert_eq!(notes, [102, 103, 101]);
}

#[test]
fn an_owner_sees_only_their_matches() {
    let (_dir, store) = store_with(30);
    assert!(store
        .search_for("common", 50, Some("nobody-here"))
        .unwrap()
        .is_empty());
    store.set_account_owner("i", Some("carol")).unwrap();
    let carol = store.search_for("rare", 50, Some("carol")).unwrap();
    assert_eq!(ids(&carol), expected(&store, 50, |n| n.is_multiple_of(10)));
}

#[test]
fn a_purged_message_leaves_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in(dir.path()).unwrap();
    let account = add_account(&store);
    store
        .ingest(
            account,
            &[
                incoming(1, mail(1, &march(1), "keep")),
                incoming(2, mail(2, &march(2), "gone")),
            ],
        )
        .unwrap();
    assert_eq!(store.search("gone", 5).unwrap().len(), 1);
    // The server no longer has message 2: mirror sync forgets it.
    let gone: Vec<i64> = store
        .sources(account, "INBOX")
        .unwrap()
        .iter()
        .filter(|s| s.uid == Some(2))
        .map(|s| s.id)
        .collect();
    assert_eq!(
        store.sources_vanished(SyncPolicy::Mirror, &gone).unwrap(),
        1
    );
    assert!(store.search("gone", 5).unwrap().is_empty());
    assert_eq!(store.search("keep", 5).unwrap().len(), 1);
    // Filed and taken out by the same key: the index holds no row for the purged message.
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM message_search WHERE message_search MATCH 'gone OR keep'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 1);
}

const QUESTIONS: [&str; 10] = [
    "common", "rare", "co", "café", "cafe", "menu", "fancy", "eve", "cy", "markup",
];

fn answers(store: &Store) -> Vec<Vec<i64>> {
    QUESTIONS
        .iter()
        .map(|q| ids(&store.search(q, 5000).unwrap()))
        .collect()
}

/// Takes the index rows of messages below `below` out and leaves the rebuild's mark there, as
/// the migration leaves a store (below everything) or a rebuild killed midway (the newer
/// batches done).
fn unfile_below(path: &std::path::Path, below: i64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute(
        "DELETE FROM message_search WHERE rowid IN (SELECT rowid FROM message_search \
         WHERE message_search MATCH 'common OR markup' AND (rowid & 1073741823) < ?1)",
        [below],
    )
    .unwrap();
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('search_reindex_below', ?1)",
        [below.to_string()],
    )
    .unwrap();
}

#[test]
fn a_rebuilt_index_finds_the_same_messages_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in(dir.path()).unwrap();
    let path = store.path().to_path_buf();
    let account = add_account(&store);
    let mut batch: Vec<IncomingMessage> = (1..=2500)
        .map(|n| incoming(n, mail(n, &march(n), words_of(n))))
        .collect();
    // An HTML-only message is indexed by its text, not its markup, either way.
    let html = b"Message-ID: <h@x>\r\nFrom: Eve <eve@example.org>\r\nTo: Al <al@example.org>\r\n\
        Cc: cy@example.org\r\nSubject: Markup\r\nDate: 02 Mar 2026 10:00:00 +0000\r\n\
        Content-Type: text/html\r\n\r\n<p class=\"fancy\">caf&eacute; menu</p>\r\n"
        .to_vec();
    batch.push(incoming(5000, html));
    store.ingest(account, &batch).unwrap();
    let before = answers(&store);
    assert_eq!(before[0].len(), 2500);
    assert_eq!(before[3], before[4], "diacritics are folded");
    assert_eq!(before[3].len(), 1);
    assert!(before[6].is_empty(), "markup is not indexed");
    for (i, q) in QUESTIONS.iter().enumerate().skip(7) {
        assert_eq!(
            before[i].len(),
            1,
            "{q}: sender, recipients and subject are indexed"
        );
    }
    drop(store);

    // Everything to file again (after the migration), then the older half (a rebuild killed
    // after its first batches): each open finishes the job, filing every message once.
    for below in [1_000_000, 1700] {
        unfile_below(&path, below);
        let store = Store::open(&path).unwrap();
        assert_eq!(answers(&store), before, "rebuilt below {below}");
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mark: i64 = conn
            .query_row(
                "SELECT count(*) FROM meta WHERE key = 'search_reindex_below'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(mark, 0, "the rebuild finished");
    }
}

#[test]
fn the_migration_files_messages_stored_before_it() {
    // A store from before the search index: messages written with that schema, no index rows.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    let before_index = (0..switchboard_store::SCHEMA_VERSION)
        .rev()
        .find(|&v| {
            let p = dir.path().join(format!("probe{v}.sqlite3"));
            switchboard_store::testing::create_at_version(&p, v).unwrap();
            let conn = rusqlite::Connection::open(&p).unwrap();
            let has: i64 = conn
                .query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'message_search'",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            has == 0
        })
        .expect("a version before the search index");
    switchboard_store::testing::create_at_version(&path, before_index).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for n in 1..=3i64 {
            conn.execute(
                "INSERT INTO message (message_key, has_message_id, subject, from_addr, to_json, \
                 cc_json, reply_to_json, date, stored_at, sort_date, size, references_json, \
                 text_body, has_attachments, attachments_json, parse_problems_json) \
                 VALUES (?1, 1, ?2, 'bob@example.org', '[]', '[]', '[]', ?3, ?3, ?3, 10, '[]', \
                 'older words', 0, '[]', '[]')",
                rusqlite::params![format!("m{n}@x"), format!("Note {n}"), 1_700_000_000 + n],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    let found: Vec<u32> = store
        .search("older", 10)
        .unwrap()
        .iter()
        .map(note)
        .collect();
    assert_eq!(found, [3, 2, 1]);
    assert_eq!(store.search("bob", 10).unwrap().len(), 3);
}

#[test]
fn typing_on_finds_words_stored_since_the_last_question() {
    let (_dir, mut store) = store_with(20);
    let account = store.accounts().unwrap()[0].id;
    assert_eq!(store.search("comm", 100).unwrap().len(), 20);
    assert_eq!(store.search("commo", 100).unwrap().len(), 20);
    assert!(store.search("commot", 100).unwrap().is_empty());
    // A new message brings a new word starting with the same letters.
    store
        .ingest(account, &[incoming(21, mail(21, &march(21), "commotion"))])
        .unwrap();
    assert_eq!(store.search("comm", 100).unwrap().len(), 21);
    let commot = store.search("commot", 100).unwrap();
    assert_eq!(commot.iter().map(note).collect::<Vec<_>>(), [21]);
    assert_eq!(store.search("Commotion", 100).unwrap().len(), 1);
    assert!(store.search("commotions", 100).unwrap().is_empty());
}

#[test]
fn a_prefix_of_many_words_is_asked_as_a_prefix() {
    let (_dir, mut store) = store_with(5);
    let account = store.accounts().unwrap()[0].id;
    // More words starting with "word" than are worth asking for one by one.
    let many: Vec<String> = (0..200).map(|i| format!("word{i:03}")).collect();
    store
        .ingest(
            account,
            &[
                incoming(6, mail(6, &march(6), &many.join(" "))),
                incoming(7, mail(7, &march(7), "wordy")),
            ],
        )
        .unwrap();
    let notes = |q: &str| -> Vec<u32> { store.search(q, 100).unwrap().iter().map(note).collect() };
    let mut both = notes("word");
    both.sort();
    assert_eq!(both, [6, 7]);
    assert_eq!(notes("word1"), [6]);
    assert_eq!(notes("word199"), [6]);
    assert_eq!(notes("wordy"), [7]);
    assert!(notes("word2000").is_empty());
}
