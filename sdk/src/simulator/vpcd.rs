//! A bridge from a [`VirtualReader`] to the `vpcd` driver of vsmartcard, so a real `pcscd`
//! sees the slot's card in one of its readers.
//!
//! vpcd (Debian package `vsmartcard-vpcd`) is an IFD handler that listens on a TCP port (the
//! `CHANNELID` of its `reader.conf` entry, plus one port per further slot) for a virtual card,
//! which connects as a client. Every message either way is a two-byte big-endian length and
//! that many bytes. From vpcd, a one-byte message is a control: `00` power off, `01` power on,
//! `02` reset, `04` get ATR (answered with the ATR as a message); the others are command APDUs,
//! answered with the response APDU. Power on, power off and reset get no answer.
//!
//! vpcd has no "no card" message: it reports a card present while a client is connected and
//! answers get ATR (`pcscd` polls that about every 400 ms), and absent as soon as the exchange
//! fails. So the bridge holds a connection only while the slot holds a card: it drops the
//! connection when the card is removed or swapped, and connects again for the next card, which
//! `pcscd` sees as a removal followed by an insertion. It also reconnects, retrying until
//! stopped, when `pcscd` is not running yet or goes away.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::simulator::VirtualReader;
use crate::status::StatusWord;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long the bridge stays disconnected after a card change; pcscd polls vpcd about every
/// 400 ms.
const ABSENCE: Duration = Duration::from_millis(1000);
/// Pause between connection attempts while vpcd is not listening.
const RETRY_INTERVAL: Duration = Duration::from_millis(50);
/// How often the bridge looks at the slot and the stop flag while idle or waiting for vpcd.
const TICK: Duration = Duration::from_millis(20);

/// vpcd control messages (one byte).
const CTRL_OFF: u8 = 0x00;
const CTRL_ON: u8 = 0x01;
const CTRL_RESET: u8 = 0x02;
const CTRL_ATR: u8 = 0x04;

/// A running bridge between one [`VirtualReader`] and one vpcd slot. Stops on
/// [`stop`](Self::stop) or drop.
#[derive(Debug)]
pub struct VpcdBridge {
    reader: VirtualReader,
    shared: Arc<BridgeShared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug, Default)]
struct BridgeShared {
    stopped: Mutex<bool>,
    wake: Condvar,
    connected: AtomicBool,
}

impl VpcdBridge {
    /// Starts serving `reader`'s current card to the vpcd listening on `host:port`, in a
    /// thread of its own. Connection failures are not errors: the bridge keeps retrying.
    ///
    /// # Errors
    /// When the operating system cannot start the thread.
    pub fn start(reader: VirtualReader, host: &str, port: u16) -> io::Result<Self> {
        let shared = Arc::new(BridgeShared::default());
        let worker =
            Worker { reader: reader.clone(), host: host.to_owned(), port, shared: shared.clone() };
        let thread = thread::Builder::new()
            .name(format!("vpcd-bridge-{port}"))
            .spawn(move || worker.run())?;
        Ok(Self { reader, shared, thread: Some(thread) })
    }

    /// The reader slot this bridge serves.
    pub fn reader(&self) -> &VirtualReader {
        &self.reader
    }

