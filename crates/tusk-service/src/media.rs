//! Media: uploads (attachments, avatars, headers) and their processing. The api only checks an
//! upload's bytes cheaply (type from its magic bytes, size, an image's header dimensions), puts
//! the raw bytes in object storage and writes the row with its event; a worker on the `media`
//! queue decodes, strips every piece of metadata, resizes and re-encodes, stores the variants and
//! deletes the raw upload. Nothing is held on an api replica's disk or decoded on its CPU.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tusk_cache::EntityKind;
use tusk_core::{Id, ProfileImage};
use tusk_media::{Collection, Limits, MediaError, MediaKind, MediaStorage, Processed, Style, Variant};
use tusk_store::{MediaKeys, MediaRow, NewMedia, ProcessedMedia};
use tusk_telemetry::{MediaKindLabel, MediaOutcome};

use crate::{Result, Service, ServiceError};

/// Where media bytes go and what an upload may be.
#[derive(Clone)]
pub struct MediaSettings {
    pub storage: MediaStorage,
    pub limits: Limits,
}

/// An attachment upload, read from the request.
pub struct Upload {
    pub account: Id,
    pub file: Bytes,
    /// A custom preview (for a video, what its poster frame would be).
    pub thumbnail: Option<Bytes>,
    pub description: String,
    /// `(x, y)`, each within -1..=1.
    pub focus: (f64, f64),
}

/// Mastodon's limit on an attachment's description.
pub const DESCRIPTION_LIMIT: usize = 1500;

/// How long an upload may wait for a worker to take it up before the request stops waiting.
const BACKLOG_WAIT: Duration = Duration::from_millis(300);
/// Unattached uploads older than this are deleted (Mastodon's `MediaCleanupScheduler`: a day).
const UNATTACHED_TTL: Duration = Duration::from_hours(24);
/// An upload still processing after this failed: its job was lost, or parked after its retries.
const PROCESSING_DEADLINE: Duration = Duration::from_hours(1);
const STALLED: &str = "Processing did not finish; please upload the file again";

impl From<MediaError> for ServiceError {
    fn from(error: MediaError) -> Self {
        match error {
            MediaError::TooLarge => Self::TooLarge(error.to_string()),
            MediaError::Unsupported(message) | MediaError::Invalid(message) => Self::Unprocessable(message),
            MediaError::NotFound | MediaError::RangeNotSatisfiable { .. } => Self::NotFound,
            MediaError::Storage(_) | MediaError::Processing(_) => Self::Unavailable(error.to_string()),
        }
    }
}

/// Mastodon's `meta` of one processed variant.
fn variant_meta(variant: &Variant) -> serde_json::Value {
    let (width, height) = (variant.width, variant.height);
    serde_json::json!({
        "width": width,
        "height": height,
        "size": format!("{width}x{height}"),
        "aspect": f64::from(width) / f64::from(height.max(1)),
    })
}

/// Mastodon's `meta` of a processed attachment (its `focus` is added when rendered).
fn media_meta(processed: &Processed) -> serde_json::Value {
    let mut original = variant_meta(&processed.original);
    let mut meta = serde_json::json!({ "small": variant_meta(&processed.small) });
    if let Some(duration) = processed.duration {
        original["duration"] = duration.into();
        // what Mastodon puts at the top for videos: the apps read `length` and `fps` there
        let seconds = duration.max(0.0);
        let whole = seconds.trunc() as u64;
        meta["length"] = format!(
            "{}:{:02}:{:02}.{:02}",
            whole / 3600,
            whole / 60 % 60,
            whole % 60,
            (seconds.fract() * 100.0) as u64
        )
        .into();
        meta["duration"] = duration.into();
    }
    if let Some(frame_rate) = &processed.frame_rate {
        original["frame_rate"] = frame_rate.clone().into();
    }
    if let Some(fps) = processed.fps {
        meta["fps"] = fps.into();
    }
    if let Some(bitrate) = processed.bitrate {
        original["bitrate"] = bitrate.into();
    }
    meta["original"] = original;
    meta
}

