//! The pipe between the host and a PKCS#11 worker: length-prefixed postcard frames.
//!
//! A frame is a 4-byte little-endian length followed by that many bytes of one postcard-encoded
//! message. Frames are bounded ([`MAX_FRAME`]); a frame that is too long, cut short or does not
//! decode to exactly one message is a [`FrameError`], never a panic. Requests may carry a PIN, so
//! every buffer a request passes through is a [`Zeroizing`] one, on both sides of the pipe.

use std::io::{self, Read, Write};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::types::{MechanismInfo, ObjectInfo, ObjectQuery, Pkcs11Error, TokenInfo};

/// The largest frame either side accepts (certificates and data objects fit many times over).
pub(crate) const MAX_FRAME: usize = 4 << 20;

/// A host → worker message.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Request {
    /// A call; the worker answers with a [`Reply::Answer`] of the same id.
    Call {
        /// Echoed in the answer.
        id: u64,
        /// What to do.
        call: Call,
    },
    /// Close a session (logging out first when it logged in). No answer.
    CloseSession {
        /// The session handle.
        session: u64,
    },
}

/// One PKCS#11 operation, as the worker performs it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Call {
    /// The slots that hold a token → [`Answer::Slots`].
    Slots,
    /// CK_TOKEN_INFO of a slot → [`Answer::TokenInfo`].
    TokenInfo { slot: u64 },
    /// The mechanisms of a slot's token → [`Answer::Mechanisms`].
    Mechanisms { slot: u64 },
    /// Opens a read-only session → [`Answer::Session`].
    OpenSession { slot: u64 },
    /// C_FindObjects → [`Answer::Objects`].
    FindObjects { session: u64, query: ObjectQuery },
    /// CKA_VALUE of a certificate or data object → [`Answer::Bytes`].
    Value { session: u64, handle: u64 },
    /// C_Login as the user; `None` uses the protected authentication path → [`Answer::Done`].
    Login { session: u64, pin: Option<Zeroizing<String>> },
    /// C_Logout → [`Answer::Done`].
    Logout { session: u64 },
    /// C_SignInit + C_Sign → [`Answer::Bytes`].
    Sign { session: u64, key: u64, mechanism: Mechanism, data: Vec<u8> },
}

/// The signing mechanisms the worker performs; the host builds DigestInfo itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Mechanism {
    /// CKM_RSA_PKCS over the data as given.
    RsaPkcs,
    /// CKM_RSA_PKCS_PSS with MGF1 over `hash` and a salt as long as its digest.
    RsaPss { hash: Hash },
    /// CKM_ECDSA over a digest.
    Ecdsa,
}

/// Digest algorithms on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

/// A worker → host message.
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // one per call, moved once
pub(crate) enum Reply {
    /// The first message of a worker: the library loaded and `C_Initialize` returned, or why not.
    Ready(Result<(), Pkcs11Error>),
    /// The answer to [`Request::Call`] `id`.
    Answer { id: u64, result: Result<Answer, Pkcs11Error> },
}

/// What a call returns.
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // one per call, moved once
pub(crate) enum Answer {
    Slots(Vec<WireSlot>),
    TokenInfo(TokenInfo),
    Mechanisms(Vec<MechanismInfo>),
    Session(u64),
    Objects(Vec<ObjectInfo>),
    Bytes(Vec<u8>),
    Done,
}

/// A slot with a token, as the worker sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WireSlot {
    /// CK_SLOT_ID.
    pub slot_id: u64,
    /// CK_SLOT_INFO.slotDescription, trimmed.
    pub description: String,
    /// The token in it.
    pub token: TokenInfo,
}

/// A frame that cannot be read or decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FrameError {
    /// The stream ended cleanly between frames.
    #[error("end of stream")]
    Eof,
    /// The length prefix exceeds [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// The bytes do not decode to one message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// Reading or writing failed (including a stream cut inside a frame).
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

/// Encodes `message` as one frame (length prefix included), in a buffer zeroised on drop.
pub(crate) fn encode<T: Serialize>(message: &T) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    // Serialise into a preallocated buffer rather than a growing Vec, so no reallocation leaves
    // a copy of a PIN behind in freed memory; retry with a larger buffer when it does not fit.
    let mut size = 256;
    loop {
        let mut buffer = Zeroizing::new(vec![0u8; size]);
        match postcard::to_slice(message, &mut buffer[4..]) {
            Ok(body) => {
                let len = body.len();
                if len > MAX_FRAME {
                    return Err(FrameError::TooLarge(len));
                }
                let prefix = u32::try_from(len).map_err(|_| FrameError::TooLarge(len))?;
                buffer[..4].copy_from_slice(&prefix.to_le_bytes());
                buffer.truncate(4 + len);
                return Ok(buffer);
            }
            Err(postcard::Error::SerializeBufferFull) if size <= MAX_FRAME => size *= 4,
            Err(postcard::Error::SerializeBufferFull) => return Err(FrameError::TooLarge(size)),
            Err(err) => return Err(FrameError::Malformed(err.to_string())),
        }
    }
}

/// Writes one encoded frame and flushes.
pub(crate) fn write_frame(writer: &mut impl Write, frame: &[u8]) -> Result<(), FrameError> {
    writer.write_all(frame)?;
    writer.flush()?;
    Ok(())
}

