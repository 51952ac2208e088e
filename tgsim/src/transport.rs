//! MTProto transports, server side: Full (what grammers uses), Intermediate,
//! padded Intermediate and Abridged, told apart by the first bytes a client
//! sends. Every frame is bounded in size and every malformed one is an error
//! that closes its connection, never a panic.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest frame payload accepted from a client. Telegram's own limit for a
/// message container is about 1 MiB; anything larger is a broken client.
pub const MAX_FRAME: usize = 1 << 20;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("connection closed")]
    Closed,
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    #[error("bad frame length {0}")]
    BadLen(i64),
    #[error("bad frame sequence number: expected {expected}, got {got}")]
    BadSeq { expected: i32, got: i32 },
    #[error("bad frame checksum")]
    BadCrc,
}

/// Which transport a connection speaks, with its per-direction state.
#[derive(Debug)]
pub enum Codec {
    Full { recv_seq: i32, send_seq: i32 },
    Intermediate { padded: bool },
    Abridged,
}

impl Codec {
    /// Reads the transport tag (if any) and returns the codec. For Full, which
    /// has no tag, the first four bytes are the first frame's length and are
    /// returned so that the first frame can be completed.
    pub async fn detect<R: AsyncRead + Unpin>(
        rd: &mut R,
    ) -> Result<(Codec, Option<[u8; 4]>), FrameError> {
        let first = read_u8(rd).await?;
        if first == 0xef {
            return Ok((Codec::Abridged, None));
        }
        let mut rest = [0u8; 3];
        read_exact(rd, &mut rest).await?;
        let head = [first, rest[0], rest[1], rest[2]];
        match head {
            [0xee, 0xee, 0xee, 0xee] => Ok((Codec::Intermediate { padded: false }, None)),
            [0xdd, 0xdd, 0xdd, 0xdd] => Ok((Codec::Intermediate { padded: true }, None)),
            _ => Ok((
                Codec::Full {
                    recv_seq: 0,
                    send_seq: 0,
                },
                Some(head),
            )),
        }
    }

    /// Reads one frame's payload. `pending_len` carries the length bytes that
    /// `detect` already consumed for the first Full frame.
    pub async fn read_frame<R: AsyncRead + Unpin>(
        &mut self,
        rd: &mut R,
        pending_len: Option<[u8; 4]>,
    ) -> Result<Vec<u8>, FrameError> {
        match self {
            Codec::Full { recv_seq, .. } => {
                let len_bytes = match pending_len {
                    Some(b) => b,
                    None => {
                        let mut b = [0u8; 4];
                        read_exact(rd, &mut b).await?;
                        b
                    }
                };
                let len = i32::from_le_bytes(len_bytes);
                // length + seq + crc = 12 bytes of framing around the payload.
                if len < 12 || len as usize > MAX_FRAME + 12 || len % 4 != 0 {
                    return Err(FrameError::BadLen(len.into()));
                }
                let mut rest = vec![0u8; len as usize - 4];
                read_exact(rd, &mut rest).await?;
                let (body, crc_bytes) = rest.split_at(rest.len() - 4);
                let mut hasher = crc32fast::Hasher::new();
                hasher.update(&len_bytes);
                hasher.update(body);
                let crc =
                    u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
                if hasher.finalize() != crc {
                    return Err(FrameError::BadCrc);
                }
                let seq = i32::from_le_bytes([body[0], body[1], body[2], body[3]]);
                if seq != *recv_seq {
                    return Err(FrameError::BadSeq {
                        expected: *recv_seq,
                        got: seq,
                    });
                }
                *recv_seq = recv_seq.wrapping_add(1);
                rest.truncate(rest.len() - 4);
                rest.drain(..4);
                Ok(rest)
            }
            Codec::Intermediate { padded } => {
                let mut b = [0u8; 4];
                read_exact(rd, &mut b).await?;
                let len = i32::from_le_bytes(b);
                if len <= 0 || len as usize > MAX_FRAME + 16 {
                    return Err(FrameError::BadLen(len.into()));
                }
                let mut body = vec![0u8; len as usize];
                read_exact(rd, &mut body).await?;
                if *padded {
                    // Padding makes the length a non-multiple of 16 at most 15 bytes long;
                    // an encrypted message is always a multiple of 16 after its 24-byte header.
                    let keep = body.len() - (body.len().saturating_sub(8) % 16);
                    body.truncate(keep);
                }
                Ok(body)
            }
            Codec::Abridged => {
                let first = read_u8(rd).await?;
                let words = if first == 0x7f {
                    let mut b = [0u8; 3];
                    read_exact(rd, &mut b).await?;
                    u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize
                } else {
                    first as usize
                };
                let len = words * 4;
                if len == 0 || len > MAX_FRAME {
                    return Err(FrameError::BadLen(len as i64));
                }
                let mut body = vec![0u8; len];
                read_exact(rd, &mut body).await?;
                Ok(body)
            }
        }
    }

    /// Frames a payload for sending.
    pub fn encode(&mut self, payload: &[u8]) -> Vec<u8> {
        match self {
            Codec::Full { send_seq, .. } => {
                let len = (payload.len() + 12) as i32;
                let mut out = Vec::with_capacity(payload.len() + 12);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(&send_seq.to_le_bytes());
                out.extend_from_slice(payload);
                let crc = crc32fast::hash(&out);
                out.extend_from_slice(&crc.to_le_bytes());
                *send_seq = send_seq.wrapping_add(1);
                out
            }
            Codec::Intermediate { .. } => {
                let mut out = Vec::with_capacity(payload.len() + 4);
                out.extend_from_slice(&(payload.len() as i32).to_le_bytes());
                out.extend_from_slice(payload);
                out
            }
            Codec::Abridged => {
                let words = payload.len() / 4;
                let mut out = Vec::with_capacity(payload.len() + 4);
                if words < 0x7f {
                    out.push(words as u8);
                } else {
                    out.push(0x7f);
                    out.extend_from_slice(&(words as u32).to_le_bytes()[..3]);
                }
                out.extend_from_slice(payload);
                out
            }
        }
    }

    /// A transport-level error (e.g. -404 for an unknown auth key), which
    /// every transport sends as a bare negative 32-bit length.
    pub fn encode_error(&mut self, status: i32) -> Vec<u8> {
        let code = (-status).to_le_bytes();
        match self {
            Codec::Abridged => {
                let mut out = vec![1u8];
                out.extend_from_slice(&code);
                out
            }
            Codec::Intermediate { .. } => {
                let mut out = 4i32.to_le_bytes().to_vec();
                out.extend_from_slice(&code);
                out
            }
            // grammers' Full transport reads the negative length itself.
            Codec::Full { .. } => code.to_vec(),
        }
    }
}

async fn read_u8<R: AsyncRead + Unpin>(rd: &mut R) -> Result<u8, FrameError> {
    let mut b = [0u8; 1];
    read_exact(rd, &mut b).await?;
    Ok(b[0])
}

async fn read_exact<R: AsyncRead + Unpin>(rd: &mut R, buf: &mut [u8]) -> Result<(), FrameError> {
    match rd.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(FrameError::Closed),
        Err(e) => Err(FrameError::Io(e)),
    }
}

/// Writes a whole buffer.
pub async fn write_all<W: AsyncWrite + Unpin>(wr: &mut W, data: &[u8]) -> io::Result<()> {
    wr.write_all(data).await
}