impl Service {
    fn media_storage(&self) -> &MediaStorage {
        &self.0.media.storage
    }

    /// What an upload may be.
    pub fn media_limits(&self) -> &Limits {
        &self.0.media.limits
    }

    /// Stores an upload for the workers to process: its raw bytes in storage, its row and event
    /// in PostgreSQL. Bad bytes are refused before anything is stored; a failure after the bytes
    /// are stored deletes them again.
    pub async fn upload_media(&self, upload: Upload) -> Result<MediaRow> {
        let limits = self.media_limits();
        let kind =
            if tusk_media::inspect(&upload.file, limits)?.format.is_video() { "video" } else { "image" };
        if let Some(thumbnail) = &upload.thumbnail
            && tusk_media::inspect(thumbnail, limits)?.format.is_video()
        {
            return Err(ServiceError::Unprocessable("The thumbnail must be an image".into()));
        }
        let token = tusk_media::new_token();
        let upload_key = tusk_media::upload_key(upload.account.0, &token);
        let thumbnail_key = upload.thumbnail.as_ref().map(|_| format!("{upload_key}-thumbnail"));
        let file_size = i64::try_from(upload.file.len()).unwrap_or(i64::MAX);
        let stored = async {
            self.media_storage().put(&upload_key, upload.file).await?;
            if let (Some(key), Some(thumbnail)) = (&thumbnail_key, upload.thumbnail) {
                self.media_storage().put(key, thumbnail).await?;
            }
            let new = NewMedia {
                account_id: upload.account,
                kind,
                token: &token,
                upload_key: &upload_key,
                thumbnail_key: thumbnail_key.as_deref(),
                description: &upload.description,
                focus: upload.focus,
                file_size,
            };
            Ok::<_, ServiceError>(self.store().create_media(&new).await?)
        };
        match stored.await {
            Ok((row, event)) => {
                self.publish(event).await;
                Ok(row)
            }
            Err(error) => {
                let keys: Vec<&str> =
                    [Some(upload_key.as_str()), thumbnail_key.as_deref()].into_iter().flatten().collect();
                self.delete_objects(&keys).await;
                Err(error)
            }
        }
    }

    /// A stored file as HTTP serves it (the whole object or one range of it).
    pub async fn media_file(
        &self,
        key: &str,
        range: Option<tusk_media::ByteRange>,
    ) -> std::result::Result<tusk_media::Served, MediaError> {
        self.media_storage().serve(key, range).await
    }

    /// `account`'s attachment `id` (another account's is not found).
    pub async fn media_of(&self, account: Id, id: Id) -> Result<MediaRow> {
        let row = self.store().media(&[id]).await?.pop().ok_or(ServiceError::NotFound)?;
        if row.account_id != account {
            return Err(ServiceError::NotFound);
        }
        Ok(row)
    }

    /// `account`'s attachment `id` once processed (done or failed), or as it is after `budget`,
    /// or, unless `patient`, at once when no worker took it up within [`BACKLOG_WAIT`] (the
    /// workers are busy: the caller answers 202 rather than wait for a backlog). Polled with a
    /// growing interval: a few indexed reads per upload.
    pub async fn media_when_processed(
        &self,
        account: Id,
        id: Id,
        budget: Duration,
        patient: bool,
    ) -> Result<MediaRow> {
        let started = Instant::now();
        let deadline = started + budget;
        let mut pause = Duration::from_millis(25);
        loop {
            let row = self.media_of(account, id).await?;
            let now = Instant::now();
            let backlogged = !patient && !row.started && now - started >= BACKLOG_WAIT;
            if row.state != "processing" || now >= deadline || backlogged {
                return Ok(row);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 3 / 2).min(Duration::from_millis(500));
        }
    }

    /// Changes an attachment's description or focus, before or after it is attached; a status
    /// holding it shows the change at once.
    pub async fn update_media(
        &self,
        account: Id,
        id: Id,
        description: Option<&str>,
        focus: Option<(f64, f64)>,
    ) -> Result<MediaRow> {
        let row = self.store().update_media(account, id, description, focus).await?;
        if let Some(status) = row.status_id {
            self.forget(EntityKind::Status, &[status]).await;
        }
        Ok(row)
    }

