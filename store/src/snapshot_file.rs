//! The backup file: what `Maintenance/Snapshot` streams, `keelctl snapshot save` writes and
//! `keel snapshot status|restore` read.
//!
//! Layout: the magic `KEELSNP1`, the length of the image (u64, big endian), the encoded
//! `keelraft.StateMachineImage` (every stored revision, the leases, the alarms; the message Raft
//! snapshots carry), zero padding up to a multiple of 512 bytes, then the SHA-256 of everything
//! before it. As in etcd's snapshot stream the checksum comes last, so a file cut short or
//! altered anywhere is refused before anything is decoded; the padding keeps etcdctl's
//! `snapshot save` check (size % 512 == 32, its "sha256 checksum not found") satisfied, so
//! etcdctl can back up a Keel cluster too.

use keel_proto::keelraft::StateMachineImage;
use prost::Message;
use sha2::{Digest, Sha256};

/// The first bytes of every Keel snapshot file (format version 1).
pub const MAGIC: &[u8; 8] = b"KEELSNP1";
const CHECKSUM_BYTES: usize = 32;
const LENGTH_BYTES: usize = 8;
const HEADER_BYTES: usize = MAGIC.len() + LENGTH_BYTES;
/// The body (everything before the checksum) is padded to a multiple of this.
const ALIGN: usize = 512;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotFileError {
    #[error(
        "not a Keel snapshot file (it does not start with {:?})",
        String::from_utf8_lossy(MAGIC)
    )]
    NotASnapshot,
    #[error("snapshot file is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("snapshot file is corrupted: its SHA-256 checksum does not match its contents")]
    ChecksumMismatch,
    #[error("snapshot file is corrupted: {0}")]
    Undecodable(String),
}

/// Serialises `image` as a snapshot file.
pub fn encode(image: &StateMachineImage) -> Vec<u8> {
    let image_len = image.encoded_len();
    let body_len = (HEADER_BYTES + image_len).div_ceil(ALIGN) * ALIGN;
    let mut bytes = Vec::with_capacity(body_len + CHECKSUM_BYTES);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(image_len as u64).to_be_bytes());
    image.encode_raw(&mut bytes);
    bytes.resize(body_len, 0);
    let checksum = Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    bytes
}

/// Verifies and decodes a snapshot file.
pub fn decode(bytes: &[u8]) -> Result<StateMachineImage, SnapshotFileError> {
    let looks_like_ours = bytes.starts_with(MAGIC) || MAGIC.starts_with(bytes);
    if !looks_like_ours {
        return Err(SnapshotFileError::NotASnapshot);
    }
    if bytes.len() < ALIGN + CHECKSUM_BYTES || bytes.len() % ALIGN != CHECKSUM_BYTES {
        return Err(SnapshotFileError::Truncated(bytes.len()));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_BYTES);
    if Sha256::digest(body).as_slice() != checksum {
        return Err(SnapshotFileError::ChecksumMismatch);
    }
    let mut length = [0u8; LENGTH_BYTES];
    length.copy_from_slice(&body[MAGIC.len()..HEADER_BYTES]);
    let image = usize::try_from(u64::from_be_bytes(length))
        .ok()
        .and_then(|len| body.get(HEADER_BYTES..HEADER_BYTES.checked_add(len)?))
        .ok_or_else(|| SnapshotFileError::Undecodable("image length beyond the file".into()))?;
    StateMachineImage::decode(image).map_err(|err| SnapshotFileError::Undecodable(err.to_string()))
}

/// What `snapshot status` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotStatus {
    /// CRC-32 of the MVCC records: equal to the source member's HashKV at `revision`.
    pub hash: u32,
    pub revision: i64,
    /// Stored revisions of keys (every version kept, as etcd counts bbolt keys).
    pub total_keys: usize,
    pub total_size: u64,
}

pub fn status(bytes: &[u8]) -> Result<SnapshotStatus, SnapshotFileError> {
    let image = decode(bytes)?;
    let mut hasher = crc32fast::Hasher::new();
    for record in &image.records {
        let key = crate::mvcc::Revision::new(record.main, record.sub).to_key();
        hasher.update(&key.to_be_bytes());
        hasher.update(&record.kv.clone().unwrap_or_default().encode_to_vec());
    }
    Ok(SnapshotStatus {
        hash: hasher.finalize(),
        revision: image.current_revision.max(1),
        total_keys: image.records.len(),
        total_size: bytes.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_proto::keelraft::RevisionRecord;
    use keel_proto::mvccpb::KeyValue;

    fn image() -> StateMachineImage {
        StateMachineImage {
            current_revision: 3,
            records: vec![RevisionRecord {
                main: 2,
                sub: 0,
                tombstone: false,
                kv: Some(KeyValue {
                    key: b"a".to_vec(),
                    value: b"1".to_vec(),
                    create_revision: 2,
                    mod_revision: 2,
                    version: 1,
                    lease: 0,
                }),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_and_reports_status() {
        let bytes = encode(&image());
        assert_eq!(decode(&bytes), Ok(image()));
        let status = status(&bytes).unwrap();
        assert_eq!((status.revision, status.total_keys), (3, 1));
        assert_eq!(status.total_size, bytes.len() as u64);
    }

    #[test]
    fn refuses_damaged_truncated_and_foreign_files() {
        let bytes = encode(&image());
        assert_eq!(
            bytes.len() % ALIGN,
            CHECKSUM_BYTES,
            "etcdctl's snapshot save check"
        );
        for cut in [
            0,
            4,
            MAGIC.len() + 3,
            ALIGN + CHECKSUM_BYTES - 1,
            bytes.len() - 1,
        ] {
            let err = decode(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(
                    err,
                    SnapshotFileError::Truncated(_) | SnapshotFileError::ChecksumMismatch
                ),
                "cut at {cut}: {err:?}"
            );
        }
        for at in [MAGIC.len(), bytes.len() / 2, bytes.len() - 1] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            assert_eq!(decode(&damaged), Err(SnapshotFileError::ChecksumMismatch));
        }
        assert_eq!(
            decode(b"SQLite format 3\0 and then some more bytes to pass the length check"),
            Err(SnapshotFileError::NotASnapshot)
        );
    }
}
