//! Reading and writing the stanzas Switchboard deals with. Pure: no I/O, so every rule here is
//! tested on literal XML.
//!
//! Incoming `<message/>`s are classified by what they carry: a chat message with text (live,
//! from offline storage), a carbon copy of what the person's other clients sent or received
//! (XEP-0280), an archive result (XEP-0313), a delivery receipt (XEP-0184), a bounce. Copies
//! that claim to come from the person's own account are checked to really come from it (a
//! stranger could otherwise forge "you said ..." carbons).

use std::str::FromStr;

use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;

use crate::jid::bare_of;

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_CARBONS: &str = "urn:xmpp:carbons:2";
pub const NS_FORWARD: &str = "urn:xmpp:forward:0";
pub const NS_MAM: &str = "urn:xmpp:mam:2";
pub const NS_SID: &str = "urn:xmpp:sid:0";
pub const NS_RECEIPTS: &str = "urn:xmpp:receipts";
pub const NS_DELAY: &str = "urn:xmpp:delay";
pub const NS_REPLY: &str = "urn:xmpp:reply:0";
pub const NS_STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
pub const NS_ROSTER: &str = "jabber:iq:roster";
pub const NS_PING: &str = "urn:xmpp:ping";
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
pub const NS_RSM: &str = "http://jabber.org/protocol/rsm";
pub const NS_CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
pub const NS_HINTS: &str = "urn:xmpp:hints";

/// A one-to-one message with text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    /// As on the wire (usually a full JID); empty when absent.
    pub from: String,
    pub to: String,
    /// The `id` attribute.
    pub id: Option<String>,
    /// XEP-0359 origin-id, the sender's own stable id.
    pub origin_id: Option<String>,
    /// XEP-0359 stanza-id given by the person's own server (its archive id).
    pub stanza_id: Option<String>,
    pub body: String,
    pub thread: Option<String>,
    /// When it was sent, from a delay stamp (offline storage, archive), unix milliseconds.
    pub sent_at_ms: Option<i64>,
    /// The sender asks for a delivery receipt.
    pub wants_receipt: bool,
    /// XEP-0461: the id of the message this one answers.
    pub reply_to_id: Option<String>,
    /// The stanza as XML.
    pub raw: String,
}

/// What an incoming `<message/>` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Chat(Chat),
    /// A copy of a message another client of the person sent (`sent`) or received.
    Carbon {
        sent: bool,
        chat: Chat,
    },
    /// One result of an archive query. `chat` is `None` for archived stanzas without text
    /// (receipts, chat states), which still move the catch-up position.
    Archived {
        query_id: Option<String>,
        archive_id: String,
        chat: Option<Chat>,
    },
    /// The contact's client confirms it received our message `id`.
    Receipt {
        from: String,
        id: String,
    },
    /// A message we sent came back with an error.
    Bounce {
        from: String,
        id: Option<String>,
        condition: String,
        text: Option<String>,
    },
    /// Nothing to store (chat states, group chat...); the reason is for the debug log.
    Ignored(&'static str),
    /// Refused as suspicious or malformed; the sentence is for the log.
    Refused(String),
}

fn child<'a>(el: &'a Element, name: &str, ns: &str) -> Option<&'a Element> {
    el.get_child(name, ns)
}

fn text_of(el: &Element, name: &str) -> Option<String> {
    child(el, name, NS_CLIENT).map(Element::text)
}

/// The body in the default language, else the first one.
fn body_of(el: &Element) -> Option<String> {
    let mut first = None;
    for c in el.children() {
        if c.is("body", NS_CLIENT) {
            let lang = c.attr("xml:lang").unwrap_or("");
            if lang.is_empty() {
                return Some(c.text());
            }
            if first.is_none() {
                first = Some(c.text());
            }
        }
    }
    first
}

/// Unix milliseconds of an XEP-0082 timestamp.
pub fn parse_stamp(s: &str) -> Option<i64> {
    xmpp_parsers::date::DateTime::from_str(s)
        .ok()
        .map(|d| d.0.timestamp_millis())
}

fn delay_of(el: &Element) -> Option<i64> {
    child(el, "delay", NS_DELAY)
        .and_then(|d| d.attr("stamp"))
        .and_then(parse_stamp)
}

