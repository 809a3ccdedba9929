//! Media: uploads processed by the worker into storage (a local directory, or the test S3
//! server), served back without any of their metadata, attached to statuses and shown to
//! followers; avatars and headers; bad uploads refused with nothing left behind.

use std::path::PathBuf;

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::helpers::{TestApp, User, eventually, eventually_some, expect_error};

#[path = "../../../tusk-media/tests/support/mod.rs"]
pub mod files;

/// A 1200x900 photo (a real JPEG) carrying EXIF GPS tags and orientation 6 (rotated 90°).
fn photo_with_gps() -> Vec<u8> {
    let jpeg = files::jpeg(&files::gradient(1200, 900)).unwrap();
    files::with_app1_exif(&jpeg, &files::exif_tiff(6))
}

fn upload_form(bytes: Vec<u8>, name: &str, mime: &str) -> Form {
    Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()).mime_str(mime).unwrap())
}

impl TestApp {
    /// Uploads through `POST /api/v2/media` and waits until processed: the attachment.
    async fn upload(&self, user: &User, form: Form) -> Value {
        let response = self
            .http
            .post(self.url("/api/v2/media"))
            .bearer_auth(&user.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let media: Value = response.json().await.unwrap();
        assert!(status == StatusCode::OK || status == StatusCode::ACCEPTED, "{status} {media}");
        assert_eq!(media["url"].is_null(), status == StatusCode::ACCEPTED, "{media}");
        self.processed(user, media["id"].as_str().unwrap()).await
    }

    /// Polls `GET /api/v1/media/:id` (206 while processing) until it is 200.
    async fn processed(&self, user: &User, id: &str) -> Value {
        let url = self.url(&format!("/api/v1/media/{id}"));
        eventually_some("the upload to be processed", || async {
            let response = self.get_as(&url, &user.token).await;
            let status = response.status();
            assert!(status == StatusCode::OK || status == StatusCode::PARTIAL_CONTENT, "{status}");
            let media: Value = response.json().await.unwrap();
            (status == StatusCode::OK).then_some(media)
        })
        .await
    }

    async fn fetch(&self, url: &str) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let response = self.get(url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let headers = response.headers().clone();
        (headers, response.bytes().await.unwrap().to_vec())
    }

    async fn media_rows(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM media_attachments")
            .fetch_one(self.deps.store.pool())
            .await
            .unwrap()
    }

    async fn statuses_count(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM statuses").fetch_one(self.deps.store.pool()).await.unwrap()
    }

    /// The files in the app's local media directory.
    fn stored_files(&self) -> Vec<PathBuf> {
        let tusk_media::StorageConfig::Local { root } = &self.conn.media else { panic!("not local") };
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() { walk(&path, out) } else { out.push(path) }
            }
        }
        let mut out = Vec::new();
        walk(root, &mut out);
        out
    }
}

/// Every byte pattern a photo's metadata would leave: EXIF (and its GPS IFD's reference
/// letters next to their tags), XMP, the APP1 marker.
fn assert_no_metadata(bytes: &[u8], what: &str) {
    for needle in [&b"Exif"[..], b"http://ns.adobe.com/xap", b"\xFF\xE1", b"GPS"] {
        assert!(
            !files::contains(bytes, needle),
            "{what} still carries {:?}",
            String::from_utf8_lossy(needle)
        );
    }
}

