//! The tracker's store side: routing once, the first-download rule, the delivery state
//! machine with its timeline, recovery listings, holds and digests, outgoing servers.

use switchboard_store::{
    AccountKind, AttemptNext, AttemptRecord, DeliveryState, IncomingMessage, MailboxState,
    NewAccount, NewDelivery, NewOutgoing, RouteRecord, SmtpServer, SourceKey, Store, SyncPolicy,
    TlsMode,
};

fn mail(id: &str, subject: &str) -> Vec<u8> {
    format!(
        "Message-ID: {id}\r\nFrom: Bob <bob@example.org>\r\nTo: alice@example.org\r\n\
         Subject: {subject}\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nbody\r\n"
    )
    .into_bytes()
}

fn incoming(id: &str, uid: u32) -> IncomingMessage {
    let raw = mail(id, &format!("subject {uid}"));
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

fn setup() -> (tempfile::TempDir, Store, i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in(dir.path()).unwrap();
    let account = store
        .add_account(&NewAccount {
            name: "work".into(),
            kind: AccountKind::Imap,
            host: "127.0.0.1".into(),
            port: 993,
            tls: TlsMode::Implicit,
            username: "alice".into(),
            trust_cert: None,
            mailboxes: vec![],
            policy: SyncPolicy::Mirror,
        })
        .unwrap()
        .id;
    (dir, store, account)
}

fn complete_pass(store: &Store, account: i64) {
    store
        .save_mailbox_state(
            account,
            "INBOX",
            &MailboxState {
                uidvalidity: Some(1),
                complete: true,
                ..Default::default()
            },
        )
        .unwrap();
}

fn new_delivery(message_id: i64, channel: &str, target: &str) -> NewDelivery {
    NewDelivery {
        message_id: Some(message_id),
        outgoing_id: None,
        parent_id: None,
        channel: channel.into(),
        target: target.into(),
        spec: "{}".into(),
        summary: "subject".into(),
        held: false,
        due_at: 0,
        note: None,
    }
}

fn routed(reason: &str) -> RouteRecord {
    RouteRecord {
        routed: true,
        reason: reason.into(),
        mark_read: false,
        labels: vec![],
    }
}

#[test]
fn first_download_is_skipped_and_later_mail_is_pending_once() {
    let (_dir, mut store, account) = setup();
    let first = store.ingest(account, &[incoming("<old@x>", 1)]).unwrap()[0].message_id();
    assert_eq!(
        store.route_state(first).unwrap().unwrap().0,
        "skipped",
        "mail of the first download is not news"
    );
    complete_pass(&store, account);
    let new = store.ingest(account, &[incoming("<new@x>", 2)]).unwrap()[0].message_id();
    assert_eq!(store.pending_routes(10).unwrap(), vec![new]);

    let ids = store
        .route_message(new, &routed("rule 1"), &[new_delivery(new, "desktop", "")])
        .unwrap()
        .expect("first routing");
    assert_eq!(ids.len(), 1);
    // A second router (or a re-run after a crash) finds nothing to do.
    assert_eq!(
        store
            .route_message(new, &routed("again"), &[new_delivery(new, "desktop", "")])
            .unwrap(),
        None
    );
    assert!(store.pending_routes(10).unwrap().is_empty());
    assert_eq!(store.message_deliveries(new).unwrap().len(), 1);
    let (state, reason) = store.route_state(new).unwrap().unwrap();
    assert_eq!(
        (state.as_str(), reason.as_deref()),
        ("routed", Some("rule 1"))
    );
}

#[test]
fn routing_can_mark_the_message_read_and_push_the_flag() {
    let (_dir, mut store, account) = setup();
    complete_pass(&store, account);
    let id = store.ingest(account, &[incoming("<r@x>", 5)]).unwrap()[0].message_id();
    store
        .route_message(
            id,
            &RouteRecord {
                routed: true,
                reason: "mark read".into(),
                mark_read: true,
                labels: vec!["lists".into()],
            },
            &[],
        )
        .unwrap()
        .unwrap();
    assert!(store.message(id).unwrap().summary.flags.contains(&"seen"));
    let pushes = store.pending_flag_pushes(account, "INBOX", 1).unwrap();
    assert_eq!(pushes.len(), 1, "the read flag goes to the server");
    assert_eq!(store.labels(id).unwrap(), vec!["lists"]);
}

#[test]
fn attempts_retry_reroute_and_die_with_a_timeline() {
    let (_dir, mut store, account) = setup();
    complete_pass(&store, account);
    let m = store.ingest(account, &[incoming("<t@x>", 3)]).unwrap()[0].message_id();
    let id = store
        .route_message(m, &routed("r"), &[new_delivery(m, "mail", "a@example.org")])
        .unwrap()
        .unwrap()[0];

    let d = store
        .claim_delivery(id, "runner-a", 10, false)
        .unwrap()
        .unwrap();
    assert_eq!((d.state, d.attempts), (DeliveryState::Sending, 1));
    // Nobody else can take an attempt under way.
    assert!(store
        .claim_delivery(id, "runner-b", 10, true)
        .unwrap()
        .is_none());
    let ok = store
        .finish_attempt(
            id,
            "runner-a",
            &AttemptRecord {
                event: "failed",
                code: Some(451),
                answer: "4.3.0 try later".into(),
                next: AttemptNext::RetryAt {
                    at: 5_000,
                    note: "attempt 2 of 3".into(),
                },
            },
        )
        .unwrap();
    assert!(ok);
    let d = store.delivery(id).unwrap().unwrap();
    assert_eq!(
        (d.state, d.next_attempt_at),
        (DeliveryState::Failed, Some(5_000))
    );
    assert!(
        store
            .claim_delivery(id, "runner-a", 4_999, false)
            .unwrap()
            .is_none(),
        "not due"
    );
    assert_eq!(store.next_due_at().unwrap(), Some(5_000));
    assert_eq!(store.due_deliveries(5_000, 10).unwrap().len(), 1);

    store
        .claim_delivery(id, "runner-a", 5_000, false)
        .unwrap()
        .unwrap();
    let alt = new_delivery(m, "desktop", "");
    store
        .finish_attempt(
            id,
            "runner-a",
            &AttemptRecord {
                event: "failed",
                code: Some(550),
                answer: "5.1.1 no such user".into(),
                next: AttemptNext::Reroute {
                    reason: "the server refused it permanently".into(),
                    to: alt,
                },
            },
        )
        .unwrap();
    let family = store.delivery_family(id).unwrap();
    assert_eq!(family.len(), 2);
    let first = &family[0];
    assert_eq!(first.delivery.state, DeliveryState::Rerouted);
    let steps: Vec<&str> = first.events.iter().map(|e| e.state.as_str()).collect();
    assert_eq!(
        steps,
        ["queued", "sending", "failed", "retried", "sending", "failed", "rerouted"]
    );
    assert_eq!(first.events[2].code, Some(451));
    assert_eq!(
        first.events[5].answer.as_deref(),
        Some("5.1.1 no such user")
    );
    let second = &family[1];
    assert_eq!(second.delivery.parent_id, Some(id));
    assert_eq!(second.delivery.state, DeliveryState::Queued);

    let alt_id = second.delivery.id;
    store
        .claim_delivery(alt_id, "runner-a", 6_000, false)
        .unwrap()
        .unwrap();
    store
        .finish_attempt(
            alt_id,
            "runner-a",
            &AttemptRecord {
                event: "failed",
                code: None,
                answer: "no notification daemon".into(),
                next: AttemptNext::Dead {
                    reason: "no channel left".into(),
                },
            },
        )
        .unwrap();
    let dead = store
        .deliveries_in_state(DeliveryState::Dead, 10, None)
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].delivery.id, alt_id);
    assert_eq!(
        dead[0].events.last().unwrap().answer.as_deref(),
        Some("no channel left")
    );

    // Retry: a fresh round, due now.
    let again = store.request_retry(alt_id).unwrap();
    assert_eq!((again.state, again.trials_used), (DeliveryState::Queued, 0));
    assert!(
        store.request_retry(id).is_err(),
        "a rerouted delivery is not retried"
    );
    let d = store
        .claim_delivery(alt_id, "runner-a", i64::MAX, false)
        .unwrap()
        .unwrap();
    assert_eq!((d.attempts, d.trials_used), (2, 1));
    store
        .finish_attempt(
            alt_id,
            "runner-a",
            &AttemptRecord {
                event: "delivered",
                code: None,
                answer: "shown".into(),
                next: AttemptNext::Delivered { follow_ups: vec![] },
            },
        )
        .unwrap();
    assert_eq!(
        store.delivery(alt_id).unwrap().unwrap().state,
        DeliveryState::Delivered
    );
    assert!(store.request_retry(alt_id).is_err(), "delivered is final");
}

