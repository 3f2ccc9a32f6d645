//! The full-text index (`message_search`, FTS5) and the key its rows are filed under.
//!
//! Search shows the newest matches first, and a search box asks after every keystroke, when a
//! word of two letters matches most of the store. FTS5 hands out the matches of a query in the
//! order of its rowids, cheaply and without collecting them all first, when asked for
//! `ORDER BY rowid DESC LIMIT n`. So a message is not filed under its id but under a *search
//! key* that sorts like the inbox does, by (sort_date, id): the newest matches are then the first
//! ones FTS5 yields, whatever their number. The table also keeps prefix indexes of two and three
//! characters, so the first letters of a word are one lookup instead of a merge of every word
//! that starts with them.
//!
//! A longer word is a prefix FTS5 can only answer by merging the full lists of every word
//! that starts with it (tens of thousands of entries for a common word) before yielding the
//! first match. So an ASCII word of four letters or more is first looked up in the table's
//! vocabulary (`message_search_terms`) and asked for as the words it stands for, `budget*` as
//! `(budget OR budgets)`, which FTS5 reads newest first and stops early like any single word.
//! The words found for a prefix are kept ([`TermCache`]) until the index takes a new message,
//! so typing on through the same word asks the vocabulary once.
//!
//! The key packs the date into the high bits and the message id into the low
//! [`KEY_ID_BITS`]; the id comes back out of the key with [`MESSAGE_ID_OF_KEY`]. Dates before
//! 1970 or after 2242 are filed at those ends (their order among themselves is by id).
//!
//! Rows are written from the stored message row alone, so the text of a row written at ingest
//! and of one written by [`finish_reindex`] after the table was rebuilt are the same.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use switchboard_model::{search_text_of, Address};

use crate::{Result, StoreError};

/// Bits of the search key that hold the message id: ids up to about a billion.
pub(crate) const KEY_ID_BITS: u32 = 30;
const KEY_ID_MASK: i64 = (1 << KEY_ID_BITS) - 1;
/// The latest date a key can hold (2242-03-16); later dates are filed under it.
const KEY_DATE_MAX: i64 = (1 << (63 - KEY_ID_BITS)) - 1;

/// SQL for the message id of the search row `f`.
pub(crate) const MESSAGE_ID_OF_KEY: &str = "(f.rowid & 1073741823)";

/// How much of a body is indexed: the rest of a very long message is rarely what anyone
/// searches for, and indexing it costs time and space.
const BODY_LIMIT: usize = 256 * 1024;

/// Messages indexed per transaction while rebuilding.
const REINDEX_BATCH: i64 = 2000;

/// Words from this length on are looked up in the vocabulary; shorter ones have prefix indexes.
const EXPAND_FROM: usize = 4;
/// A prefix standing for more words than this is asked for as a prefix: an OR of hundreds of
/// words costs more than the merge it avoids.
const EXPAND_MAX_TERMS: usize = 48;
/// Prefixes remembered at most; a search box asks for a handful.
const TERM_CACHE_MAX: usize = 256;

/// The `meta` key that holds where a rebuild of the index stands: messages with a lower id
/// still need their row. Absent when the index is complete.
const REINDEX_MARK: &str = "search_reindex_below";

/// One word of a search as the person typed it.
fn split_words(text: &str) -> impl Iterator<Item = &str> {
    // '@', '.', '_' and '-' keep an address or a dotted name together: FTS5 splits it into a
    // phrase of words in order ("bob@example.org" finds that address, not three loose words).
    text.split(|c: char| !c.is_alphanumeric() && c != '@' && c != '.' && c != '_' && c != '-')
        .filter(|w| !w.is_empty())
        .take(32)
}

fn quoted(word: &str) -> String {
    format!("\"{}\"", word.replace('"', "\"\""))
}

/// The FTS5 query for free text: every word must match as a prefix, and no FTS syntax in the
/// text is interpreted. `expand` says which indexed words a plain ASCII word of
/// [`EXPAND_FROM`] letters or more stands for (lowercase in, lowercase out), or `None` to ask
/// for it as a prefix. `Ok(None)`: nothing can match (no words, or a word no message has).
pub(crate) fn build_query(
    text: &str,
    expand: &mut dyn FnMut(&str) -> Result<Option<Vec<String>>>,
) -> Result<Option<String>> {
    let mut parts = Vec::new();
    for word in split_words(text) {
        let plain = word.len() >= EXPAND_FROM && word.bytes().all(|b| b.is_ascii_alphanumeric());
        let terms = if plain {
            expand(&word.to_ascii_lowercase())?
        } else {
            None
        };
        match terms {
            Some(terms) if terms.is_empty() => return Ok(None),
            Some(terms) => {
                let alternatives: Vec<String> = terms.iter().map(|t| quoted(t)).collect();
                parts.push(format!("({})", alternatives.join(" OR ")));
            }
            None => parts.push(format!("{}*", quoted(word))),
        }
    }
    // An explicit AND: FTS5 takes no implicit one after a parenthesis.
    Ok((!parts.is_empty()).then(|| parts.join(" AND ")))
}