#[tokio::test]
async fn a_photo_is_processed_stripped_posted_and_reaches_a_followers_home() {
    let app = TestApp::spawn().await;
    let (alice, bob) = app.alice_follows_bob().await;
    let media = app.upload(&bob, upload_form(photo_with_gps(), "beach.jpg", "image/jpeg")).await;
    assert_eq!(media["type"], "image");
    assert!(media["blurhash"].as_str().is_some_and(|b| b.len() >= 6), "{media}");
    // orientation 6 is applied: the 1200x900 photo stands upright
    assert_eq!(media["meta"]["original"]["width"], 900, "{media}");
    assert_eq!(media["meta"]["original"]["height"], 1200);
    let small = &media["meta"]["small"];
    assert!(small["width"].as_u64().unwrap() * small["height"].as_u64().unwrap() <= 230_400, "{small}");
    // every variant served is free of the photo's metadata, and the raw upload is gone
    for variant in ["url", "preview_url"] {
        let (headers, bytes) = app.fetch(media[variant].as_str().unwrap()).await;
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_no_metadata(&bytes, variant);
    }
    let files = app.stored_files();
    assert_eq!(files.len(), 2, "original and small only, no raw upload left: {files:?}");

    // alt text set before posting, the post shows it; then a focal point after posting
    let described = app
        .http
        .put(app.url(&format!("/api/v1/media/{}", media["id"].as_str().unwrap())))
        .bearer_auth(&bob.token)
        .json(&json!({ "description": "A beach at dawn" }))
        .send()
        .await
        .unwrap();
    assert_eq!(described.status(), StatusCode::OK);
    let posted = app
        .post_json_as(
            app.url("/api/v1/statuses"),
            &bob.token,
            &json!({ "status": "", "media_ids": [media["id"]], "sensitive": true }),
        )
        .await;
    assert_eq!(posted.status(), StatusCode::OK, "a post with media may have no text");
    let posted: Value = posted.json().await.unwrap();
    assert_eq!(posted["sensitive"], true);
    assert_eq!(posted["media_attachments"][0]["id"], media["id"]);
    assert_eq!(posted["media_attachments"][0]["description"], "A beach at dawn");
    let focused = app
        .http
        .put(app.url(&format!("/api/v1/media/{}", media["id"].as_str().unwrap())))
        .bearer_auth(&bob.token)
        .form(&[("focus", "0.5,-0.25")])
        .send()
        .await
        .unwrap();
    assert_eq!(focused.status(), StatusCode::OK);

    eventually("the post to reach alice's home", || async {
        app.home_ids(&alice, "").await.contains(&posted["id"].as_str().unwrap().to_owned())
    })
    .await;
    let home = app.get_json(&alice.token, "/api/v1/timelines/home").await;
    let shown = &home[0]["media_attachments"][0];
    assert_eq!(shown["url"], media["url"]);
    assert_eq!(shown["preview_url"], media["preview_url"]);
    assert_eq!(shown["meta"]["focus"], json!({ "x": 0.5, "y": -0.25 }), "the edit shows at once");
    assert_eq!(shown["description"], "A beach at dawn");
    // only_media keeps it on the public and the account timelines, and leaves text posts out
    app.post_status(&bob, "just words").await;
    for path in [
        format!("/api/v1/accounts/{}/statuses?only_media=true", bob.id),
        "/api/v1/timelines/public?only_media=true".into(),
    ] {
        let page = app.get_json(&alice.token, &path).await;
        let ids: Vec<&str> = page.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [posted["id"].as_str().unwrap()], "{path}");
    }
    // attached: it cannot be deleted, nor attached again
    let delete = app
        .http
        .delete(app.url(&format!("/api/v1/media/{}", media["id"].as_str().unwrap())))
        .bearer_auth(&bob.token)
        .send()
        .await
        .unwrap();
    expect_error(delete, StatusCode::UNPROCESSABLE_ENTITY).await;
    let again = app
        .post_json_as(
            app.url("/api/v1/statuses"),
            &bob.token,
            &json!({ "status": "again", "media_ids": [media["id"]] }),
        )
        .await;
    expect_error(again, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn media_ids_that_are_unknown_foreign_or_too_many_post_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let bob = app.sign_up("bob").await;
    let png = files::png_rgb(&files::gradient(64, 48)).unwrap();
    let bobs = app.upload(&bob, upload_form(png.clone(), "a.png", "image/png")).await;
    let mut mine = Vec::new();
    for _ in 0..5 {
        mine.push(app.upload(&alice, upload_form(png.clone(), "a.png", "image/png")).await["id"].clone());
    }
    let before = app.statuses_count().await;
    for media_ids in [json!(["1"]), json!([bobs["id"]]), json!(mine), json!(["not-an-id"])] {
        let response = app
            .post_json_as(
                app.url("/api/v1/statuses"),
                &alice.token,
                &json!({ "status": "hi", "media_ids": media_ids }),
            )
            .await;
        let status = response.status();
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST,
            "{media_ids}: {status}"
        );
        assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    }
    assert_eq!(app.statuses_count().await, before, "nothing was posted");
    // four of one's own, in the order given, from a form
    let form: Vec<(&str, &str)> =
        mine[..4].iter().rev().map(|id| ("media_ids[]", id.as_str().unwrap())).collect();
    let response = app
        .http
        .post(app.url("/api/v1/statuses"))
        .bearer_auth(&alice.token)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let posted: Value = response.json().await.unwrap();
    let ids: Vec<&Value> = posted["media_attachments"].as_array().unwrap().iter().map(|m| &m["id"]).collect();
    assert_eq!(ids, mine[..4].iter().rev().collect::<Vec<_>>());
}

