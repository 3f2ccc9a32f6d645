//! Full-text search finds the newest matches whichever plan it takes: sorting the few matches
//! by date, or walking the inbox by date when the words match most of it.

use switchboard_store::{
    AccountKind, IncomingMessage, NewAccount, SourceKey, Store, SyncPolicy, TlsMode,
};

/// Dates out of step with the order of arrival (ids), so a plan that follows ids shows.
fn date_of(n: u32) -> u32 {
    (n * 37) % 101
}

fn mail(n: u32, words: &str) -> Vec<u8> {
    let day = 1 + date_of(n) / 24;
    let hour = date_of(n) % 24;
    format!(
        "Message-ID: <s{n}@x>\r\nFrom: Bob <bob@example.org>\r\nTo: alice@example.org\r\n\
         Subject: Note {n}\r\nDate: {day:02} Mar 2026 {hour:02}:00:00 +0000\r\n\r\n{words}\r\n"
    )
    .into_bytes()
}

fn store_with(messages: u32) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = Store::open_in(dir.path()).expect("open");
    let account = store
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
        .id;
    let batch: Vec<IncomingMessage> = (1..=messages)
        .map(|n| {
            let words = if n % 10 == 0 { "common rare" } else { "common" };
            let raw = mail(n, words);
            IncomingMessage {
                parsed: switchboard_model::parse(&raw),
                raw,
                source: SourceKey::Imap {
                    mailbox: "INBOX".into(),
                    uidvalidity: 1,
                    uid: n,
                },
                flags: None,
            }
        })
        .collect();
    store.ingest(account, &batch).expect("ingest");
    (dir, store)
}

fn ids(list: &[switchboard_store::MessageSummary]) -> Vec<i64> {
    list.iter().map(|m| m.id).collect()
}

#[test]
fn both_plans_give_the_same_newest_matches() {
    let (_dir, mut store) = store_with(120);
    // One deleted match must stay out of either answer.
    let first = store.search("common", 1).unwrap()[0].id;
    let rare_before = ids(&store.search("rare", 1000).unwrap());
    assert_eq!(rare_before.len(), 12);
    store.delete_message(first).unwrap();
    for (text, limit) in [
        ("common", 10),
        ("common", 200),
        ("rare", 5),
        ("comm rar", 50),
        ("nothing", 5),
    ] {
        let sorted = store.search_planned(text, limit, None, usize::MAX).unwrap();
        let walked = store.search_planned(text, limit, None, 1).unwrap();
        assert_eq!(ids(&sorted), ids(&walked), "{text} limit {limit}");
        assert!(
            !ids(&sorted).contains(&first),
            "{text}: the deleted message is out"
        );
        let dates: Vec<i64> = sorted.iter().map(|m| m.date_unix).collect();
        let mut newest_first = dates.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(dates, newest_first, "{text}: newest first");
    }
    assert_eq!(store.search("common", 1000).unwrap().len(), 119);
    let rare_after = store.search("rare", 1000).unwrap().len();
    assert_eq!(rare_after, 12 - usize::from(rare_before.contains(&first)));
}

#[test]
fn an_owner_sees_only_their_matches_with_either_plan() {
    let (_dir, store) = store_with(30);
    for dense in [1, usize::MAX] {
        let none = store
            .search_planned("common", 50, Some("nobody-here"), dense)
            .unwrap();
        assert!(none.is_empty(), "dense={dense}");
    }
}