    /// Deletes an attachment no status holds, with its objects.
    pub async fn delete_media(&self, account: Id, id: Id) -> Result<()> {
        let keys = self.store().delete_unattached_media(account, id).await?.ok_or_else(|| {
            ServiceError::Unprocessable("Media attachment is currently used by a status".into())
        })?;
        self.delete_media_objects(&keys).await;
        Ok(())
    }

    /// Checks the attachments of a post being made by `account`: at most 4, each its own, not
    /// attached elsewhere, processed; not a video with anything else (Mastodon's
    /// `PostStatusService#validate_media!`).
    pub(crate) async fn check_attachable(&self, account: Id, ids: &[Id]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        if ids.len() > tusk_core::instance::MAX_MEDIA_ATTACHMENTS {
            return Err(ServiceError::Unprocessable("Cannot attach more than 4 files".into()));
        }
        let rows = self.store().media(ids).await?;
        for id in ids {
            let row = rows
                .iter()
                .find(|row| row.id == *id && row.account_id == account && row.status_id.is_none())
                .ok_or_else(|| ServiceError::Unprocessable(format!("Media attachment {id} was not found")))?;
            if row.is_failed() {
                return Err(ServiceError::Unprocessable(format!(
                    "Media attachment {id} could not be processed"
                )));
            }
            if !row.is_done() {
                return Err(ServiceError::Unprocessable(
                    "Cannot attach files that have not finished processing. Try again in a moment!".into(),
                ));
            }
        }
        // every id names one of `rows` now: a video (or gifv) must be alone
        if ids.len() > 1 && rows.iter().any(|row| row.kind != "image") {
            return Err(ServiceError::Unprocessable(
                "Cannot attach a video to a post that already contains images".into(),
            ));
        }
        Ok(())
    }

    /// The worker's job for an upload: processes it into its variants and marks it done, or
    /// failed with why (counted in `tusk_media_processed_total`). Idempotent: an upload that is
    /// not processing any more is left alone. A storage outage is an error (the job is retried);
    /// bad bytes are a failed upload.
    pub async fn process_upload(&self, id: Id) -> Result<()> {
        let started = Instant::now();
        if let Some((kind, outcome)) = self.process_pending_upload(id).await? {
            self.metrics().record_media(kind, outcome, started.elapsed());
        }
        Ok(())
    }