#[test]
fn an_interrupted_attempt_is_found_and_a_late_answer_does_not_overwrite_it() {
    let (_dir, mut store, account) = setup();
    complete_pass(&store, account);
    let m = store.ingest(account, &[incoming("<k@x>", 4)]).unwrap()[0].message_id();
    let id = store
        .route_message(m, &routed("r"), &[new_delivery(m, "mail", "a@example.org")])
        .unwrap()
        .unwrap()[0];
    store
        .claim_delivery(id, "dead-runner", 1, false)
        .unwrap()
        .unwrap();
    let sending = store.sending_deliveries().unwrap();
    assert_eq!(sending.len(), 1);
    assert_eq!(sending[0].runner.as_deref(), Some("dead-runner"));
    // The recovering runner records the interruption on behalf of the dead one.
    store
        .finish_attempt(
            id,
            "dead-runner",
            &AttemptRecord {
                event: "interrupted",
                code: None,
                answer: "the process stopped during the attempt".into(),
                next: AttemptNext::RetryAt {
                    at: 2,
                    note: "attempt 2".into(),
                },
            },
        )
        .unwrap();
    // A straggler's answer is kept in the timeline but changes nothing.
    let applied = store
        .finish_attempt(
            id,
            "dead-runner",
            &AttemptRecord {
                event: "delivered",
                code: Some(250),
                answer: "ok".into(),
                next: AttemptNext::Delivered { follow_ups: vec![] },
            },
        )
        .unwrap();
    assert!(!applied);
    let d = store.delivery(id).unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Failed);
    let view = store.message_deliveries(m).unwrap();
    assert!(view[0]
        .events
        .last()
        .unwrap()
        .answer
        .as_deref()
        .unwrap()
        .starts_with("late answer"));
}

