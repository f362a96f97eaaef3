//! A file behind a URL — `http(s)://`, or one object of a store (`s3://`, `gs://`, `az://`, with the
//! store's credentials from the environment) — fetched with the object-store crate's client (the one the
//! shared store uses), its length checked, a `.gz` file unpacked, then imported like a local file. Each
//! pull asks with `If-None-Match` (the recorded `ETag`) or `If-Modified-Since`: an unchanged file is one
//! request answered `304` and no download.

use std::path::Path;

use object_store::{GetOptions, ObjectStore};
use serde_json::json;

use crate::{CoreError, ImportOptions, Result};

/// What a fetch saw of the file, recorded with its version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Seen {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub bytes: u64,
}

impl Seen {
    pub fn to_json(&self) -> serde_json::Value {
        json!({ "etag": self.etag, "last_modified": self.last_modified, "bytes": self.bytes })
    }

    pub fn from_json(v: &serde_json::Value) -> Self {
        Self {
            etag: v["etag"].as_str().map(str::to_owned),
            last_modified: v["last_modified"].as_str().map(str::to_owned),
            bytes: v["bytes"].as_u64().unwrap_or(0),
        }
    }
}

/// Whether `source` is a URL Kiln fetches over HTTP.
pub fn is_http_url(source: &str) -> bool {
    source.starts_with("https://") || source.starts_with("http://")
}

/// The schemes of object stores (Amazon S3 and S3-compatible stores, Google Cloud Storage, Azure).
const STORE_SCHEMES: [&str; 8] = ["s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "adl"];

/// Whether `source` names one object of a store (`s3://bucket/key`, `gs://…`, `az://container/…`).
pub fn is_store_url(source: &str) -> bool {
    source
        .split_once("://")
        .is_some_and(|(scheme, _)| STORE_SCHEMES.contains(&scheme))
}

/// Whether `source` is one file Kiln fetches by its URL: over HTTP, or one object of a store (a store URL
/// with wildcards is a pattern of several).
pub fn is_fetched_url(source: &str) -> bool {
    is_http_url(source) || (is_store_url(source) && !super::is_pattern(source))
}

/// The URL as recorded: without a user name, password or fragment.
pub(super) fn recorded_url(url: &url::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_fragment(None);
    u.to_string()
}

/// Whether the URL names a gzip file (`….gz`).
pub(super) fn is_gzip(url: &url::Url) -> bool {
    Path::new(url.path())
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// The file's name in the URL, without a `.gz` (what the format is told by).
pub(super) fn file_name(url: &url::Url) -> String {
    let last = url
        .path_segments()
        .and_then(|mut s| s.next_back().map(str::to_owned))
        .unwrap_or_default();
    if is_gzip(url) {
        Path::new(&last)
            .file_stem()
            .map_or(last.clone(), |s| s.to_string_lossy().to_string())
    } else {
        last
    }
}

fn error(url: &str, what: &str, e: impl std::fmt::Display) -> CoreError {
    CoreError::Invalid(format!("{url}: {what}: {e}"))
}

/// The first `limit` bytes of the file behind `url` (unpacked when `.gz`), cut after their last line
/// break, into `dest`: enough to preview the first rows without fetching the file.
pub(super) fn fetch_head(url: &url::Url, limit: usize, dest: &Path) -> Result<()> {
    let shown = recorded_url(url);
    let (store, path) = store_for(url)?;
    let runtime = crate::objects::runtime()?;
    let mut bytes = runtime.block_on(async {
        use futures_util::StreamExt;
        let got = store
            .get_opts(&path, GetOptions::default())
            .await
            .map_err(|e| match e {
                object_store::Error::NotFound { .. } => {
                    error(&shown, "not found", "the server answered 404")
                }
                e => error(&shown, "cannot fetch", e),
            })?;
        let mut out = Vec::new();
        let mut stream = got.into_stream();
        // Dropping the stream after `limit` bytes closes the connection: the rest is never sent.
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.map_err(|e| error(&shown, "cannot fetch", e))?);
            if out.len() >= limit {
                break;
            }
        }
        Ok::<_, CoreError>(out)
    })?;
    if is_gzip(url) {
        let mut decoder = flate2::read::MultiGzDecoder::new(&bytes[..]);
        let mut unpacked = Vec::new();
        let mut buf = vec![0u8; 64 << 10];
        // A cut gzip stream ends in an error: what came before it is kept.
        while let Ok(n) = std::io::Read::read(&mut decoder, &mut buf) {
            if n == 0 || unpacked.len() > 4 * limit {
                break;
            }
            unpacked.extend_from_slice(&buf[..n]);
        }
        bytes = unpacked;
    }
    if let Some(end) = bytes.iter().rposition(|&b| b == b'\n') {
        bytes.truncate(end + 1);
    }
    std::fs::write(dest, &bytes).map_err(|e| CoreError::io(dest, e))
}