#[tokio::test]
async fn bad_uploads_get_mastodon_errors_and_leave_nothing_behind() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let send =
        |form: Form| app.http.post(app.url("/api/v2/media")).bearer_auth(&alice.token).multipart(form).send();
    // a text file named .png
    let text = send(upload_form(b"hello, I am not a picture".to_vec(), "x.png", "image/png")).await.unwrap();
    expect_error(text, StatusCode::UNPROCESSABLE_ENTITY).await;
    // a decompression bomb's header: refused before anything is decoded
    let bomb =
        send(upload_form(files::png_claiming(100_000, 100_000), "bomb.png", "image/png")).await.unwrap();
    expect_error(bomb, StatusCode::UNPROCESSABLE_ENTITY).await;
    // over the image limit (16 MB)
    let mut huge = files::jpeg(&files::gradient(8, 8)).unwrap();
    huge.resize(17 * 1024 * 1024, 0);
    let huge = send(upload_form(huge, "huge.jpg", "image/jpeg")).await.unwrap();
    expect_error(huge, StatusCode::PAYLOAD_TOO_LARGE).await;
    // no file at all
    let empty = send(Form::new().text("description", "nothing")).await.unwrap();
    expect_error(empty, StatusCode::UNPROCESSABLE_ENTITY).await;
    // an alt text over 1,500 characters
    let long = upload_form(files::png_rgb(&files::gradient(8, 8)).unwrap(), "a.png", "image/png")
        .text("description", "x".repeat(1501));
    expect_error(send(long).await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.media_rows().await, 0);
    assert!(app.stored_files().is_empty(), "{:?}", app.stored_files());

    // a file whose header passes but whose body is broken fails in the worker: GET says why
    let mut broken = files::png_rgb(&files::gradient(300, 300)).unwrap();
    broken.truncate(60);
    let response = send(upload_form(broken, "broken.png", "image/png")).await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    let failed = if status == StatusCode::ACCEPTED {
        let url = app.url(&format!("/api/v1/media/{}", body["id"].as_str().unwrap()));
        eventually("the broken upload to fail", || async {
            app.get_as(&url, &alice.token).await.status() != StatusCode::PARTIAL_CONTENT
        })
        .await;
        expect_error(app.get_as(&url, &alice.token).await, StatusCode::UNPROCESSABLE_ENTITY).await
    } else {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        body
    };
    assert!(failed["error"].is_string());
    assert!(app.stored_files().is_empty(), "a failed upload keeps no bytes: {:?}", app.stored_files());
}

