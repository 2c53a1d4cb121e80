//! `civicpulse land`: lands JSONL files of events straight into a lake, decoded and normalised
//! by the ingest services' code, without a broker: for backfilling an export and for the
//! definitions suite's hand-written fixtures. A file's name says its stream, as citysim's
//! `--out` writes them (`hotline.tickets.jsonl`, `facility.changes.jsonl`,
//! `renovation.progress.jsonl`); its lines land in order at partition 0, offsets counting from
//! the table's last landing. A refused line stops the landing, and nothing of the batch it was
//! in (up to 500,000 lines a table) is committed.

use std::path::{Path, PathBuf};

use citysim::{LakeSink, Record, RecordKind, Sink, SinkError, Topic};

/// Why a landing failed.
#[derive(Debug, thiserror::Error)]
pub enum LandError {
    /// A file's name does not name a stream.
    #[error(
        "{0}: the file name must be one of hotline.tickets.jsonl, facility.changes.jsonl, renovation.progress.jsonl"
    )]
    UnknownStream(PathBuf),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The hash key is missing, or the lake refused a line or a commit.
    #[error("{0}")]
    Lake(#[from] SinkError),
    /// A line the ingest refuses (it would be dead-lettered).
    #[error("{path}:{line}: {reason}")]
    Refused {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The ingest's reason.
        reason: String,
    },
}

/// The stream a file's name stands for.
fn stream_of(path: &Path) -> Option<Topic> {
    let name = path.file_name()?.to_str()?;
    Topic::ALL
        .into_iter()
        .find(|t| name == format!("{}.jsonl", t.topic()))
}

/// Lands `files` into the lake at `lake`, keying caller hashes with `hash_key`; returns the
/// number of events landed per file.
pub fn land(lake: &Path, files: &[PathBuf], hash_key: &[u8]) -> Result<Vec<usize>, LandError> {
    let mut inputs = Vec::with_capacity(files.len());
    for path in files {
        let topic = stream_of(path).ok_or_else(|| LandError::UnknownStream(path.clone()))?;
        let text = std::fs::read(path).map_err(|source| LandError::Read {
            path: path.clone(),
            source,
        })?;
        inputs.push((path, topic, text));
    }
    let mut sink = LakeSink::new(lake, hash_key)?;
    let mut counts = Vec::with_capacity(inputs.len());
    for (path, topic, text) in &inputs {
        let mut n = 0;
        for (i, line) in text.split_inclusive(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let mut owned;
            let line = if line.ends_with(b"\n") {
                line
            } else {
                owned = line.to_vec();
                owned.push(b'\n');
                &owned[..]
            };
            let record = Record {
                topic: *topic,
                key: b"",
                line,
                kind: RecordKind::Valid,
            };
            sink.send(&record).map_err(|e| LandError::Refused {
                path: (*path).clone(),
                line: i + 1,
                reason: e.to_string(),
            })?;
            n += 1;
        }
        counts.push(n);
    }
    sink.flush()?;
    Ok(counts)
}