/// Serialises an element; the XML is kept as the stored IM's raw form.
pub fn to_xml(el: &Element) -> String {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail for I/O reasons; a serialisation error leaves it empty.
    let _ = el.write_to(&mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn is_own(addr: Option<&str>, own: &BareJid) -> bool {
    match addr {
        None => true,
        Some(a) => bare_of(a).is_some_and(|b| &b == own),
    }
}

/// Reads a chat message with text; `None` when it has no body or only blanks.
fn chat_of(el: &Element, own: &BareJid, outer_delay: Option<i64>) -> Option<Chat> {
    let body = body_of(el).filter(|b| !b.trim().is_empty())?;
    let stanza_id = el
        .children()
        .filter(|c| c.is("stanza-id", NS_SID))
        .find(|c| c.attr("by").and_then(bare_of).is_some_and(|b| &b == own))
        .and_then(|c| c.attr("id"))
        .map(String::from);
    Some(Chat {
        from: el.attr("from").unwrap_or("").to_string(),
        to: el.attr("to").unwrap_or("").to_string(),
        id: el.attr("id").filter(|s| !s.is_empty()).map(String::from),
        origin_id: child(el, "origin-id", NS_SID)
            .and_then(|c| c.attr("id"))
            .filter(|s| !s.is_empty())
            .map(String::from),
        stanza_id,
        body,
        thread: text_of(el, "thread").filter(|t| !t.is_empty()),
        sent_at_ms: outer_delay.or_else(|| delay_of(el)),
        wants_receipt: el.has_child("request", NS_RECEIPTS),
        reply_to_id: child(el, "reply", NS_REPLY)
            .and_then(|r| r.attr("id"))
            .map(String::from),
        raw: to_xml(el),
    })
}

/// The forwarded message inside a carbon or an archive result, with the wrapper's delay.
fn forwarded(wrapper: &Element) -> Option<(&Element, Option<i64>)> {
    let fwd = child(wrapper, "forwarded", NS_FORWARD)?;
    let msg = child(fwd, "message", NS_CLIENT)?;
    Some((msg, delay_of(fwd)))
}

/// Classifies an incoming `<message/>` for the account `own`.
pub fn classify(el: &Element, own: &BareJid) -> Incoming {
    if !el.is("message", NS_CLIENT) {
        return Incoming::Ignored("not a message");
    }
    let from = el.attr("from").unwrap_or("");
    let kind = el.attr("type").unwrap_or("normal");
    if kind == "error" {
        let error = child(el, "error", NS_CLIENT);
        let condition = error
            .and_then(|e| {
                e.children()
                    .find(|c| c.has_ns(NS_STANZAS) && c.name() != "text")
                    .map(|c| c.name().to_string())
            })
            .unwrap_or_else(|| "undefined-condition".into());
        let text = error
            .and_then(|e| child(e, "text", NS_STANZAS))
            .map(Element::text);
        return Incoming::Bounce {
            from: from.to_string(),
            id: el.attr("id").map(String::from),
            condition,
            text,
        };
    }
    for (name, sent) in [("sent", true), ("received", false)] {
        if let Some(wrapper) = child(el, name, NS_CARBONS) {
            if !is_own(el.attr("from"), own) {
                return Incoming::Refused(format!(
                    "a carbon copy from {from}, not from this account's own address {own}: \
                     ignored as a possible forgery"
                ));
            }
            let Some((inner, delay)) = forwarded(wrapper) else {
                return Incoming::Refused(format!(
                    "a carbon copy from {from} without a forwarded message: ignored"
                ));
            };
            if inner.attr("type") == Some("groupchat") {
                return Incoming::Ignored("a carbon of a group chat message");
            }
            return match chat_of(inner, own, delay) {
                Some(chat) => Incoming::Carbon { sent, chat },
                None => Incoming::Ignored("a carbon without text"),
            };
        }
    }
    if let Some(result) = child(el, "result", NS_MAM) {
        if !is_own(el.attr("from"), own) {
            return Incoming::Refused(format!(
                "an archive result from {from}, not from this account's own archive: ignored"
            ));
        }
        let Some(archive_id) = result.attr("id").filter(|s| !s.is_empty()) else {
            return Incoming::Refused(format!("an archive result from {from} without an id"));
        };
        let Some((inner, delay)) = forwarded(result) else {
            return Incoming::Refused(format!(
                "archive result {archive_id} has no forwarded message"
            ));
        };
        let chat = match inner.attr("type") {
            Some("groupchat") | Some("error") => None,
            _ => chat_of(inner, own, delay).map(|mut c| {
                c.stanza_id.get_or_insert_with(|| archive_id.to_string());
                c
            }),
        };
        return Incoming::Archived {
            query_id: result.attr("queryid").map(String::from),
            archive_id: archive_id.to_string(),
            chat,
        };
    }
    if kind == "groupchat" {
        return Incoming::Ignored("group chat is not handled");
    }
    if let Some(chat) = chat_of(el, own, None) {
        return Incoming::Chat(chat);
    }
    if let Some(received) = child(el, "received", NS_RECEIPTS) {
        if let Some(id) = received.attr("id").filter(|s| !s.is_empty()) {
            return Incoming::Receipt {
                from: from.to_string(),
                id: id.to_string(),
            };
        }
    }
    Incoming::Ignored("no text (a chat state, marker or empty message)")
}

/// A chat message to `to`, with an origin-id equal to its id (so receipts, bounces and the
/// archive copy name it) and a receipt request.
pub fn chat_message(to: &BareJid, body: &str, id: &str, thread: Option<&str>) -> Message {
    let mut m = Message::chat(Some(Jid::from(to.clone())))
        .with_body(Lang::new(), body.to_string())
        .with_payload(xmpp_parsers::stanza_id::OriginId { id: id.to_string() })
        .with_payload(xmpp_parsers::receipts::Request);
    m.id = Some(Id(id.to_string()));
    if let Some(t) = thread {
        m.thread = Some(xmpp_parsers::message::Thread {
            id: t.to_string(),
            parent: None,
        });
    }
    m
}

/// The chat state (XEP-0085) a message carries, if any: active, composing, paused, inactive
/// or gone.
pub fn chat_state_of(el: &Element) -> Option<&'static str> {
    el.children()
        .filter(|c| c.has_ns(NS_CHAT_STATES))
        .find_map(|c| {
            ["active", "composing", "paused", "inactive", "gone"]
                .into_iter()
                .find(|s| *s == c.name())
        })
}

/// A chat state on its own (XEP-0085), marked for no archive (XEP-0334 `no-store`): typing
/// is news only now. None for a name that is no chat state.
pub fn chat_state_message(to: &BareJid, state: &str, id: &str) -> Option<Message> {
    use xmpp_parsers::chatstates::ChatState;
    let state = match state {
        "active" => ChatState::Active,
        "composing" => ChatState::Composing,
        "paused" => ChatState::Paused,
        "inactive" => ChatState::Inactive,
        "gone" => ChatState::Gone,
        _ => return None,
    };
    let mut m = Message::chat(Some(Jid::from(to.clone()))).with_payload(state);
    m.payloads
        .push(Element::builder("no-store", NS_HINTS).build());
    m.id = Some(Id(id.to_string()));
    Some(m)
}

/// The receipt for message `id` from `to`.
pub fn receipt(to: &str, id: &str, receipt_id: &str) -> Option<Message> {
    let to = Jid::new(to).ok()?;
    let mut m = Message::new_with_type(MessageType::Chat, Some(to))
        .with_payload(xmpp_parsers::receipts::Received { id: id.to_string() });
    m.id = Some(Id(receipt_id.to_string()));
    Some(m)
}

/// A roster item as read from a roster result or push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub jid: String,
    pub name: Option<String>,
    pub subscription: String,
}

