//! The simulator backend: the SDK's in-process virtual readers behind the same
//! [`ReaderBackend`] as PC/SC, for `t1c --simulate` and fast tests.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use t1c_sdk::card::{Card, CardError};
use t1c_sdk::pin::{Pin, PinVerifyRequest, PinpadCapabilities};
use t1c_sdk::simulator::belpic::{AppletVersion, BelpicError, Persona, TestPki};
use t1c_sdk::simulator::{SimulatedCard, VirtualReader};

use super::queue::{Queues, Turn};
use super::{CardInfo, ReaderBackend, ReaderError, ReaderId, ReaderInfo};

/// Virtual readers in this process. Sessions queue per reader exactly as with PC/SC, and the
/// card is reset when a session ends.
pub struct SimulatorBackend {
    readers: Vec<(ReaderId, VirtualReader)>,
    queues: Queues,
}

impl SimulatorBackend {
    /// Serves `readers`; tests keep clones to insert and remove cards. At most 16 operations
    /// wait per reader.
    pub fn new(readers: Vec<VirtualReader>) -> Self {
        Self::with_queue_capacity(readers, 16)
    }

    /// Serves `readers`, letting at most `queue_capacity` operations wait per reader.
    pub fn with_queue_capacity(readers: Vec<VirtualReader>, queue_capacity: usize) -> Self {
        let readers = readers
            .into_iter()
            .map(|reader| (ReaderId::from_name(reader.name()), reader))
            .collect();
        Self { readers, queues: Queues::new(queue_capacity) }
    }
}

