/// Why media could not be stored, read or processed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// Over the size limit for its kind: the api answers 413.
    #[error("File is too large")]
    TooLarge,
    /// The bytes are no supported type, whatever the name or declared type says: 422.
    #[error("{0}")]
    Unsupported(String),
    /// Bytes of a supported type, refused: over the pixel/frame limits, a decompression bomb,
    /// corrupt or undecodable: 422, or the attachment fails.
    #[error("{0}")]
    Invalid(String),
    /// The storage backend failed (transient: the job is retried).
    #[error("storage: {0}")]
    Storage(String),
    /// The processing tool failed unexpectedly (ffmpeg missing, crashed, timed out).
    #[error("processing: {0}")]
    Processing(String),
    #[error("not found")]
    NotFound,
    /// A `Range` that starts past the end of the object: 416 with `Content-Range: bytes */{total_len}`.
    #[error("range not satisfiable")]
    RangeNotSatisfiable { total_len: u64 },
}

impl From<object_store::Error> for MediaError {
    fn from(error: object_store::Error) -> Self {
        match error {
            object_store::Error::NotFound { .. } => Self::NotFound,
            other => Self::Storage(other.to_string()),
        }
    }
}
