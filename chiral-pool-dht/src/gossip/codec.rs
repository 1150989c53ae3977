//! The request-response codec for links by id: a request is the 32-byte
//! id; a response is one byte (0: not held, 1: held) and, when held, a
//! four-byte little-endian length and the encoded link. Lengths are
//! checked before anything is allocated.

use std::io;

use chiral_pool_core::ids::LinkId;
use chiral_pool_core::sharechain::{Link, MAX_LINK_BYTES};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::request_response;
use libp2p::StreamProtocol;

/// The protocol name of link fetches.
pub const LINK_PROTOCOL: StreamProtocol = StreamProtocol::new("/chiral/link-by-id/1");

/// Encodes and decodes link fetches.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinkCodec;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl request_response::Codec for LinkCodec {
    type Protocol = StreamProtocol;
    type Request = LinkId;
    type Response = Option<Link>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<LinkId>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut id = [0u8; 32];
        io.read_exact(&mut id).await?;
        Ok(LinkId::from_bytes(id))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Option<Link>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let mut held = [0u8; 1];
        io.read_exact(&mut held).await?;
        match held[0] {
            0 => return Ok(None),
            1 => {}
            other => return Err(invalid(format!("unknown response tag {other}"))),
        }
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_LINK_BYTES {
            return Err(invalid(format!("link of {len} bytes exceeds the limit")));
        }
        let mut bytes = vec![0u8; len];
        io.read_exact(&mut bytes).await?;
        Link::from_bytes(&bytes)
            .map(Some)
            .map_err(|e| invalid(e.to_string()))
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        id: LinkId,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        io.write_all(id.as_bytes()).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        link: Option<Link>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match link {
            None => io.write_all(&[0]).await?,
            Some(link) => {
                let bytes = link.to_bytes().map_err(|e| invalid(e.to_string()))?;
                io.write_all(&[1]).await?;
                io.write_all(&(bytes.len() as u32).to_le_bytes()).await?;
                io.write_all(&bytes).await?;
            }
        }
        io.close().await
    }
}
