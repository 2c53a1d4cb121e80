//! Result encodings for HTTP: JSON, CSV, Arrow IPC stream and Parquet, written batch by batch
//! so a large result streams instead of being buffered whole.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::{self, writer::JsonArray};
use datafusion::arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// An encoding of query results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A JSON array of row objects (nulls included).
    Json,
    /// CSV with a header row.
    Csv,
    /// Arrow IPC stream.
    Arrow,
    /// A Parquet file.
    Parquet,
}

impl Format {
    /// From a `format=` value: `json`, `csv`, `arrow`, `parquet`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "arrow" | "arrows" | "ipc" => Some(Self::Arrow),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }

    /// From an `Accept` header: the first type it names that we write; JSON otherwise.
    pub fn from_accept(accept: &str) -> Self {
        for part in accept.split(',') {
            let media = part.split(';').next().unwrap_or("").trim();
            let format = match media {
                "text/csv" => Some(Self::Csv),
                "application/vnd.apache.arrow.stream" => Some(Self::Arrow),
                "application/vnd.apache.parquet" | "application/x-parquet" => Some(Self::Parquet),
                "application/json" => Some(Self::Json),
                _ => None,
            };
            if let Some(f) = format {
                return f;
            }
        }
        Self::Json
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Arrow => "application/vnd.apache.arrow.stream",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// A buffer the writers write into and the response drains after each batch.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Bytes {
        Bytes::from(std::mem::take(&mut *self.0.lock().expect("buffer lock")))
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Writer {
    Json(json::Writer<SharedBuf, JsonArray>),
    Csv(csv::Writer<SharedBuf>),
    Arrow(StreamWriter<SharedBuf>),
    Parquet(ArrowWriter<SharedBuf>),
}

/// Encodes one result: [`ResultEncoder::write`] per batch, then [`ResultEncoder::finish`].
pub struct ResultEncoder {
    buf: SharedBuf,
    writer: Writer,
}

/// Rows per Parquet row group: small enough that a streamed file starts flowing early.
const PARQUET_ROW_GROUP: usize = 65_536;

/// Bytes a Parquet row group may buffer before it is closed early: wide rows must not make the
/// encoder hold a row group's worth of values outside the query's memory pool.
const PARQUET_ROW_GROUP_BYTES: usize = 64 << 20;

impl ResultEncoder {
    /// An encoder of `format` for results of `schema`.
    pub fn new(format: Format, schema: &SchemaRef) -> Result<Self, ArrowError> {
        let buf = SharedBuf::default();
        let writer = match format {
            Format::Json => Writer::Json(
                json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, JsonArray>(buf.clone()),
            ),
            Format::Csv => Writer::Csv(
                csv::WriterBuilder::new()
                    .with_header(true)
                    .build(buf.clone()),
            ),
            Format::Arrow => Writer::Arrow(StreamWriter::try_new(buf.clone(), schema)?),
            Format::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .set_max_row_group_row_count(Some(PARQUET_ROW_GROUP))
                    .build();
                Writer::Parquet(
                    ArrowWriter::try_new(buf.clone(), schema.clone(), Some(props))
                        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?,
                )
            }
        };
        Ok(Self { buf, writer })
    }

    /// Encodes a batch; returns the bytes ready to send.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<Bytes, ArrowError> {
        match &mut self.writer {
            Writer::Json(w) => w.write(batch)?,
            Writer::Csv(w) => w.write(batch)?,
            Writer::Arrow(w) => w.write(batch)?,
            Writer::Parquet(w) => {
                w.write(batch)
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
                if w.memory_size() > PARQUET_ROW_GROUP_BYTES {
                    w.flush()
                        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
                }
            }
        }
        Ok(self.buf.take())
    }

    /// Ends the result (closing bracket, end-of-stream marker, Parquet footer).
    pub fn finish(mut self) -> Result<Bytes, ArrowError> {
        match &mut self.writer {
            Writer::Json(w) => w.finish()?,
            Writer::Csv(_) => {}
            Writer::Arrow(w) => w.finish()?,
            Writer::Parquet(w) => {
                w.finish()
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            }
        }
        Ok(self.buf.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("district", DataType::Utf8, true),
            Field::new("value", DataType::Int64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![Some("110108"), None])),
                Arc::new(Int64Array::from(vec![Some(280), None])),
            ],
        )
        .unwrap()
    }

    fn encode(format: Format, batches: &[RecordBatch]) -> Vec<u8> {
        let schema = batch().schema();
        let mut enc = ResultEncoder::new(format, &schema).unwrap();
        let mut out = Vec::new();
        for b in batches {
            out.extend_from_slice(&enc.write(b).unwrap());
        }
        out.extend_from_slice(&enc.finish().unwrap());
        out
    }

    #[test]
    fn json_is_an_array_of_rows_with_nulls() {
        let text = String::from_utf8(encode(Format::Json, &[batch(), batch()])).unwrap();
        let rows: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 4);
        assert_eq!(rows[0]["value"], 280);
        assert!(rows[1]["district"].is_null());
        assert_eq!(String::from_utf8(encode(Format::Json, &[])).unwrap(), "[]");
    }

    #[test]
    fn wide_parquet_rows_close_their_row_group_early() {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
        // 1 MiB values that neither a dictionary nor zstd shrinks (xorshift bytes as hex).
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let values: Vec<String> = (0..40)
            .map(|_| {
                (0..1 << 19)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        format!("{:02x}", state as u8)
                    })
                    .collect()
            })
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(values))])
            .unwrap();
        let mut encoder = ResultEncoder::new(Format::Parquet, &schema).unwrap();
        let sent: usize = (0..5).map(|_| encoder.write(&batch).unwrap().len()).sum();
        assert!(
            sent > 0,
            "200 MiB of values (about 100 MiB compressed) stayed in one buffered row group"
        );
    }

    #[test]
    fn csv_has_one_header() {
        let text = String::from_utf8(encode(Format::Csv, &[batch(), batch()])).unwrap();
        assert_eq!(text.lines().count(), 5);
        assert_eq!(text.lines().next().unwrap(), "district,value");
    }

    #[test]
    fn accept_header_picks_the_format() {
        assert_eq!(Format::from_accept("text/csv"), Format::Csv);
        assert_eq!(Format::from_accept("*/*"), Format::Json);
        assert_eq!(
            Format::from_accept("application/vnd.apache.parquet;q=1, text/csv"),
            Format::Parquet
        );
    }
}