#[tokio::test]
async fn files_are_served_immutable_with_ranges_and_nothing_outside_them() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let png = files::png_rgb(&files::gradient(200, 100)).unwrap();
    let media = app.upload(&alice, upload_form(png, "a.png", "image/png")).await;
    let url = media["url"].as_str().unwrap();
    let whole = app.get(url).await;
    assert_eq!(whole.status(), StatusCode::OK);
    let headers = whole.headers().clone();
    assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-type"], "image/png");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let body = whole.bytes().await.unwrap();
    let part = app.http.get(url).header("range", "bytes=0-9").send().await.unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], format!("bytes 0-9/{}", body.len()).as_str());
    assert_eq!(part.bytes().await.unwrap(), body.slice(0..10));
    let unchanged = app.http.get(url).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
    let past = app.http.get(url).header("range", format!("bytes={}-", body.len() + 10)).send().await.unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    // nothing but processed variants can be named
    let raw = format!("/system/uploads/{}/0123456789abcdef/original.png", alice.id);
    for path in [
        "/system/../../etc/passwd",
        "/system/media_attachments/1/..%2F..%2F/original.png",
        "/system/media_attachments/1/0123456789abcdef/original.png",
        "/system/media_attachments/1/0123456789ABCDEF/original.png",
        "/system/media_attachments/1/0123456789abcdef/original.exe",
        &raw,
    ] {
        let response = app.get(app.url(path)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // the default pictures exist
    for path in ["/avatars/original/missing.png", "/headers/original/missing.png"] {
        let (headers, bytes) = app.fetch(&app.url(path)).await;
        assert_eq!(headers["content-type"], "image/png");
        assert!(bytes.starts_with(b"\x89PNG"));
    }
}

#[tokio::test]
async fn avatars_and_headers_are_cropped_stripped_and_replace_the_old_ones() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let me = app.get_json(&alice.token, "/api/v1/accounts/verify_credentials").await;
    assert!(me["avatar"].as_str().unwrap().ends_with("/avatars/original/missing.png"));
    let update = |avatar: Vec<u8>| {
        let jpeg =
            files::with_app1_exif(&files::jpeg(&files::gradient(1600, 900)).unwrap(), &files::exif_tiff(1));
        let form = Form::new()
            .text("display_name", "Alice")
            .part("avatar", Part::bytes(avatar).file_name("me.png"))
            .part("header", Part::bytes(jpeg).file_name("header.jpg"));
        app.http
            .patch(app.url("/api/v1/accounts/update_credentials"))
            .bearer_auth(&alice.token)
            .multipart(form)
            .send()
    };
    let response = update(files::png_rgb(&files::gradient(1000, 600)).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["display_name"], "Alice");
    let account_path = format!("/api/v1/accounts/{}", alice.id);
    let account = eventually_some("the new pictures to show", || async {
        let account = app.get_json(&alice.token, &account_path).await;
        let shown = |field: &str| !account[field].as_str().unwrap().ends_with("missing.png");
        (shown("avatar") && shown("header")).then_some(account)
    })
    .await;
    for (field, size) in [("avatar", (400, 400)), ("header", (1500, 500))] {
        let (_, bytes) = app.fetch(account[field].as_str().unwrap()).await;
        let picture = image::load_from_memory(&bytes).unwrap();
        assert_eq!((picture.width(), picture.height()), size, "{field}");
        assert_no_metadata(&bytes, field);
        assert_eq!(account[format!("{field}_static")], account[field], "not animated");
    }
    // an animated avatar keeps its animation, with a still for apps that show none
    let first = account["avatar"].as_str().unwrap().to_owned();
    let response = update(files::animated_gif(500, 500, 3).unwrap()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let account = eventually_some("the animated avatar to show", || async {
        let account = app.get_json(&alice.token, &account_path).await;
        let avatar = account["avatar"].as_str().unwrap();
        (avatar != first && avatar.rsplit('.').next() == Some("gif")).then_some(account)
    })
    .await;
    assert_ne!(account["avatar_static"], account["avatar"]);
    assert_eq!(app.get(&first).await.status(), StatusCode::NOT_FOUND, "the replaced avatar is deleted");
    // a text file is no avatar: 422, and nothing of the request is written
    let response = update(b"not a picture".to_vec()).await.unwrap();
    expect_error(response, StatusCode::UNPROCESSABLE_ENTITY).await;
}

#[tokio::test]
async fn a_video_is_transcoded_with_a_poster_and_its_duration() {
    let app = TestApp::spawn().await;
    let alice = app.sign_up("alice").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mov");
    files::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x240:rate=25:duration=2",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2",
        "-metadata",
        "location=+48.8584+002.2945/",
        "-metadata",
        "title=secret",
        "-shortest",
        "-c:v",
        "mpeg4",
        "-c:a",
        "aac",
        path.to_str().unwrap(),
    ])
    .unwrap();
    let response = app
        .http
        .post(app.url("/api/v2/media"))
        .bearer_auth(&alice.token)
        .multipart(upload_form(std::fs::read(&path).unwrap(), "clip.mov", "video/quicktime"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED, "a video is processed after the answer");
    let pending: Value = response.json().await.unwrap();
    assert_eq!(pending["type"], "video");
    assert!(pending["url"].is_null());
    let media = app.processed(&alice, pending["id"].as_str().unwrap()).await;
    assert_eq!(media["type"], "video");
    let duration = media["meta"]["original"]["duration"].as_f64().unwrap();
    assert!((1.5..2.5).contains(&duration), "{media}");
    let (headers, video) = app.fetch(media["url"].as_str().unwrap()).await;
    assert_eq!(headers["content-type"], "video/mp4");
    assert!(!files::contains(&video, b"secret") && !files::contains(&video, b"+48.8584"), "metadata left");
    let (headers, _) = app.fetch(media["preview_url"].as_str().unwrap()).await;
    assert_eq!(headers["content-type"], "image/jpeg");
}

#[tokio::test]
async fn on_s3_an_upload_is_processed_served_and_swept_when_left_unattached() {
    let app = TestApp::spawn_on_s3().await;
    let alice = app.sign_up("alice").await;
    let media = app.upload(&alice, upload_form(photo_with_gps(), "beach.jpg", "image/jpeg")).await;
    for variant in ["url", "preview_url"] {
        let (headers, bytes) = app.fetch(media[variant].as_str().unwrap()).await;
        assert_eq!(headers["content-type"], "image/jpeg");
        assert_no_metadata(&bytes, variant);
    }
    let storage = tusk_media::MediaStorage::new(&app.conn.media).unwrap();
    let key = media["url"].as_str().unwrap().split("/system/").nth(1).unwrap().to_owned();
    assert!(storage.get(&key).await.is_ok(), "the object is in the bucket");
    // a day later, still unattached: the sweep deletes the objects and the row
    sqlx::query("UPDATE media_attachments SET created_at = now() - interval '25 hours'")
        .execute(app.deps.store.pool())
        .await
        .unwrap();
    let deleted = app.service().sweep_media().await.unwrap();
    assert_eq!(deleted, 1);
    assert!(matches!(storage.get(&key).await, Err(tusk_media::MediaError::NotFound)));
    assert_eq!(app.media_rows().await, 0);
    assert_eq!(app.get(media["url"].as_str().unwrap()).await.status(), StatusCode::NOT_FOUND);
}