/// The items of a `<query xmlns='jabber:iq:roster'/>`; items with an unusable JID are skipped.
pub fn roster_items(query: &Element) -> Vec<RosterEntry> {
    if !query.is("query", NS_ROSTER) {
        return Vec::new();
    }
    query
        .children()
        .filter(|c| c.is("item", NS_ROSTER))
        .filter_map(|item| {
            let jid = bare_of(item.attr("jid")?)?;
            Some(RosterEntry {
                jid: jid.to_string(),
                name: item
                    .attr("name")
                    .filter(|n| !n.trim().is_empty())
                    .map(String::from),
                subscription: item.attr("subscription").unwrap_or("none").to_string(),
            })
        })
        .collect()
}

/// What an archive query's final answer (`<fin/>`) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fin {
    pub complete: bool,
    pub last: Option<String>,
}

pub fn fin_of(payload: &Element) -> Option<Fin> {
    if !payload.is("fin", NS_MAM) {
        return None;
    }
    let complete = matches!(payload.attr("complete"), Some("true") | Some("1"));
    let last = child(payload, "set", NS_RSM)
        .and_then(|s| s.get_child("last", NS_RSM))
        .map(Element::text)
        .filter(|s| !s.is_empty());
    Some(Fin { complete, last })
}

/// Which page of the archive to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchivePage {
    /// Everything after this archive id, oldest first.
    After(String),
    /// Everything since this time (unix ms), oldest first: when the server forgot the id.
    Since(i64),
    /// The newest page: the first connection fills in recent history only.
    Latest,
}