/// The client for `url` — an HTTP client for its origin, or the store's — and the file's path on it.
fn store_for(
    url: &url::Url,
) -> Result<(std::sync::Arc<dyn ObjectStore>, object_store::path::Path)> {
    let shown = recorded_url(url);
    if is_store_url(url.as_str()) {
        let bucket = url.host_str().unwrap_or_default();
        let remote = crate::objects::Remote::connect(&format!("{}://{bucket}", url.scheme()))?;
        let path = object_store::path::Path::from_url_path(url.path())
            .map_err(|e| error(&shown, "not an object's URL", e))?;
        return Ok((remote.object_store(), path));
    }
    let origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    let origin = match url.port() {
        Some(p) => format!("{origin}:{p}"),
        None => origin,
    };
    let store = object_store::http::HttpBuilder::new()
        .with_url(origin)
        .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
        .with_retry(object_store::RetryConfig {
            max_retries: 2,
            retry_timeout: std::time::Duration::from_secs(20),
            ..Default::default()
        })
        .build()
        .map_err(|e| error(&shown, "not a URL Kiln can fetch", e))?;
    let path = object_store::path::Path::from_url_path(url.path())
        .map_err(|e| error(&shown, "not a file's URL", e))?;
    Ok((std::sync::Arc::new(store), path))
}

/// Fetch `url` into the file `dest` unless it is unchanged since `since` (then `None`: one request, no
/// body). The bytes received must be as many as the server announced.
pub(super) fn fetch(url: &url::Url, since: Option<&Seen>, dest: &Path) -> Result<Option<Seen>> {
    let shown = recorded_url(url);
    let (store, path) = store_for(url)?;
    let options = GetOptions {
        if_none_match: since.and_then(|s| s.etag.clone()),
        if_modified_since: since
            .filter(|s| s.etag.is_none())
            .and_then(|s| s.last_modified.as_deref())
            .and_then(parse_http_time),
        ..Default::default()
    };
    let runtime = crate::objects::runtime()?;
    runtime.block_on(async {
        let got = match store.get_opts(&path, options).await {
            Ok(got) => got,
            Err(object_store::Error::NotModified { .. }) => return Ok(None),
            Err(object_store::Error::NotFound { .. }) => {
                return Err(error(&shown, "not found", "the server answered 404"));
            }
            Err(e) => return Err(error(&shown, "cannot fetch", e)),
        };
        let meta = got.meta.clone();
        let mut out = std::fs::File::create(dest).map_err(|e| CoreError::io(dest, e))?;
        let received = crate::objects::write_body(
            got.into_stream(),
            (&mut out, dest),
            |_| {},
            |e| error(&shown, "download cut short", e),
        )
        .await?;
        if received != meta.size {
            return Err(error(
                &shown,
                "download cut short",
                format!("{received} of {} bytes", meta.size),
            ));
        }
        // A temp file read once by the import, whose own object is synced: no fsync of the download.
        Ok(Some(Seen {
            etag: meta.e_tag,
            last_modified: Some(meta.last_modified.to_rfc2822()),
            bytes: received,
        }))
    })
}

/// An RFC 2822 time as recorded back into the type `If-Modified-Since` takes.
fn parse_http_time(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc2822(t)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// Unpack a gzip file into `dest`.
pub(super) fn gunzip(src: &Path, dest: &Path) -> Result<()> {
    let input = std::fs::File::open(src).map_err(|e| CoreError::io(src, e))?;
    let mut decoder = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(input));
    let mut out = std::fs::File::create(dest).map_err(|e| CoreError::io(dest, e))?;
    std::io::copy(&mut decoder, &mut out)
        .map_err(|e| CoreError::Invalid(format!("not a readable gzip file: {e}")))?;
    Ok(())
}

/// The import options for a fetched file: the format from the URL's file name when not given.
pub(super) fn options_for(url: &url::Url, opts: &ImportOptions) -> ImportOptions {
    let mut opts = opts.clone();
    if opts.format == kiln_data::Format::Auto
        && let Some(f) = Path::new(&file_name(url))
            .extension()
            .and_then(|e| e.to_str())
            .and_then(kiln_data::Format::parse)
    {
        opts.format = f;
    }
    opts
}
