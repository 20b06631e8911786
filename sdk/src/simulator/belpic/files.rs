//! The card's file system: MF, DF(BELPIC) and DF(ID) with their transparent EFs
//! (CONT17/CONT18 §4.3), and what SELECT resolves against it.
//!
//! Everything is readable without PIN (access condition ALW), so the tree holds only names
//! and contents.

use sha2::{Digest as _, Sha256, Sha384};

use super::AppletVersion;
use super::crypto::pki::{CertificateRole, TestPki};
use super::error::BelpicError;
use super::identity::{address_file, identity_file};
use super::persona::Persona;
use super::photo::photo;
use super::pkcs15;

/// File identifier of the MF.
pub const MF: [u8; 2] = [0x3F, 0x00];

/// A dedicated file of the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Df {
    /// `3F00`.
    Mf,
    /// `3F00/DF00`, the PKCS#15 application.
    Belpic,
    /// `3F00/DF01`, the National Register's files.
    Id,
}

/// The transparent files of one card, each under its DF.
#[derive(Debug, Clone)]
pub struct FileSystem {
    files: Vec<Ef>,
}

/// An elementary file: where it is, its identifier, its bytes.
#[derive(Debug, Clone)]
struct Ef {
    df: Df,
    fid: [u8; 2],
    content: Vec<u8>,
}

/// Index of an EF in a [`FileSystem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EfId(usize);

/// What SELECT found: a DF, or an EF and the DF it is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// A dedicated file.
    Df(Df),
    /// An elementary file in a DF.
    Ef(Df, EfId),
}

impl Df {
    /// The DF's file identifier.
    pub fn fid(self) -> [u8; 2] {
        match self {
            Self::Mf => MF,
            Self::Belpic => [0xDF, 0x00],
            Self::Id => [0xDF, 0x01],
        }
    }

    /// The DF a file identifier names under this one.
    fn child(self, fid: [u8; 2]) -> Option<Self> {
        match (self, fid) {
            (Self::Mf, [0xDF, 0x00]) => Some(Self::Belpic),
            (Self::Mf, [0xDF, 0x01]) => Some(Self::Id),
            _ => None,
        }
    }
}

impl FileSystem {
    /// The files of `persona`'s card: PKCS#15 files, certificates with their zero padding,
    /// and the National Register's files signed with the PKI's RRN key.
    ///
    /// # Errors
    /// [`BelpicError`] if the photo, a public key or a signature cannot be made.
    pub fn build(persona: &Persona, pki: &TestPki) -> Result<Self, BelpicError> {
        let version = pki.version();
        let serial = persona.chip_number();
        let mut files = Vec::with_capacity(20);
        let mut add = |df, fid, content| files.push(Ef { df, fid, content });

        add(Df::Mf, [0x2F, 0x00], pkcs15::EF_DIR.to_vec());
        add(Df::Belpic, [0x50, 0x31], pkcs15::ODF.to_vec());
        add(Df::Belpic, [0x50, 0x32], pkcs15::token_info(&serial, version));
        add(Df::Belpic, [0x50, 0x34], pkcs15::AODF.to_vec());
        add(Df::Belpic, [0x50, 0x35], pkcs15::prkdf(version));
        add(Df::Belpic, [0x50, 0x37], pkcs15::cdf(version));
        for role in CertificateRole::ALL {
            let mut content = pki.certificate(role).to_vec();
            // 1.7 cards carry the RRN certificate unpadded (beid-card.md §1.3).
            if role != CertificateRole::Rrn || version == AppletVersion::V1_8 {
                content.resize(content.len() + version.certificate_padding(), 0);
            }
            add(Df::Belpic, role.file_id(), content);
        }

        let seed = persona.chip_number()[4];
        let picture = photo(seed)?;
        let basic_key = pki.basic_public_key().map(|key| key.to_spki_der()).transpose()?;
        let (photo_hash, basic_key_hash) = match version {
            AppletVersion::V1_7 => (Sha256::digest(&picture).to_vec(), None),
            AppletVersion::V1_8 => (
                Sha384::digest(&picture).to_vec(),
                basic_key.as_deref().map(|spki| Sha384::digest(spki).to_vec()),
            ),
        };
        let identity = identity_file(persona, version, &photo_hash, basic_key_hash.as_deref());
        let rrn = pki.private_key(CertificateRole::Rrn);
        let identity_signature = rrn.sign_file(&identity)?;
        let address = address_file(persona);
        let signed_address = [trim_zeros(&address), &identity_signature].concat();
        let address_signature = rrn.sign_file(&signed_address)?;

        add(Df::Id, [0x40, 0x31], identity);
        add(Df::Id, [0x40, 0x32], identity_signature);
        add(Df::Id, [0x40, 0x33], address);
        add(Df::Id, [0x40, 0x34], address_signature);
        add(Df::Id, [0x40, 0x35], picture);
        if let Some(spki) = basic_key {
            add(Df::Id, [0x40, 0x40], spki);
        }
        Ok(Self { files })
    }

    /// The file a SELECT by identifier (P1 `02`) finds from `current`: the MF, the current DF,
    /// or a child of the current DF.
    pub fn select_fid(&self, current: Df, fid: [u8; 2]) -> Option<Node> {
        if fid == MF {
            return Some(Node::Df(Df::Mf));
        }
        if fid == current.fid() {
            return Some(Node::Df(current));
        }
        if let Some(df) = current.child(fid) {
            return Some(Node::Df(df));
        }
        self.ef(current, fid).map(|ef| Node::Ef(current, ef))
    }

    /// The file a SELECT by absolute path (P1 `08`) finds: the path is read from the MF,
    /// with or without a leading `3F00`.
    pub fn select_path(&self, path: &[u8]) -> Option<Node> {
        if path.is_empty() || !path.len().is_multiple_of(2) {
            return None;
        }
        let mut fids = path.chunks_exact(2).map(|fid| [fid[0], fid[1]]).peekable();
        if fids.peek() == Some(&MF) {
            fids.next();
        }
        let mut node = Node::Df(Df::Mf);
        for fid in fids {
            let Node::Df(df) = node else { return None };
            node = match df.child(fid) {
                Some(child) => Node::Df(child),
                None => Node::Ef(df, self.ef(df, fid)?),
            };
        }
        Some(node)
    }

    /// The bytes of an EF.
    pub fn content(&self, ef: EfId) -> &[u8] {
        self.files.get(ef.0).map_or(&[], |file| file.content.as_slice())
    }

    /// Whether an EF is one of the two TLV-structured files READ RECORD reads.
    pub fn is_structured(&self, ef: EfId) -> bool {
        self.files
            .get(ef.0)
            .is_some_and(|file| file.df == Df::Id && matches!(file.fid, [0x40, 0x31 | 0x33]))
    }

    /// The bytes of the EF at an absolute `path` (with or without `3F00`).
    pub fn file(&self, path: &[u8]) -> Option<&[u8]> {
        match self.select_path(path)? {
            Node::Ef(_, ef) => Some(self.content(ef)),
            Node::Df(_) => None,
        }
    }

    fn ef(&self, df: Df, fid: [u8; 2]) -> Option<EfId> {
        self.files.iter().position(|file| file.df == df && file.fid == fid).map(EfId)
    }
}

/// `bytes` without its trailing zero bytes.
pub fn trim_zeros(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |last| last + 1);
    &bytes[..end]
}