/// An archive query (XEP-0313 v2) for one page of `max` results.
pub fn archive_query(query_id: &str, page: &ArchivePage, max: usize) -> Element {
    use xmpp_parsers::data_forms::{DataForm, DataFormType, Field};
    let mut fields = Vec::new();
    if let ArchivePage::Since(ms) = page {
        fields.push(Field::text_single("start", &xep0082(*ms)));
    }
    let form = DataForm::new(DataFormType::Submit, NS_MAM, fields);
    let set = xmpp_parsers::rsm::SetQuery {
        max: Some(max),
        after: match page {
            ArchivePage::After(id) => Some(id.clone()),
            _ => None,
        },
        before: match page {
            ArchivePage::Latest => Some(String::new()),
            _ => None,
        },
        index: None,
    };
    let query = xmpp_parsers::mam::Query {
        queryid: Some(xmpp_parsers::mam::QueryId(query_id.to_string())),
        node: None,
        form: Some(form),
        set: Some(set),
        flip_page: false,
    };
    query.into()
}

/// XEP-0082 date-time in UTC with milliseconds.
pub fn xep0082(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    fn own() -> BareJid {
        BareJid::new("alice@example.org").unwrap()
    }

    #[test]
    fn a_live_chat_message_is_read_with_its_ids() {
        let m = el(
            "<message xmlns='jabber:client' from='bob@example.org/phone' \
             to='alice@example.org' id='m1' type='chat'><body>hello</body>\
             <thread>t-1</thread><request xmlns='urn:xmpp:receipts'/>\
             <origin-id xmlns='urn:xmpp:sid:0' id='o1'/>\
             <stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='bob@example.org'/>\
             <stanza-id xmlns='urn:xmpp:sid:0' id='S1' by='alice@example.org'/>\
             <reply xmlns='urn:xmpp:reply:0' to='alice@example.org/x' id='fwd-9'/></message>",
        );
        let Incoming::Chat(c) = classify(&m, &own()) else {
            panic!()
        };
        assert_eq!(c.from, "bob@example.org/phone");
        assert_eq!(c.id.as_deref(), Some("m1"));
        assert_eq!(c.origin_id.as_deref(), Some("o1"));
        assert_eq!(
            c.stanza_id.as_deref(),
            Some("S1"),
            "only our server's id counts"
        );
        assert_eq!(c.body, "hello");
        assert_eq!(c.thread.as_deref(), Some("t-1"));
        assert!(c.wants_receipt);
        assert_eq!(c.reply_to_id.as_deref(), Some("fwd-9"));
        assert!(c.raw.contains("hello"));
        assert_eq!(c.sent_at_ms, None);
    }

    #[test]
    fn offline_messages_carry_their_sending_time() {
        let m = el(
            "<message xmlns='jabber:client' from='bob@example.org/x' type='chat'>\
             <body>later</body><delay xmlns='urn:xmpp:delay' stamp='2026-03-02T10:00:00.250Z'/>\
             </message>",
        );
        let Incoming::Chat(c) = classify(&m, &own()) else {
            panic!()
        };
        assert_eq!(c.sent_at_ms, Some(1_772_445_600_250));
        assert_eq!(c.id, None);
    }

    #[test]
    fn carbons_are_accepted_only_from_the_own_account() {
        let carbon = |from: &str| {
            el(&format!(
                "<message xmlns='jabber:client' from='{from}' to='alice@example.org/sb' type='chat'>\
                 <sent xmlns='urn:xmpp:carbons:2'><forwarded xmlns='urn:xmpp:forward:0'>\
                 <message xmlns='jabber:client' from='alice@example.org/phone' to='bob@example.org' \
                 id='c1' type='chat'><body>from my phone</body></message></forwarded></sent></message>"
            ))
        };
        match classify(&carbon("alice@example.org"), &own()) {
            Incoming::Carbon { sent, chat } => {
                assert!(sent);
                assert_eq!(chat.body, "from my phone");
                assert_eq!(chat.to, "bob@example.org");
            }
            other => panic!("{other:?}"),
        }
        let Incoming::Refused(why) = classify(&carbon("mallory@evil.example"), &own()) else {
            panic!()
        };
        assert!(why.contains("forgery"), "{why}");
    }

    #[test]
    fn archive_results_give_their_id_and_time() {
        let r = el("<message xmlns='jabber:client' to='alice@example.org/sb'>\
             <result xmlns='urn:xmpp:mam:2' queryid='q1' id='A7'>\
             <forwarded xmlns='urn:xmpp:forward:0'>\
             <delay xmlns='urn:xmpp:delay' stamp='2026-03-02T10:00:00Z'/>\
             <message xmlns='jabber:client' from='bob@example.org/x' to='alice@example.org' \
             type='chat' id='m5'><body>archived</body></message></forwarded></result></message>");
        let Incoming::Archived {
            query_id,
            archive_id,
            chat: Some(chat),
        } = classify(&r, &own())
        else {
            panic!()
        };
        assert_eq!(query_id.as_deref(), Some("q1"));
        assert_eq!(archive_id, "A7");
        assert_eq!(chat.stanza_id.as_deref(), Some("A7"));
        assert_eq!(chat.sent_at_ms, Some(1_772_445_600_000));
        // A receipt in the archive moves the position but stores nothing.
        let r = el(
            "<message xmlns='jabber:client'><result xmlns='urn:xmpp:mam:2' id='A8'>\
             <forwarded xmlns='urn:xmpp:forward:0'><message xmlns='jabber:client' \
             from='bob@example.org/x'><received xmlns='urn:xmpp:receipts' id='m1'/></message>\
             </forwarded></result></message>",
        );
        assert!(matches!(
            classify(&r, &own()),
            Incoming::Archived { chat: None, .. }
        ));
        // Someone else's "archive" is refused.
        let forged = el("<message xmlns='jabber:client' from='mallory@evil.example'>\
             <result xmlns='urn:xmpp:mam:2' id='X'><forwarded xmlns='urn:xmpp:forward:0'>\
             <message xmlns='jabber:client'><body>x</body></message></forwarded></result></message>");
        assert!(matches!(classify(&forged, &own()), Incoming::Refused(_)));
    }

    #[test]
    fn receipts_bounces_and_noise() {
        let r = el(
            "<message xmlns='jabber:client' from='bob@example.org/x' id='r'>\
             <received xmlns='urn:xmpp:receipts' id='m1'/></message>",
        );
        assert_eq!(
            classify(&r, &own()),
            Incoming::Receipt {
                from: "bob@example.org/x".into(),
                id: "m1".into()
            }
        );
        let b = el("<message xmlns='jabber:client' from='nobody@example.org' id='m2' type='error'>\
             <error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>\
             <text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no such user</text></error></message>");
        assert_eq!(
            classify(&b, &own()),
            Incoming::Bounce {
                from: "nobody@example.org".into(),
                id: Some("m2".into()),
                condition: "service-unavailable".into(),
                text: Some("no such user".into())
            }
        );
        let typing = el(
            "<message xmlns='jabber:client' from='bob@example.org/x' type='chat'>\
             <composing xmlns='http://jabber.org/protocol/chatstates'/></message>",
        );
        assert!(matches!(classify(&typing, &own()), Incoming::Ignored(_)));
        assert_eq!(chat_state_of(&typing), Some("composing"));
        assert_eq!(chat_state_of(&b), None);
        let muc = el(
            "<message xmlns='jabber:client' from='room@muc.example.org/bob' \
             type='groupchat'><body>hi all</body></message>",
        );
        assert!(matches!(classify(&muc, &own()), Incoming::Ignored(_)));
        let blank = el(
            "<message xmlns='jabber:client' from='bob@example.org/x' type='chat'>\
             <body>  </body></message>",
        );
        assert!(matches!(classify(&blank, &own()), Incoming::Ignored(_)));
    }

    #[test]
    fn outgoing_messages_carry_origin_id_and_receipt_request() {
        let to = BareJid::new("bob@example.org").unwrap();
        let m = chat_message(&to, "hi <there> & you", "id-1", Some("th"));
        let x = to_xml(&Element::from(m));
        assert!(x.contains("id=\"id-1\"") || x.contains("id='id-1'"), "{x}");
        assert!(x.contains("urn:xmpp:sid:0"), "{x}");
        assert!(x.contains("urn:xmpp:receipts"), "{x}");
        assert!(x.contains("hi &lt;there&gt; &amp; you"), "{x}");
        assert!(x.contains("<thread>th</thread>"), "{x}");
        // Round trip: what we send is what we read.
        let back: Element = x.parse().unwrap();
        let back =
            Element::from(xmpp_parsers::message::Message::try_from(back).expect("a valid message"));
        let me = BareJid::new("alice@example.org").unwrap();
        let Incoming::Chat(c) = classify(&back, &me) else {
            panic!()
        };
        assert_eq!(c.body, "hi <there> & you");
        assert_eq!(c.origin_id.as_deref(), Some("id-1"));
    }

    #[test]
    fn roster_and_fin() {
        let q = el(
            "<query xmlns='jabber:iq:roster'><item jid='Bob@Example.org' name='Bob' \
             subscription='both'/><item jid='not a jid@@'/><item jid='carol@example.org'/></query>",
        );
        let items = roster_items(&q);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].jid, "bob@example.org");
        assert_eq!(items[0].name.as_deref(), Some("Bob"));
        assert_eq!(items[1].subscription, "none");
        let fin = el("<fin xmlns='urn:xmpp:mam:2' complete='true'><set \
             xmlns='http://jabber.org/protocol/rsm'><first>a</first><last>z</last></set></fin>");
        assert_eq!(
            fin_of(&fin),
            Some(Fin {
                complete: true,
                last: Some("z".into())
            })
        );
    }

    #[test]
    fn archive_queries_name_the_page() {
        let q = to_xml(&archive_query("q", &ArchivePage::After("A1".into()), 100));
        assert!(q.contains("<after>A1</after>"), "{q}");
        assert!(q.contains("<max>100</max>"), "{q}");
        let q = to_xml(&archive_query(
            "q",
            &ArchivePage::Since(1_772_445_600_250),
            50,
        ));
        assert!(q.contains("2026-03-02T10:00:00.250Z"), "{q}");
        let q = to_xml(&archive_query("q", &ArchivePage::Latest, 50));
        assert!(q.contains("before"), "{q}");
    }

    #[test]
    fn chat_states_go_out_alone_and_unarchived() {
        let to = BareJid::new("bob@example.org").unwrap();
        let m = chat_state_message(&to, "composing", "cs1").unwrap();
        let el: Element = m.into();
        assert_eq!(chat_state_of(&el), Some("composing"));
        assert!(el.get_child("body", NS_CLIENT).is_none());
        assert!(el.get_child("no-store", NS_HINTS).is_some());
        assert_eq!(el.attr("type"), Some("chat"));
        assert_eq!(el.attr("id"), Some("cs1"));
        assert!(chat_state_message(&to, "typing", "cs2").is_none());
    }

    #[test]
    fn timestamps_round_trip() {
        for ms in [0, 1_772_445_600_250, 951_782_400_000 /* 2000-02-29 */] {
            assert_eq!(parse_stamp(&xep0082(ms)), Some(ms));
        }
    }
}