#[test]
fn held_deliveries_go_out_in_one_digest() {
    let (_dir, mut store, account) = setup();
    complete_pass(&store, account);
    let mut held = Vec::new();
    for uid in 10..13 {
        let m = store
            .ingest(account, &[incoming(&format!("<h{uid}@x>"), uid)])
            .unwrap()[0]
            .message_id();
        let mut d = new_delivery(m, "hold", "");
        d.held = true;
        held.extend(
            store
                .route_message(m, &routed("dnd"), &[d])
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(store.held_deliveries().unwrap().len(), 3);
    assert_eq!(store.next_due_at().unwrap(), None, "held is not due");
    let digest = NewDelivery {
        message_id: None,
        ..new_delivery(0, "digest", "")
    };
    let (digests, n) = store
        .release_held(&held, std::slice::from_ref(&digest), "profile changed")
        .unwrap();
    assert_eq!(n, 3);
    let digest_id = digests[0];
    assert!(store.held_deliveries().unwrap().is_empty());
    for id in &held {
        let d = store.delivery(*id).unwrap().unwrap();
        assert_eq!(
            (d.state, d.release_id),
            (DeliveryState::Released, Some(digest_id))
        );
    }
    // Releasing again changes nothing.
    let (_, again) = store.release_held(&held, &[digest], "again").unwrap();
    assert_eq!(again, 0);
    let view = store.delivery_family(held[0]).unwrap();
    assert!(view[0]
        .events
        .last()
        .unwrap()
        .answer
        .as_deref()
        .unwrap()
        .contains("profile changed"));
}

#[test]
fn settings_are_kept_and_cleared() {
    let (_dir, store, _) = setup();
    assert_eq!(store.delivery_setting("forward_mode").unwrap(), None);
    store
        .set_delivery_setting("forward_mode", Some("inline"))
        .unwrap();
    store
        .set_delivery_setting("forward_mode", Some("attachment"))
        .unwrap();
    assert_eq!(
        store.delivery_setting("forward_mode").unwrap().as_deref(),
        Some("attachment")
    );
    store.set_delivery_setting("forward_mode", None).unwrap();
    assert_eq!(store.delivery_setting("forward_mode").unwrap(), None);
}

#[test]
fn outgoing_mail_and_servers() {
    let (_dir, mut store, account) = setup();
    let server = SmtpServer {
        host: "smtp.example.org".into(),
        port: 587,
        tls: TlsMode::Starttls,
        username: Some("alice".into()),
        trust_cert: None,
        from_addr: "alice@example.org".into(),
        from_name: Some("Alice".into()),
        sent_mailbox: None,
    };
    store.set_smtp_server("work", &server).unwrap();
    assert_eq!(store.smtp_server(account).unwrap(), Some(server.clone()));
    let bad = SmtpServer {
        from_addr: "not an address".into(),
        ..server.clone()
    };
    assert!(store
        .set_smtp_server("work", &bad)
        .unwrap_err()
        .to_string()
        .contains("from"));
    assert!(store.set_smtp_server("nope", &server).is_err());

    let (outgoing, delivery) = store
        .add_outgoing(
            &NewOutgoing {
                account_id: Some(account),
                message_key: "m1@example.org".into(),
                subject: "Hello".into(),
                envelope_from: "alice@example.org".into(),
                recipients: vec!["bob@example.org".into()],
                raw: b"Subject: Hello\r\n\r\nhi\r\n".to_vec(),
            },
            &NewDelivery {
                message_id: None,
                ..new_delivery(0, "submit", "bob@example.org")
            },
        )
        .unwrap();
    let o = store.outgoing(outgoing).unwrap().unwrap();
    assert_eq!(o.recipients, vec!["bob@example.org".to_string()]);
    let d = store.delivery(delivery).unwrap().unwrap();
    assert_eq!(d.outgoing_id, Some(outgoing));
    assert_eq!(store.delivery_family(delivery).unwrap().len(), 1);
    assert!(store.remove_smtp_server("work").unwrap());
    assert_eq!(store.smtp_server(account).unwrap(), None);
}

#[test]
fn a_deleted_message_keeps_its_tracker_history() {
    let (_dir, mut store, account) = setup();
    complete_pass(&store, account);
    let m = store.ingest(account, &[incoming("<gone@x>", 20)]).unwrap()[0].message_id();
    let id = store
        .route_message(m, &routed("r"), &[new_delivery(m, "desktop", "")])
        .unwrap()
        .unwrap()[0];
    store.delete_message(m).unwrap();
    let sources = store.sources(account, "INBOX").unwrap();
    let ids: Vec<i64> = sources.iter().map(|s| s.id).collect();
    store.remote_deleted(SyncPolicy::Mirror, &ids).unwrap();
    let d = store.delivery(id).unwrap().unwrap();
    assert_eq!(
        d.message_id, None,
        "the message is gone, the delivery stays"
    );
}

#[test]
fn household_members_see_only_deliveries_of_their_mail() {
    let (_dir, mut store, account) = setup();
    complete_pass(&store, account);
    store.set_account_owner("work", Some("alex")).unwrap();
    let m = store.ingest(account, &[incoming("<own@x>", 30)]).unwrap()[0].message_id();
    let id = store
        .route_message(m, &routed("r"), &[new_delivery(m, "desktop", "")])
        .unwrap()
        .unwrap()[0];
    assert!(store.delivery_owned_by(id, "alex").unwrap());
    assert!(!store.delivery_owned_by(id, "sam").unwrap());
    let queued = |owner| {
        store
            .deliveries_in_state(DeliveryState::Queued, 10, owner)
            .unwrap()
            .len()
    };
    assert_eq!(queued(None), 1, "the store's owner sees everything");
    assert_eq!(queued(Some("alex")), 1);
    assert_eq!(queued(Some("sam")), 0);
}
