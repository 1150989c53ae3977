//! A listener that serves a bounded number of connections at once: past
//! the cap, new connections wait in the kernel's backlog until one closes.
//! A connection whose client stops reading fails once its writes have
//! made no progress for the write timeout, so it cannot hold its place.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A TCP listener that holds at most `max` connections open.
#[derive(Debug)]
pub struct CappedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    write_timeout: Option<Duration>,
}

impl CappedListener {
    /// Caps `inner` at `max` open connections (at least one), with no
    /// write timeout.
    pub fn new(inner: TcpListener, max: usize) -> Self {
        CappedListener {
            inner,
            permits: Arc::new(Semaphore::new(max.max(1))),
            write_timeout: None,
        }
    }

    /// The same, failing a connection's write (`TimedOut`) once its
    /// writes have made no progress for `limit`: its client stopped
    /// reading. (A zero `limit` fails every write that has to wait.)
    pub fn with_write_timeout(mut self, limit: Duration) -> Self {
        self.write_timeout = Some(limit);
        self
    }
}

/// A connection holding its place under the cap until dropped.
#[derive(Debug)]
pub struct CappedStream {
    io: TcpStream,
    _permit: OwnedSemaphorePermit,
    write_timeout: Option<Duration>,
    /// The write deadline, kept between stalls and reset at each.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether a write is waiting on a full socket now.
    stalled: bool,
}

impl CappedStream {
    /// Passes a write's `poll` on; fails it once writes have waited for
    /// the write timeout without progress.
    fn watch_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        let Some(limit) = self.write_timeout else {
            return poll;
        };
        if poll.is_ready() {
            self.stalled = false;
            return poll;
        }
        let deadline = self
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if !self.stalled {
            self.stalled = true;
            deadline.as_mut().reset(tokio::time::Instant::now() + limit);
        }
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl axum::serve::Listener for CappedListener {
    type Io = CappedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // The semaphore is never closed: the error arm cannot happen, and
        // waiting forever would be the honest answer if it did.
        let permit = match self.permits.clone().acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => std::future::pending().await,
        };
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        (
            CappedStream {
                io,
                _permit: permit,
                write_timeout: self.write_timeout,
                deadline: None,
                stalled: false,
            },
            addr,
        )
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl AsyncRead for CappedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for CappedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch_write(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch_write(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