/// Indexed words by prefix, valid while the index has not taken a new message.
#[derive(Debug, Default)]
pub(crate) struct TermCache {
    /// The change-log position the entries were read at.
    seen_seq: i64,
    /// Prefix → the indexed words that start with it, or `None` when there are too many.
    by_prefix: HashMap<String, Option<Vec<String>>>,
}

impl TermCache {
    /// Forgets everything if messages were stored since the entries were read: a new message
    /// may bring new words. (Removed messages only leave words that match nothing.)
    pub(crate) fn check(&mut self, conn: &Connection) -> Result<()> {
        let seq: i64 = conn
            .prepare_cached("SELECT coalesce(max(seq), 0) FROM change_log")?
            .query_row([], |r| r.get(0))?;
        if seq != self.seen_seq || self.by_prefix.len() > TERM_CACHE_MAX {
            self.by_prefix.clear();
            self.seen_seq = seq;
        }
        Ok(())
    }

    /// The indexed words starting with `prefix` (lowercase ASCII), from the entry of a shorter
    /// prefix when there is one, else from the vocabulary.
    pub(crate) fn expand(
        &mut self,
        conn: &Connection,
        prefix: &str,
    ) -> Result<Option<Vec<String>>> {
        for len in (EXPAND_FROM..=prefix.len()).rev() {
            if let Some(Some(terms)) = self.by_prefix.get(&prefix[..len]) {
                let narrowed = terms.iter().filter(|t| t.starts_with(prefix)).cloned();
                return Ok(Some(narrowed.collect()));
            }
        }
        let terms = vocabulary(conn, prefix)?;
        self.by_prefix.insert(prefix.to_string(), terms.clone());
        Ok(terms)
    }
}

/// The indexed words that start with `prefix` (ASCII), or `None` when there are more than
/// [`EXPAND_MAX_TERMS`].
fn vocabulary(conn: &Connection, prefix: &str) -> Result<Option<Vec<String>>> {
    let Some(end) = prefix_end(prefix) else {
        return Ok(None);
    };
    let terms: Vec<String> = conn
        .prepare_cached(
            "SELECT term FROM message_search_terms WHERE term >= ?1 AND term < ?2 LIMIT ?3",
        )?
        .query_map(params![prefix, end, EXPAND_MAX_TERMS as i64 + 1], |r| {
            r.get(0)
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok((terms.len() <= EXPAND_MAX_TERMS).then_some(terms))
}

/// The least string after every string that starts with `prefix` (ASCII alphanumeric).
fn prefix_end(prefix: &str) -> Option<String> {
    let (last, head) = prefix.as_bytes().split_last()?;
    let next = last.checked_add(1).filter(u8::is_ascii)?;
    let mut end = head.to_vec();
    end.push(next);
    String::from_utf8(end).ok()
}

/// The search key of a message: ordered as (sort_date, id), newest last.
pub(crate) fn search_key(sort_date: i64, id: i64) -> Result<i64> {
    if !(0..=KEY_ID_MASK).contains(&id) {
        return Err(StoreError::Invalid {
            field: "message id",
            detail: format!("{id} is beyond what the search index can file (2^{KEY_ID_BITS})"),
        });
    }
    Ok((sort_date.clamp(0, KEY_DATE_MAX) << KEY_ID_BITS) | id)
}

/// The message id a search key was made from.
#[cfg(test)]
fn message_id_of_key(key: i64) -> i64 {
    key & KEY_ID_MASK
}

/// The text of one message's row, in the table's column order.
#[derive(Debug, PartialEq, Eq)]
struct SearchDoc {
    subject: String,
    sender: String,
    recipients: String,
    body: String,
}

/// "Name address", or the address alone.
fn address_text(name: Option<&str>, email: &str) -> String {
    match name {
        Some(n) => format!("{n} {email}"),
        None => email.to_string(),
    }
}

fn truncate_at_char(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One message's search text, read from the message row.
fn read_doc(conn: &Connection, id: i64) -> Result<Option<SearchDoc>> {
    let row = conn
        .prepare_cached(
            "SELECT subject, from_name, from_addr, to_json, cc_json, text_body, html_body \
             FROM message WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
            ))
        })
        .optional()?;
    let Some((subject, from_name, from_addr, to, cc, text, html)) = row else {
        return Ok(None);
    };
    // The address lists were written by this store as JSON; a damaged one costs the message
    // its recipients in the index, not its place in it.
    let list = |json: &str| serde_json::from_str::<Vec<Address>>(json).unwrap_or_default();
    let recipients = list(&to)
        .iter()
        .chain(list(&cc).iter())
        .map(|a| address_text(a.name.as_deref(), &a.email))
        .collect::<Vec<_>>()
        .join(" ");
    let sender = from_addr
        .map(|email| address_text(from_name.as_deref(), &email))
        .unwrap_or_default();
    let body = search_text_of(text.as_deref(), html.as_deref());
    let doc = SearchDoc {
        subject,
        sender,
        recipients,
        body: truncate_at_char(&body, BODY_LIMIT).to_string(),
    };
    Ok(Some(doc))
}

