//! Connections: TCP with a deadline, optional TLS, one stream type for plain and TLS so the
//! protocol code does not care which it has.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::SyncError;

/// How long connecting, or waiting for any single server answer, may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug)]
pub enum MailStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for MailStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MailStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub async fn tcp(host: &str, port: u16) -> Result<TcpStream, SyncError> {
    let addr = format!("{host}:{port}");
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
        Ok(Ok(s)) => {
            let _ = s.set_nodelay(true);
            Ok(s)
        }
        Ok(Err(e)) => Err(SyncError::Unreachable(format!(
            "cannot connect to {addr}: {e}"
        ))),
        Err(_) => Err(SyncError::Unreachable(format!(
            "cannot connect to {addr}: no answer within {}s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

pub async fn tls(tcp: TcpStream, host: &str, pin: Option<&str>) -> Result<MailStream, SyncError> {
    let s = tokio::time::timeout(IO_TIMEOUT, crate::tls::wrap(tcp, host, pin))
        .await
        .map_err(|_| SyncError::Unreachable(format!("TLS handshake with {host} timed out")))??;
    Ok(MailStream::Tls(Box::new(s)))
}

/// Runs one network step with the I/O deadline, naming the step on timeout.
pub async fn deadline<T, F>(what: &str, fut: F) -> Result<T, SyncError>
where
    F: std::future::Future<Output = Result<T, SyncError>>,
{
    match tokio::time::timeout(IO_TIMEOUT, fut).await {
        Ok(r) => r,
        Err(_) => Err(SyncError::Unreachable(format!(
            "the server did not answer {what} within {}s",
            IO_TIMEOUT.as_secs()
        ))),
    }
}