/// Reads one frame's body (without the prefix) into a buffer zeroised on drop.
pub(crate) fn read_frame(reader: &mut impl Read) -> Result<Zeroizing<Vec<u8>>, FrameError> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < prefix.len() {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Err(FrameError::Eof),
            Ok(0) => return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into()),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.into()),
        }
    }
    let len = u32::from_le_bytes(prefix) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut body = Zeroizing::new(vec![0u8; len]);
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// Decodes a frame body into exactly one message: trailing bytes are malformed too.
/// How long a side keeps checking for the other's next message before it sleeps in `poll(2)`.
/// Calls come in quick sequences (open, login, find, sign, logout, close) and a sleeping
/// process on an idle machine wakes up tens of microseconds late, which would double the cost
/// of a fast token operation; a short spin costs at most this much CPU per message.
#[cfg(unix)]
const SPIN: std::time::Duration = std::time::Duration::from_micros(100);

/// Waits until `fd` is readable (or at end of stream): checks without sleeping for [`SPIN`],
/// then sleeps in `poll(2)` until `deadline` (none: no limit). `Ok(false)` when the deadline
/// passed first.
#[cfg(unix)]
#[allow(unsafe_code)] // poll(2): FFI on one pollfd on the stack.
pub(crate) fn wait_readable(
    fd: std::os::fd::RawFd,
    deadline: Option<std::time::Instant>,
) -> io::Result<bool> {
    let spin_until = std::time::Instant::now() + SPIN;
    loop {
        let now = std::time::Instant::now();
        let millis = if now < spin_until {
            0
        } else {
            match deadline {
                None => -1,
                // Round up, so a wait never ends just before the deadline and spins.
                Some(deadline) => deadline
                    .saturating_duration_since(now)
                    .as_micros()
                    .div_ceil(1000)
                    .min(i32::MAX as u128) as i32,
            }
        };
        let mut pollfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: `pollfd` is one valid, initialised pollfd that outlives the call, and the
        // count says one.
        let ready = unsafe { libc::poll(&mut pollfd, 1, millis) };
        match ready {
            n if n > 0 => return Ok(true),
            0 if millis == 0 => std::hint::spin_loop(),
            0 => return Ok(false),
            _ => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let (message, rest) =
        postcard::take_from_bytes(body).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if rest.is_empty() {
        Ok(message)
    } else {
        Err(FrameError::Malformed(format!("{} trailing bytes", rest.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_request(request: &Request) -> Request {
        let frame = encode(request).expect("encodes");
        let body = read_frame(&mut &frame[..]).expect("reads");
        decode(&body).expect("decodes")
    }

    #[test]
    fn a_request_survives_the_round_trip() {
        let request = Request::Call {
            id: 7,
            call: Call::Login { session: 3, pin: Some(Zeroizing::new("1234".to_owned())) },
        };
        match roundtrip_request(&request) {
            Request::Call { id: 7, call: Call::Login { session: 3, pin: Some(pin) } } => {
                assert_eq!(pin.as_str(), "1234");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn large_messages_grow_the_buffer() {
        let data = vec![0xa5; 100_000];
        let request = Request::Call {
            id: 1,
            call: Call::Sign {
                session: 1,
                key: 2,
                mechanism: Mechanism::Ecdsa,
                data: data.clone(),
            },
        };
        match roundtrip_request(&request) {
            Request::Call { call: Call::Sign { data: back, .. }, .. } => assert_eq!(back, data),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn an_oversized_length_prefix_is_rejected_before_allocating() {
        let mut input: &[u8] = &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3];
        assert!(matches!(read_frame(&mut input), Err(FrameError::TooLarge(0x7fff_ffff))));
    }

    #[test]
    fn a_cut_frame_is_an_io_error_and_an_empty_stream_is_eof() {
        assert!(matches!(read_frame(&mut &[][..]), Err(FrameError::Eof)));
        assert!(matches!(read_frame(&mut &[5, 0][..]), Err(FrameError::Io(_))));
        assert!(matches!(read_frame(&mut &[5, 0, 0, 0, 1, 2][..]), Err(FrameError::Io(_))));
    }

    #[test]
    fn garbage_bodies_do_not_decode() {
        for garbage in [&[][..], &[0xff; 16][..], &[9, 9, 9][..], &[0, 0x80][..]] {
            assert!(
                matches!(decode::<Request>(garbage), Err(FrameError::Malformed(_))),
                "{garbage:?}"
            );
            assert!(matches!(decode::<Reply>(garbage), Err(FrameError::Malformed(_))));
        }
    }

    #[test]
    fn trailing_bytes_after_a_message_are_malformed() {
        let frame = encode(&Request::CloseSession { session: 1 }).expect("encodes");
        let mut body = frame[4..].to_vec();
        body.push(0);
        assert!(matches!(decode::<Request>(&body), Err(FrameError::Malformed(_))));
    }

    #[test]
    fn random_bytes_never_panic() {
        // A cheap deterministic fuzz: xorshift bytes through both decoders.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..2000 {
            let body: Vec<u8> = (0..len % 64)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state as u8
                })
                .collect();
            let _ = decode::<Request>(&body);
            let _ = decode::<Reply>(&body);
        }
    }
}