/// Files stored messages in the index, in the order of their keys: FTS5 writes what it holds
/// in memory out as a new segment whenever a row comes with a lower rowid than the one before,
/// so rows in date order cost one segment per transaction, and rows out of order one per row
/// (slower to write, and to merge). Runs after all of a batch's message rows are written, for
/// the same reason: the inserts that fire the change-log trigger between them would make FTS5
/// flush at each (its savepoint hook), which cost ~25% of a first sync's CPU.
pub(crate) fn index_messages(conn: &Connection, ids: &[i64]) -> Result<()> {
    let mut keyed = Vec::with_capacity(ids.len());
    {
        let mut date = conn.prepare_cached("SELECT sort_date FROM message WHERE id = ?1")?;
        for &id in ids {
            let sort_date: i64 = date
                .query_row([id], |r| r.get(0))
                .optional()?
                .ok_or(StoreError::NoSuchMessage(id))?;
            keyed.push((search_key(sort_date, id)?, id));
        }
    }
    keyed.sort_unstable();
    let mut insert = conn.prepare_cached(
        "INSERT INTO message_search (rowid, subject, sender, recipients, body) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (key, id) in keyed {
        let doc = read_doc(conn, id)?.ok_or(StoreError::NoSuchMessage(id))?;
        insert.execute(params![
            key,
            doc.subject,
            doc.sender,
            doc.recipients,
            doc.body
        ])?;
    }
    Ok(())
}

/// Takes a message out of the index; call before its row is deleted.
pub(crate) fn unindex_message(tx: &Transaction<'_>, id: i64) -> Result<()> {
    let sort_date: Option<i64> = tx
        .prepare_cached("SELECT sort_date FROM message WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    if let Some(sort_date) = sort_date {
        tx.prepare_cached("DELETE FROM message_search WHERE rowid = ?1")?
            .execute([search_key(sort_date, id)?])?;
    }
    Ok(())
}