    async fn process_pending_upload(&self, id: Id) -> Result<Option<(MediaKindLabel, MediaOutcome)>> {
        let pending = match self.store().pending_media(id).await {
            Ok(pending) => pending,
            Err(tusk_store::StoreError::NotFound) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let Some(upload_key) = pending.upload_key.as_deref().filter(|_| pending.state == "processing") else {
            return Ok(None);
        };
        self.store().start_media(id).await?;
        let bytes = match self.media_storage().get(upload_key).await {
            Ok(bytes) => bytes,
            Err(MediaError::NotFound) => {
                self.fail_upload(id, "The uploaded file is missing; please upload it again").await?;
                return Ok(Some((MediaKindLabel::Image, MediaOutcome::Failed)));
            }
            Err(error) => return Err(error.into()),
        };
        let thumbnail = match &pending.thumbnail_key {
            Some(key) => Some(self.media_storage().get(key).await?),
            None => None,
        };
        let kind_of_bytes = match tusk_media::Format::sniff(&bytes) {
            Some(format) if format.is_video() => MediaKindLabel::Video,
            Some(tusk_media::Format::Gif) => MediaKindLabel::Gifv,
            _ => MediaKindLabel::Image,
        };
        let limits = self.media_limits().clone();
        let processed = match tusk_media::process_media(bytes, &limits).await {
            Ok(processed) => processed,
            Err(error @ (MediaError::Storage(_) | MediaError::Processing(_))) => return Err(error.into()),
            Err(error) => {
                tracing::info!(media = %id, %error, "upload refused");
                self.fail_upload(id, &error.to_string()).await?;
                return Ok(Some((kind_of_bytes, MediaOutcome::Failed)));
            }
        };
        let kind = match processed.kind {
            MediaKind::Image => MediaKindLabel::Image,
            MediaKind::Gifv => MediaKindLabel::Gifv,
            MediaKind::Video => MediaKindLabel::Video,
        };
        // a custom preview replaces the poster frame or the image's own small version
        let small = match thumbnail {
            Some(thumbnail) => {
                let limits = limits.clone();
                match tokio::task::spawn_blocking(move || tusk_media::process_image(&thumbnail, &limits))
                    .await
                    .map_err(ServiceError::internal)?
                {
                    Ok(preview) => preview.small,
                    Err(error) => {
                        self.fail_upload(id, &format!("Thumbnail: {error}")).await?;
                        return Ok(Some((kind, MediaOutcome::Failed)));
                    }
                }
            }
            None => processed.small.clone(),
        };
        let key = |style, variant: &Variant| {
            tusk_media::variant_key(
                Collection::MediaAttachments,
                id.0,
                &pending.token,
                style,
                variant.extension,
            )
        };
        let original_key = key(Style::Original, &processed.original);
        let small_key = key(Style::Small, &small);
        let mut meta = media_meta(&processed);
        meta["small"] = variant_meta(&small);
        let file_size = i64::try_from(processed.original.bytes.len()).unwrap_or(i64::MAX);
        self.media_storage().put(&original_key, processed.original.bytes.clone()).await?;
        self.media_storage().put(&small_key, small.bytes.clone()).await?;
        let done = ProcessedMedia {
            kind: kind.as_str(),
            original_key: &original_key,
            small_key: &small_key,
            meta,
            blurhash: &processed.blurhash,
            file_size,
        };
        let finished = self.store().finish_media(id, &done).await?;
        let stale = MediaKeys {
            upload_key: pending.upload_key.clone(),
            thumbnail_key: pending.thumbnail_key.clone(),
            // deleted (or done by another delivery) meanwhile: the variants go too
            original_key: (!finished).then_some(original_key),
            small_key: (!finished).then_some(small_key),
            id,
        };
        self.delete_media_objects(&stale).await;
        Ok(finished.then_some((kind, MediaOutcome::Ok)))
    }

    async fn fail_upload(&self, id: Id, error: &str) -> Result<()> {
        if let Some(keys) = self.store().fail_media(id, error).await? {
            self.delete_media_objects(&keys).await;
        }
        Ok(())
    }

    /// Whether `bytes` can be an avatar or header (cheap: size, type, header dimensions), so that
    /// a profile update checks every picture before it writes anything.
    pub fn check_profile_image(&self, image: ProfileImage, bytes: &[u8]) -> Result<()> {
        if bytes.len() > self.media_limits().profile_bytes {
            return Err(MediaError::TooLarge.into());
        }
        if tusk_media::inspect(bytes, self.media_limits())?.format.is_video() {
            return Err(ServiceError::Unprocessable(format!("The {} must be an image", image.as_str())));
        }
        Ok(())
    }

    /// Checks a new avatar or header and stores it for the workers; the profile shows it once
    /// processed.
    pub async fn upload_profile_image(&self, account: Id, image: ProfileImage, bytes: Bytes) -> Result<()> {
        self.check_profile_image(image, &bytes)?;
        let upload_key = tusk_media::upload_key(account.0, &tusk_media::new_token());
        self.media_storage().put(&upload_key, bytes).await?;
        match self.store().queue_profile_image(account, image, &upload_key).await {
            Ok(event) => {
                self.publish(event).await;
                Ok(())
            }
            Err(error) => {
                self.delete_objects(&[upload_key.as_str()]).await;
                Err(error.into())
            }
        }
    }

    /// The worker's job for a new avatar or header: resized, stripped, with a static variant
    /// when animated, put on the profile; the pictures it replaces are deleted. A picture that
    /// cannot be processed leaves the profile as it was.
    pub async fn process_profile_image(
        &self,
        account: Id,
        image: ProfileImage,
        upload_key: &str,
    ) -> Result<()> {
        let started = Instant::now();
        let Some(outcome) = self.process_profile_upload(account, image, upload_key).await? else {
            return Ok(());
        };
        let kind = match image {
            ProfileImage::Avatar => MediaKindLabel::Avatar,
            ProfileImage::Header => MediaKindLabel::Header,
        };
        self.metrics().record_media(kind, outcome, started.elapsed());
        Ok(())
    }

    async fn process_profile_upload(
        &self,
        account: Id,
        image: ProfileImage,
        upload_key: &str,
    ) -> Result<Option<MediaOutcome>> {
        let bytes = match self.media_storage().get(upload_key).await {
            Ok(bytes) => bytes,
            // processed by an earlier delivery of this job
            Err(MediaError::NotFound) => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let limits = self.media_limits().clone();
        let which = match image {
            ProfileImage::Avatar => tusk_media::ProfileImage::Avatar,
            ProfileImage::Header => tusk_media::ProfileImage::Header,
        };
        let processed =
            tokio::task::spawn_blocking(move || tusk_media::process_profile_image(&bytes, which, &limits))
                .await
                .map_err(ServiceError::internal)?;
        let processed = match processed {
            Ok(processed) => processed,
            Err(error @ (MediaError::Storage(_) | MediaError::Processing(_))) => return Err(error.into()),
            Err(error) => {
                tracing::info!(account = %account, %error, "profile picture refused");
                self.delete_objects(&[upload_key]).await;
                return Ok(Some(MediaOutcome::Failed));
            }
        };
        let collection = match image {
            ProfileImage::Avatar => Collection::Avatars,
            ProfileImage::Header => Collection::Headers,
        };
        let token = tusk_media::new_token();
        let key = |style, variant: &Variant| {
            tusk_media::variant_key(collection, account.0, &token, style, variant.extension)
        };
        let original_key = key(Style::Original, &processed.original);
        self.media_storage().put(&original_key, processed.original.bytes.clone()).await?;
        let static_key = match &processed.static_ {
            Some(still) => {
                let static_key = key(Style::Static, still);
                self.media_storage().put(&static_key, still.bytes.clone()).await?;
                static_key
            }
            None => original_key.clone(),
        };
        let replaced = self.store().set_profile_image(account, image, &original_key, &static_key).await?;
        self.forget(EntityKind::Account, &[account]).await;
        let mut stale: Vec<&str> = replaced.iter().map(String::as_str).collect();
        stale.push(upload_key);
        self.delete_objects(&stale).await;
        Ok(Some(MediaOutcome::Ok))
    }

    /// The workers' sweep: uploads stuck in processing fail, unattached uploads older than a
    /// day are deleted (objects first, then rows). How many were deleted.
    pub async fn sweep_media(&self) -> Result<u64> {
        for keys in self.store().fail_stalled_media(PROCESSING_DEADLINE, STALLED).await? {
            self.delete_media_objects(&keys).await;
        }
        let expired = self.store().unattached_media(UNATTACHED_TTL, 500).await?;
        let mut gone = Vec::with_capacity(expired.len());
        for keys in &expired {
            if self.delete_media_objects(keys).await {
                gone.push(keys.id);
            }
        }
        Ok(self.store().delete_media_rows(&gone).await?)
    }

    async fn delete_media_objects(&self, keys: &MediaKeys) -> bool {
        self.delete_objects(&keys.keys().collect::<Vec<_>>()).await
    }

    /// Deletes objects; whether all went. What could not be is logged (the sweep finds
    /// unattached media again; a raw upload left behind costs storage only).
    async fn delete_objects(&self, keys: &[&str]) -> bool {
        let mut all = true;
        for key in keys {
            if let Err(error) = self.media_storage().delete(key).await {
                tracing::warn!(key, %error, "media object not deleted");
                all = false;
            }
        }
        all
    }
}