    /// Whether the bridge holds a connection to vpcd now (it does only while a card is
    /// inserted). A connection may still wait in vpcd's backlog until `pcscd` next polls.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst)
    }

    /// Stops the bridge and waits for its thread: vpcd sees the card go. Idempotent.
    pub fn stop(&mut self) {
        *self.shared.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The worker does not panic; if it did, there is nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Drop for VpcdBridge {
    fn drop(&mut self) {
        self.stop();
    }
}

impl BridgeShared {
    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout`, returning early when stopped. Returns whether stopped.
    fn wait(&self, timeout: Duration) -> bool {
        let stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        let (stopped, _) = self
            .wake
            .wait_timeout_while(stopped, timeout, |stopped| !*stopped)
            .unwrap_or_else(PoisonError::into_inner);
        *stopped
    }
}

/// The bridge's thread.
struct Worker {
    reader: VirtualReader,
    host: String,
    port: u16,
    shared: Arc<BridgeShared>,
}

/// Why a connection ended.
enum End {
    /// The bridge was stopped.
    Stopped,
    /// The card was removed or swapped.
    CardChanged,
    /// vpcd closed the connection or the exchange failed.
    Lost,
}

impl Worker {
    fn run(self) {
        loop {
            if self.shared.is_stopped() {
                return;
            }
            let insertion = self.reader.insertion();
            if !self.reader.has_card() {
                if self.shared.wait(TICK) {
                    return;
                }
                continue;
            }
            let Some(stream) = self.connect() else {
                if self.shared.wait(RETRY_INTERVAL) {
                    return;
                }
                continue;
            };
            self.shared.connected.store(true, Ordering::SeqCst);
            let end = self.serve(stream, insertion);
            self.shared.connected.store(false, Ordering::SeqCst);
            match end {
                End::Stopped => return,
                // vpcd only notices a card change through its presence poll: stay away for
                // longer than one poll so pcscd sees the removal (and then reads the new ATR),
                // also when a card is swapped for another.
                End::CardChanged => {
                    if self.shared.wait(ABSENCE) {
                        return;
                    }
                }
                End::Lost => {
                    if self.shared.wait(RETRY_INTERVAL) {
                        return;
                    }
                }
            }
        }
    }

    /// One connection attempt to every address `host` resolves to.
    fn connect(&self) -> Option<TcpStream> {
        let addresses: Vec<SocketAddr> =
            (self.host.as_str(), self.port).to_socket_addrs().ok()?.collect();
        addresses.iter().find_map(|address| {
            let stream = TcpStream::connect_timeout(address, CONNECT_TIMEOUT).ok()?;
            stream.set_nodelay(true).ok()?;
            stream.set_read_timeout(Some(TICK)).ok()?;
            Some(stream)
        })
    }

    /// Serves the card of `insertion` on `stream` until it changes, the connection ends or the
    /// bridge stops. Dropping the stream on return closes the connection.
    fn serve(&self, mut stream: TcpStream, insertion: u64) -> End {
        let mut frames = FrameReader::default();
        loop {
            if self.shared.is_stopped() {
                return End::Stopped;
            }
            if self.reader.insertion() != insertion {
                return End::CardChanged;
            }
            let message = match frames.next(&mut stream) {
                Ok(Some(message)) => message,
                Ok(None) => continue,
                Err(_) => return End::Lost,
            };
            let reply = match message.as_slice() {
                [] => None,
                [CTRL_ON | CTRL_RESET] => {
                    if !self.reader.reset_if_inserted(insertion) {
                        return End::CardChanged;
                    }
                    None
                }
                [CTRL_ATR] => match self.reader.with_inserted(insertion, |card| card.atr()) {
                    Some(atr) => Some(atr),
                    None => return End::CardChanged,
                },
                // Power off needs no action: power on resets. Unknown controls are ignored.
                [CTRL_OFF] | [_] => None,
                apdu => match self.reader.with_inserted(insertion, |card| card.process(apdu)) {
                    Some(response) => Some(response),
                    None => return End::CardChanged,
                },
            };
            if let Some(reply) = reply
                && write_frame(&mut stream, &reply).is_err()
            {
                return End::Lost;
            }
        }
    }
}

/// Reassembles length-prefixed messages across read timeouts.
#[derive(Default)]
struct FrameReader {
    buffer: Vec<u8>,
}

impl FrameReader {
    /// The next complete message, `None` when none arrived within the read timeout.
    ///
    /// # Errors
    /// The connection was closed or failed.
    fn next(&mut self, stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
        if let Some(message) = self.take_message() {
            return Ok(Some(message));
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk) {
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                self.buffer.extend_from_slice(&chunk[..n]);
                Ok(self.take_message())
            }
            Err(err)
                if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                Ok(None)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn take_message(&mut self) -> Option<Vec<u8>> {
        let [hi, lo, ..] = self.buffer[..] else {
            return None;
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if self.buffer.len() < 2 + len {
            return None;
        }
        let message = self.buffer[2..2 + len].to_vec();
        self.buffer.drain(..2 + len);
        Some(message)
    }
}

/// Sends one length-prefixed message. A payload beyond the 16-bit length (a 65536-byte
/// extended response plus its status word) cannot be framed; the card answers `6700` instead.
fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> io::Result<()> {
    let wrong_length = StatusWord::WRONG_LENGTH.to_bytes();
    let payload = if payload.len() > usize::from(u16::MAX) { &wrong_length[..] } else { payload };
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut frame = Vec::with_capacity(2 + payload.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame)
}