/// Writes the rows of messages stored before the index was (re)built, newest first, a batch per
/// transaction. The migration that builds the table records the first id it does not cover;
/// each batch moves that mark down in the same transaction as its rows, so a process killed
/// midway leaves a consistent store and the next open carries on. Runs inside `Store::open`,
/// before the store takes any message, so no message is filed twice.
pub(crate) fn finish_reindex(conn: &mut Connection) -> Result<()> {
    // The usual case, without taking the write lock: nothing to do.
    let pending: i64 = conn.query_row(
        "SELECT count(*) FROM meta WHERE key = ?1",
        [REINDEX_MARK],
        |r| r.get(0),
    )?;
    if pending == 0 {
        return Ok(());
    }
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mark: Option<String> = tx
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [REINDEX_MARK],
                |r| r.get(0),
            )
            .optional()?;
        let Some(mark) = mark else {
            tx.commit()?;
            return Ok(());
        };
        let below: i64 = mark.parse().map_err(|_| StoreError::Invalid {
            field: REINDEX_MARK,
            detail: format!("'{mark}' is not a message id"),
        })?;
        let ids: Vec<i64> = tx
            .prepare("SELECT id FROM message WHERE id < ?1 ORDER BY id DESC LIMIT ?2")?
            .query_map(params![below, REINDEX_BATCH], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        index_messages(&tx, &ids)?;
        match ids.last() {
            Some(lowest) if ids.len() as i64 == REINDEX_BATCH => {
                tx.execute(
                    "UPDATE meta SET value = ?2 WHERE key = ?1",
                    params![REINDEX_MARK, lowest.to_string()],
                )?;
            }
            _ => {
                tx.execute("DELETE FROM meta WHERE key = ?1", [REINDEX_MARK])?;
            }
        }
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_the_inbox() {
        // (sort_date, id) pairs in inbox order, oldest first.
        let order = [
            (0, 7),
            (1_700_000_000, 3),
            (1_700_000_000, 4),
            (1_700_000_001, 1),
            (4_102_444_800, 2), // 2100
            (KEY_DATE_MAX, 9),
        ];
        let keys: Vec<i64> = order
            .iter()
            .map(|&(d, id)| search_key(d, id).unwrap())
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
        for (&(_, id), key) in order.iter().zip(&keys) {
            assert_eq!(message_id_of_key(*key), id);
        }
    }

    #[test]
    fn dates_out_of_range_are_filed_at_the_ends() {
        assert_eq!(search_key(-86_400, 5).unwrap(), search_key(0, 5).unwrap());
        assert_eq!(
            search_key(i64::MAX, 5).unwrap(),
            search_key(KEY_DATE_MAX, 5).unwrap()
        );
        assert!(search_key(i64::MAX, 5).unwrap() > 0);
        assert!(search_key(i64::MIN, 5).unwrap() < search_key(1, 1).unwrap());
    }

    #[test]
    fn ids_beyond_the_key_are_refused_by_name() {
        assert_eq!(
            message_id_of_key(search_key(5, KEY_ID_MASK).unwrap()),
            KEY_ID_MASK
        );
        let err = search_key(5, KEY_ID_MASK + 1).unwrap_err().to_string();
        assert!(err.contains("message id"), "{err}");
        assert!(search_key(5, -1).is_err());
    }

    #[test]
    fn the_sql_mask_is_the_key_mask() {
        assert_eq!(MESSAGE_ID_OF_KEY, format!("(f.rowid & {KEY_ID_MASK})"));
    }

    fn no_expansion(_: &str) -> Result<Option<Vec<String>>> {
        Ok(None)
    }

    #[test]
    fn every_word_is_a_quoted_prefix_without_a_vocabulary() {
        let q = |t: &str| build_query(t, &mut no_expansion).unwrap();
        assert_eq!(
            q("hello world").as_deref(),
            Some("\"hello\"* AND \"world\"*")
        );
        assert_eq!(
            q("a\" OR b").as_deref(),
            Some("\"a\"* AND \"OR\"* AND \"b\"*")
        );
        assert_eq!(q("  ()*: "), None);
        assert_eq!(
            q("bob@example.org").as_deref(),
            Some("\"bob@example.org\"*")
        );
    }

    #[test]
    fn plain_words_of_four_letters_become_the_words_they_stand_for() {
        let mut asked = Vec::new();
        let mut expand = |w: &str| -> Result<Option<Vec<String>>> {
            asked.push(w.to_string());
            Ok(match w {
                "budg" => Some(vec!["budget".into(), "budgets".into()]),
                "zzzz" => Some(vec![]),
                _ => None,
            })
        };
        let q = build_query("re Budg café bob@x.org Much", &mut expand).unwrap();
        assert_eq!(
            q.as_deref(),
            Some(
                "\"re\"* AND (\"budget\" OR \"budgets\") AND \"café\"* AND \"bob@x.org\"* \
                 AND \"Much\"*"
            )
        );
        // A word no message has: nothing can match.
        assert_eq!(build_query("budg zzzz", &mut expand).unwrap(), None);
        // Short, non-ASCII and compound words are not looked up; the rest in lowercase.
        assert_eq!(asked, ["budg", "much", "budg", "zzzz"]);
    }

    #[test]
    fn prefix_ends_bound_exactly_the_words_with_the_prefix() {
        assert_eq!(prefix_end("budg").as_deref(), Some("budh"));
        assert_eq!(prefix_end("ab9").as_deref(), Some("ab:"));
        assert_eq!(prefix_end("az").as_deref(), Some("a{"));
        assert_eq!(prefix_end(""), None);
        let end = prefix_end("budg").unwrap();
        for t in ["budg", "budget", "budgz", "budg\u{10FFFF}"] {
            assert!(t >= "budg" && t < end.as_str(), "{t}");
        }
        for t in ["bude", "budh", "budha"] {
            assert!(!(t >= "budg" && t < end.as_str()), "{t}");
        }
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let s = "é".repeat(10);
        assert_eq!(truncate_at_char(&s, 5), "éé");
        assert_eq!(truncate_at_char("short", 100), "short");
    }

    #[test]
    fn addresses_read_as_name_then_address() {
        assert_eq!(address_text(Some("Bob"), "bob@x"), "Bob bob@x");
        assert_eq!(address_text(None, "bob@x"), "bob@x");
    }
}
