//! The store writer of one account's pass: a thread with its own store connection that parses
//! downloaded messages and commits them in batches, so parsing and SQLite work overlap with the
//! network. A bounded channel keeps memory flat however large the mailbox is.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use switchboard_store::{Flags, IncomingMessage, IngestOutcome, SourceKey, Store, StoreError};

use crate::{AccountReport, SyncError};

/// Messages waiting for the writer (backpressure on the network side beyond this).
const QUEUE: usize = 64;
/// A batch is committed at this many messages, this many bytes, or after this pause.
const BATCH_MESSAGES: usize = 200;
const BATCH_BYTES: usize = 16 * 1024 * 1024;
const BATCH_PAUSE: Duration = Duration::from_millis(150);

pub struct Downloaded {
    pub raw: Vec<u8>,
    pub source: SourceKey,
    pub flags: Option<Flags>,
}

pub struct Writer {
    tx: Option<SyncSender<Downloaded>>,
    handle: Option<JoinHandle<Result<AccountReport, StoreError>>>,
}

impl Writer {
    pub fn start(db_path: PathBuf, account_id: i64) -> Writer {
        let (tx, rx) = sync_channel(QUEUE);
        let handle = std::thread::Builder::new()
            .name(format!("store-writer-{account_id}"))
            .spawn(move || run(db_path, account_id, rx))
            .ok();
        Writer {
            tx: Some(tx),
            handle,
        }
    }

    /// Hands a message to the writer; waits (off the async threads) when the queue is full.
    pub async fn send(&self, msg: Downloaded) -> Result<(), SyncError> {
        let tx = self.tx.clone().ok_or_else(writer_gone)?;
        let mut msg = Some(msg);
        loop {
            match tx.try_send(msg.take().ok_or_else(writer_gone)?) {
                Ok(()) => return Ok(()),
                Err(std::sync::mpsc::TrySendError::Full(m)) => {
                    msg = Some(m);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return Err(writer_gone()),
            }
        }
    }

    /// Flushes what is queued and returns what was stored. Everything sent before is committed
    /// when this returns Ok.
    pub async fn finish(mut self) -> Result<AccountReport, SyncError> {
        drop(self.tx.take());
        let handle = self.handle.take().ok_or_else(writer_gone)?;
        let joined = tokio::task::spawn_blocking(move || handle.join())
            .await
            .map_err(|_| writer_gone())?;
        match joined {
            Ok(result) => Ok(result?),
            Err(_) => Err(writer_gone()),
        }
    }
}

fn writer_gone() -> SyncError {
    SyncError::Protocol("the store writer stopped unexpectedly".into())
}

fn run(
    db_path: PathBuf,
    account_id: i64,
    rx: Receiver<Downloaded>,
) -> Result<AccountReport, StoreError> {
    let mut store = Store::open(&db_path)?;
    let mut report = AccountReport::default();
    let mut batch: Vec<IncomingMessage> = Vec::new();
    let mut bytes = 0usize;
    loop {
        let next = if batch.is_empty() {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            rx.recv_timeout(BATCH_PAUSE)
        };
        match next {
            Ok(d) => {
                let parsed = switchboard_model::parse(&d.raw);
                if !parsed.parse_problems.is_empty() {
                    report.parse_problems += 1;
                }
                bytes += d.raw.len();
                batch.push(IncomingMessage {
                    raw: d.raw,
                    parsed,
                    source: d.source,
                    flags: d.flags,
                });
                if batch.len() >= BATCH_MESSAGES || bytes >= BATCH_BYTES {
                    commit(&mut store, account_id, &mut batch, &mut report)?;
                    bytes = 0;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                commit(&mut store, account_id, &mut batch, &mut report)?;
                bytes = 0;
            }
            Err(RecvTimeoutError::Disconnected) => {
                commit(&mut store, account_id, &mut batch, &mut report)?;
                return Ok(report);
            }
        }
    }
}

fn commit(
    store: &mut Store,
    account_id: i64,
    batch: &mut Vec<IncomingMessage>,
    report: &mut AccountReport,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    for outcome in store.ingest(account_id, batch)? {
        match outcome {
            IngestOutcome::Stored(_) => report.stored += 1,
            IngestOutcome::Merged(_) => report.merged += 1,
            IngestOutcome::Known(_) => {}
        }
    }
    batch.clear();
    Ok(())
}