/// The test PKI of `persona`'s simulated card, kept in `dir` (`belpic-<version>-<national
/// number>.pem`, 0600) so that it is generated once, not at every start (five RSA-2048 keys
/// take most of a second). A stored file that cannot be read is replaced, and one that cannot
/// be written is only logged: the simulator then works with a fresh PKI.
///
/// # Errors
/// [`BelpicError`] when no PKI can be generated.
pub fn stored_test_pki(
    dir: &Path,
    persona: &Persona,
    version: AppletVersion,
) -> Result<TestPki, BelpicError> {
    let tag = match version {
        AppletVersion::V1_7 => "1.7",
        _ => "1.8",
    };
    let path = dir.join(format!("belpic-{tag}-{}.pem", persona.national_number));
    match std::fs::read_to_string(&path) {
        Ok(text) => match TestPki::from_pem(&text) {
            Ok(pki) if pki.version() == version => return Ok(pki),
            Ok(_) => {
                tracing::warn!(path = %path.display(), "stored test PKI is for another applet version; making a new one")
            }
            Err(err) => tracing::warn!(path = %path.display(), "{err}; making a new test PKI"),
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => {
            tracing::warn!(path = %path.display(), "cannot read the stored test PKI: {err}")
        }
    }
    let pki = TestPki::generate(persona, version)?;
    if let Err(err) = store_private(dir, &path, pki.to_pem()?.as_bytes()) {
        tracing::warn!(path = %path.display(), "cannot keep the test PKI: {err}");
    }
    Ok(pki)
}

/// Writes `bytes` to `path` atomically, readable by the owner only.
fn store_private(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.as_file().set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

impl ReaderBackend for SimulatorBackend {
    fn readers(&self) -> Vec<ReaderInfo> {
        self.readers
            .iter()
            .map(|(_, reader)| {
                let card = reader.atr().map(CardInfo::new);
                ReaderInfo::new(reader.name(), reader.pinpad().verify_pin, card)
            })
            .collect()
    }

    fn connect(
        &self,
        id: &ReaderId,
        timeout: Duration,
    ) -> Result<Box<dyn Card + Send>, ReaderError> {
        let (_, reader) = self
            .readers
            .iter()
            .find(|(known, _)| known == id)
            .ok_or_else(|| ReaderError::UnknownReader(id.clone()))?;
        if !reader.has_card() {
            return Err(ReaderError::NoCard(id.clone()));
        }
        let turn = self.queues.wait_turn(id, timeout)?;
        let generation = reader.generation();
        let card = reader.connect().map_err(|error| match error {
            CardError::CardRemoved => ReaderError::NoCard(id.clone()),
            other => ReaderError::Simulator(other),
        })?;
        Ok(Box::new(SimulatorSession { card, generation, _turn: turn }))
    }
}

/// A simulated card held for one operation.
struct SimulatorSession {
    card: SimulatedCard,
    /// The slot's generation when the session began; see `Drop`.
    generation: u64,
    _turn: Turn,
}

impl Card for SimulatorSession {
    fn atr(&self) -> Vec<u8> {
        self.card.atr()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        self.card.transmit(apdu)
    }

    fn pinpad(&self) -> PinpadCapabilities {
        self.card.pinpad()
    }

    fn verify_pin(
        &mut self,
        request: &PinVerifyRequest,
        pin: Option<&Pin<'_>>,
    ) -> Result<u16, CardError> {
        self.card.verify_pin(request, pin)
    }
}

impl Drop for SimulatorSession {
    fn drop(&mut self) {
        // As PC/SC sessions do: no verified PIN carries over to the next operation. Only when
        // the card is still the one this session had; a swapped-in card stays fresh.
        let reader = self.card.reader();
        if reader.generation() == self.generation {
            reader.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::thread;

    use t1c_sdk::simulator::VirtualCard;

    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    #[test]
    fn the_test_pki_is_generated_once_and_kept_private() {
        use t1c_sdk::simulator::belpic::CertificateRole;
        let dir = tempfile::tempdir().expect("temp dir");
        let persona = Persona::default_citizen();
        let first = stored_test_pki(dir.path(), &persona, AppletVersion::V1_8).expect("made");
        let files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").flatten().collect();
        assert_eq!(files.len(), 1, "one file, no temporary left");
        let path = files[0].path();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let again = stored_test_pki(dir.path(), &persona, AppletVersion::V1_8).expect("read");
        let auth = CertificateRole::Authentication;
        assert_eq!(again.certificate(auth), first.certificate(auth), "the kept PKI is used");

        std::fs::write(&path, "not a PKI").expect("spoil");
        let fresh = stored_test_pki(dir.path(), &persona, AppletVersion::V1_8).expect("remade");
        assert_ne!(fresh.certificate(auth), first.certificate(auth), "a spoilt file is replaced");
        let kept = stored_test_pki(dir.path(), &persona, AppletVersion::V1_8).expect("read");
        assert_eq!(kept.certificate(auth), fresh.certificate(auth));
    }

    /// A card that answers every APDU with its own name and 9000.
    struct Echo(&'static str);

    impl VirtualCard for Echo {
        fn atr(&self) -> Vec<u8> {
            vec![0x3B, 0x00]
        }
        fn reset(&mut self) {}
        fn process(&mut self, _apdu: &[u8]) -> Vec<u8> {
            let mut response = self.0.as_bytes().to_vec();
            response.extend_from_slice(&[0x90, 0x00]);
            response
        }
    }

    fn reader_with_card(name: &str) -> VirtualReader {
        let reader = VirtualReader::new(name);
        reader.insert(Box::new(Echo("card")));
        reader
    }

    #[test]
    fn lists_readers_with_stable_ids_cards_and_pinpads() {
        let with_card = reader_with_card("Sim A");
        let pinpad = VirtualReader::with_pinpad("Sim B", "1234".into());
        let backend = SimulatorBackend::new(vec![with_card, pinpad]);
        let readers = backend.readers();
        assert_eq!(readers.len(), 2);
        assert_eq!(readers[0].id, ReaderId::from_name("Sim A"));
        assert_eq!(readers[0].card, Some(CardInfo::new(vec![0x3B, 0x00])));
        assert!(!readers[0].pinpad);
        assert_eq!(readers[1].card, None);
        assert!(readers[1].pinpad);
    }

    #[test]
    fn a_session_talks_to_the_card() {
        let backend = SimulatorBackend::new(vec![reader_with_card("Sim A")]);
        let mut card = backend.connect(&ReaderId::from_name("Sim A"), LONG).expect("session");
        assert_eq!(card.atr(), [0x3B, 0x00]);
        assert_eq!(card.transmit(&[0x00, 0xA4, 0x00, 0x00]).expect("transmit"), b"card\x90\x00");
    }

    #[test]
    fn unknown_reader_and_empty_reader_are_typed_errors() {
        let backend = SimulatorBackend::new(vec![VirtualReader::new("Empty")]);
        let unknown = backend.connect(&ReaderId::from_name("Nope"), LONG).err();
        assert!(matches!(unknown, Some(ReaderError::UnknownReader(_))), "{unknown:?}");
        let empty = backend.connect(&ReaderId::from_name("Empty"), LONG).err();
        assert!(matches!(empty, Some(ReaderError::NoCard(_))), "{empty:?}");
    }

    #[test]
    fn a_second_session_on_a_busy_reader_waits_until_the_first_ends() {
        let backend = Arc::new(SimulatorBackend::new(vec![reader_with_card("Sim A")]));
        let id = ReaderId::from_name("Sim A");
        let first = backend.connect(&id, LONG).expect("first");
        let second = thread::spawn({
            let (backend, id) = (Arc::clone(&backend), id.clone());
            move || backend.connect(&id, LONG).map(|_| ())
        });
        // The waiting session cannot finish while the first is held; once dropped it gets in.
        assert!(!second.is_finished());
        drop(first);
        assert!(second.join().expect("thread").is_ok());
    }

    #[test]
    fn a_full_queue_and_a_timed_out_wait_are_typed_errors() {
        let backend = SimulatorBackend::with_queue_capacity(vec![reader_with_card("Sim A")], 0);
        let id = ReaderId::from_name("Sim A");
        let _held = backend.connect(&id, LONG).expect("first");
        let full = backend.connect(&id, LONG).err();
        assert!(matches!(full, Some(ReaderError::QueueFull { .. })), "{full:?}");

        let backend = SimulatorBackend::with_queue_capacity(vec![reader_with_card("Sim B")], 1);
        let id = ReaderId::from_name("Sim B");
        let _held = backend.connect(&id, LONG).expect("first");
        let late = backend.connect(&id, Duration::from_millis(10)).err();
        assert!(matches!(late, Some(ReaderError::QueueTimeout { .. })), "{late:?}");
        assert_eq!(late.map(CardError::from), Some(CardError::Timeout));
    }

    #[test]
    fn sessions_on_different_readers_run_in_parallel() {
        let backend =
            SimulatorBackend::new(vec![reader_with_card("Sim A"), reader_with_card("Sim B")]);
        let mut a = backend.connect(&ReaderId::from_name("Sim A"), LONG).expect("session A");
        // No wait allowed: B must not queue behind A.
        let mut b = backend.connect(&ReaderId::from_name("Sim B"), Duration::ZERO).expect("B");
        assert!(a.transmit(&[0x00, 0xB0, 0x00, 0x00]).is_ok());
        assert!(b.transmit(&[0x00, 0xB0, 0x00, 0x00]).is_ok());
    }

    #[test]
    fn card_removed_during_a_session_is_reported_and_the_next_session_sees_the_new_card() {
        let reader = reader_with_card("Sim A");
        let backend = SimulatorBackend::new(vec![reader.clone()]);
        let id = ReaderId::from_name("Sim A");
        let mut card = backend.connect(&id, LONG).expect("session");
        reader.remove();
        assert_eq!(card.transmit(&[0x00, 0xB0, 0x00, 0x00]), Err(CardError::CardRemoved));
        drop(card);
        reader.insert(Box::new(Echo("new")));
        let mut card = backend.connect(&id, LONG).expect("session");
        assert_eq!(card.transmit(&[0x00, 0xB0, 0x00, 0x00]).expect("transmit"), b"new\x90\x00");
    }

    #[test]
    fn a_session_end_resets_the_card() {
        let reader = reader_with_card("Sim A");
        let backend = SimulatorBackend::new(vec![reader.clone()]);
        let before = reader.generation();
        drop(backend.connect(&ReaderId::from_name("Sim A"), LONG).expect("session"));
        assert_ne!(reader.generation(), before);
    }
}
