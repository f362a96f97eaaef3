//! Content-addressed files under `objects/`. Every write goes to `objects/tmp/` first, is fsynced, hashed
//! and only then renamed to `objects/<aa>/<hash>.<ext>`, so a crash never leaves a half-written object
//! under its final name. Reads and writes of objects go through this one type.
//!
//! A team workspace keeps its objects in a shared store (any S3-compatible store, or a shared folder as a
//! `file://` URL) through the `object_store` crate; the folder here is then this client's cache of them:
//! an object is fetched when first read (its blake3 checked against its name), uploaded when committed
//! (hashed while it is sent, multipart when large), and the least recently used are evicted past the
//! cache's size (`KILN_CACHE_MB`, 10 GiB by default).

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use object_store::ObjectStoreExt as _;

use crate::CoreError;

#[derive(Clone, Debug)]
pub struct ObjectStore {
    root: PathBuf,
    remote: Option<Remote>,
}

/// The shared object store of a team workspace.
#[derive(Clone)]
pub struct Remote {
    store: std::sync::Arc<dyn object_store::ObjectStore>,
    prefix: object_store::path::Path,
    url: String,
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
    cache_bytes: u64,
    /// Objects up to this size are fetched whole when first read, larger ones by byte ranges.
    ranged_bytes: u64,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({})", self.url)
    }
}

/// The credentials, region and endpoint of the AWS profile (`AWS_PROFILE`, else `default`) from
/// `~/.aws/credentials` and `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`).
fn aws_profile_options() -> Vec<(String, String)> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, name: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    profile_settings(
        &file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        &file("AWS_CONFIG_FILE", "config"),
        &profile,
    )
}

/// The object store options of `profile` in the text of an AWS credentials file and config file (where
/// a profile other than `default` is `[profile NAME]`); the credentials file wins.
pub fn profile_settings(credentials: &str, config: &str, profile: &str) -> Vec<(String, String)> {
    let section = |text: &str, header: &str| -> Vec<(String, String)> {
        let mut inside = false;
        let mut out = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                inside = line == header;
            } else if inside && let Some((k, v)) = line.split_once('=') {
                out.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        out
    };
    let config_header = if profile == "default" {
        "[default]".to_owned()
    } else {
        format!("[profile {profile}]")
    };
    let mut settings = section(config, &config_header);
    settings.extend(section(credentials, &format!("[{profile}]")));
    settings
        .into_iter()
        .filter_map(|(k, v)| {
            let key = match k.as_str() {
                "aws_access_key_id" => "aws_access_key_id",
                "aws_secret_access_key" => "aws_secret_access_key",
                "aws_session_token" => "aws_session_token",
                "region" => "aws_region",
                "endpoint_url" => "aws_endpoint",
                _ => return None,
            };
            Some((key.to_owned(), v))
        })
        .collect()
}

/// One runtime for every object store this process opens (workspaces are opened per worker thread).
static RUNTIME: std::sync::OnceLock<std::sync::Arc<tokio::runtime::Runtime>> =
    std::sync::OnceLock::new();

static CLIENT_OPTIONS: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// The runtime the object stores' (and remote sources') requests run on, started on first use.
pub(crate) fn runtime() -> Result<std::sync::Arc<tokio::runtime::Runtime>, CoreError> {
    if let Some(r) = RUNTIME.get() {
        return Ok(r.clone());
    }
    let r = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kiln-objects")
        .enable_all()
        .build()
        .map_err(|e| CoreError::Invalid(format!("object store runtime: {e}")))?;
    Ok(RUNTIME.get_or_init(|| std::sync::Arc::new(r)).clone())
}

/// Object store options (`aws_endpoint`, `aws_allow_http`, …) for every store this process opens, after
/// the stores' variables: for a program embedding Kiln, and tests pointing at their own servers. Options
/// add up; a key given again takes the new value.
pub fn set_client_options(options: Vec<(String, String)>) {
    if let Ok(mut all) = CLIENT_OPTIONS.lock() {
        all.retain(|(k, _)| !options.iter().any(|(o, _)| o == k));
        all.extend(options);
    }
}

/// Objects larger than this are uploaded in parts.
const MULTIPART_BYTES: u64 = 16 << 20;

impl Remote {
    /// Connect to the store at `url` (`s3://bucket/prefix`, `gs://bucket`, `az://container`,
    /// `file:///shared/folder`, `memory://`), with credentials and endpoint from each store's standard
    /// variables: `AWS_*` (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// `AWS_ALLOW_HTTP`, and the AWS profile files), `GOOGLE_*` (`GOOGLE_SERVICE_ACCOUNT`,
    /// `GOOGLE_APPLICATION_CREDENTIALS`), `AZURE_*` (`AZURE_STORAGE_ACCOUNT_NAME`,
    /// `AZURE_STORAGE_ACCOUNT_KEY` or `AZURE_STORAGE_SAS_KEY`, `AZURE_STORAGE_ENDPOINT`).
    pub fn connect(url: &str) -> Result<Self, CoreError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| CoreError::Invalid(format!("`{url}` is not an object store URL: {e}")))?;
        // The AWS profile files first, the `AWS_*` variables over them, as the AWS tools read them.
        let mut options = aws_profile_options();
        // Each store's own variables (`GOOGLE_SERVICE_ACCOUNT`, `AZURE_STORAGE_ACCOUNT_NAME`, …): a
        // store takes the ones it knows.
        options.extend(
            std::env::vars()
                .filter(|(k, _)| {
                    ["AWS_", "GOOGLE_", "AZURE_"]
                        .iter()
                        .any(|p| k.starts_with(p))
                })
                .map(|(k, v)| (k.to_ascii_lowercase(), v)),
        );
        if let Ok(extra) = CLIENT_OPTIONS.lock() {
            options.extend(extra.iter().cloned());
        }
        let (store, prefix) = object_store::parse_url_opts(&parsed, options)
            .map_err(|e| CoreError::Invalid(format!("object store {url}: {e}")))?;
        let runtime = runtime()?;
        let cache_bytes = std::env::var("KILN_CACHE_MB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(10 << 30, |mb| mb << 20);
        let ranged_bytes = std::env::var("KILN_RANGED_MB")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(16 << 20, |mb| mb << 20);
        Ok(Self {
            store: std::sync::Arc::from(store),
            prefix,
            url: url.to_owned(),
            runtime,
            cache_bytes,
            ranged_bytes,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The store's client.
    pub(crate) fn object_store(&self) -> std::sync::Arc<dyn object_store::ObjectStore> {
        self.store.clone()
    }

    /// Read objects larger than `bytes` by byte ranges (`KILN_RANGED_MB`, 16 MiB by default).
    #[must_use]
    pub fn with_ranged_bytes(mut self, bytes: u64) -> Self {
        self.ranged_bytes = bytes;
        self
    }

    fn key(&self, relative: &str) -> object_store::path::Path {
        relative
            .split('/')
            .fold(self.prefix.clone(), |p, part| p.clone().join(part))
    }

    fn error(&self, what: &str, relative: &str, e: impl std::fmt::Display) -> CoreError {
        CoreError::Invalid(format!("object store {}: {what} {relative}: {e}", self.url))
    }

    fn get_error(&self, relative: &str, e: object_store::Error) -> CoreError {
        match e {
            object_store::Error::NotFound { .. } => {
                self.error("is missing", relative, "no such object")
            }
            e => self.error("cannot download", relative, e),
        }
    }

    /// The objects whose keys start with `prefix` (under the store's own prefix), in key order.
    pub(crate) fn list(&self, prefix: &str) -> Result<Vec<object_store::ObjectMeta>, CoreError> {
        use futures_util::TryStreamExt;
        let key = if prefix.is_empty() {
            self.prefix.clone()
        } else {
            self.key(prefix)
        };
        let mut found: Vec<object_store::ObjectMeta> = self
            .runtime
            .block_on(self.store.list(Some(&key)).try_collect())
            .map_err(|e| self.error("cannot list", prefix, e))?;
        found.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(found)
    }

    /// Fetch the object at `location` (a full key, as listed) into `dest`, its length checked.
    pub(crate) fn fetch_to(
        &self,
        location: &object_store::path::Path,
        size: u64,
        dest: &Path,
    ) -> Result<(), CoreError> {
        let shown = location.to_string();
        let mut out = File::create(dest).map_err(|e| CoreError::io(dest, e))?;
        let received = self.runtime.block_on(async {
            let got = self
                .store
                .get(location)
                .await
                .map_err(|e| self.get_error(&shown, e))?;
            write_body(
                got.into_stream(),
                (&mut out, dest),
                |_| {},
                |e| self.error("download cut short:", &shown, e),
            )
            .await
        })?;
        if received != size {
            return Err(self.error(
                "download cut short:",
                &shown,
                format!("{received} of {size} bytes"),
            ));
        }
        Ok(())
    }

    /// Whether the store has `relative` with `size` bytes.
    pub fn has(&self, relative: &str, size: u64) -> Result<bool, CoreError> {
        match self.runtime.block_on(self.store.head(&self.key(relative))) {
            Ok(meta) => Ok(meta.size == size),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error("cannot look up", relative, e)),
        }
    }

    /// Upload the file at `path` as `relative` unless the store has it; what is sent is hashed on the
    /// way and must match the hash in its name.
    pub fn upload(&self, relative: &str, path: &Path) -> Result<(), CoreError> {
        let size = std::fs::metadata(path)
            .map_err(|e| CoreError::io(path, e))?
            .len();
        if self.has(relative, size)? {
            return Ok(());
        }
        let key = self.key(relative);
        let mut file = File::open(path).map_err(|e| CoreError::io(path, e))?;
        let mut hasher = blake3::Hasher::new();
        self.runtime.block_on(async {
            if size <= MULTIPART_BYTES {
                let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                file.read_to_end(&mut buf)
                    .map_err(|e| CoreError::io(path, e))?;
                hasher.update(&buf);
                check_hash(relative, &hasher.finalize().to_hex())?;
                self.store
                    .put(&key, buf.into())
                    .await
                    .map_err(|e| self.error("cannot upload", relative, e))?;
            } else {
                let upload = self
                    .store
                    .put_multipart(&key)
                    .await
                    .map_err(|e| self.error("cannot start uploading", relative, e))?;
                let mut writer = object_store::WriteMultipart::new(upload);
                let mut buf = vec![0u8; 8 << 20];
                loop {
                    let n = file.read(&mut buf).map_err(|e| CoreError::io(path, e))?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    writer
                        .wait_for_capacity(4)
                        .await
                        .map_err(|e| self.error("cannot upload", relative, e))?;
                    writer.write(&buf[..n]);
                }
                if let Err(e) = check_hash(relative, &hasher.finalize().to_hex()) {
                    let _ = writer.abort().await;
                    return Err(e);
                }
                writer
                    .finish()
                    .await
                    .map_err(|e| self.error("cannot finish uploading", relative, e))?;
            }
            Ok(())
        })?;
        if !self.has(relative, size)? {
            return Err(self.error(
                "the upload did not arrive whole:",
                relative,
                format!("expected {size} bytes"),
            ));
        }
        Ok(())
    }

    /// Download `relative` to `dest` through a temp file beside it, checking its hash.
    pub fn download(&self, relative: &str, dest: &Path, tmp: &Path) -> Result<(), CoreError> {
        let key = self.key(relative);
        let mut out = File::create(tmp).map_err(|e| CoreError::io(tmp, e))?;
        let mut hasher = blake3::Hasher::new();
        let result = self.runtime.block_on(async {
            let got = self
                .store
                .get(&key)
                .await
                .map_err(|e| self.get_error(relative, e))?;
            let seen = |chunk: &[u8]| {
                hasher.update(chunk);
            };
            write_body(got.into_stream(), (&mut out, tmp), seen, |e| {
                self.error("download cut short:", relative, e)
            })
            .await
            .map(|_| ())
        });
        let result = result.and_then(|()| check_hash(relative, &hasher.finalize().to_hex()));
        let result = result.and_then(|()| {
            out.sync_all().map_err(|e| CoreError::io(tmp, e))?;
            if let Some(dir) = dest.parent() {
                std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
            }
            std::fs::rename(tmp, dest).map_err(|e| CoreError::io(dest, e))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(tmp);
        }
        result
    }
}

/// Write a download's body into `out` (the file at the path given) in large blocks — it arrives in frames
/// of a few KiB, and a system call each costs seconds a GiB — handing each frame to `seen` first; the
/// bytes written. A failed frame is `cut`'s error.
pub(crate) async fn write_body<B: AsRef<[u8]>>(
    mut stream: impl futures_util::Stream<Item = object_store::Result<B>> + Unpin,
    (out, path): (&mut File, &Path),
    mut seen: impl FnMut(&[u8]),
    cut: impl Fn(object_store::Error) -> CoreError,
) -> Result<u64, CoreError> {
    use futures_util::StreamExt;
    use std::io::Write;
    let mut buffered = std::io::BufWriter::with_capacity(4 << 20, out);
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(&cut)?;
        let chunk = chunk.as_ref();
        seen(chunk);
        n += chunk.len() as u64;
        buffered
            .write_all(chunk)
            .map_err(|e| CoreError::io(path, e))?;
    }
    buffered.flush().map_err(|e| CoreError::io(path, e))?;
    Ok(n)
}

/// An object of the shared store read by byte ranges into a sparse local file of its size (under
/// `objects/tmp/`), so a version far larger than memory or the cache is paged from the store as from
/// disk: the footer is fetched when it is opened (one request), each row group before it is decoded.
/// Completing it fetches what is missing, checks the whole against the hash in its name and links it
/// into the cache; a copy never completed is removed when the table is dropped.
#[derive(Debug)]
pub struct RangedObject {
    remote: Remote,
    relative: String,
    file: File,
    tmp: TempObject,
    /// Where the completed copy goes in the cache.
    dest: PathBuf,
    size: u64,
    /// Byte ranges present, sorted and disjoint; `None` once completed and checked.
    have: std::sync::Mutex<Option<Vec<std::ops::Range<u64>>>>,
}

/// Bytes fetched from the end of an object when it is opened (the footer almost always fits).
const TAIL_BYTES: u64 = 64 << 10;

impl RangedObject {
    fn open(objects: &ObjectStore, remote: &Remote, relative: &str) -> Result<Self, CoreError> {
        let tmp = objects.temp("ranged");
        if let Some(dir) = tmp.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        }
        let file = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&tmp.path)
            .map_err(|e| CoreError::io(&tmp.path, e))?;
        let key = remote.key(relative);
        let got = remote.runtime.block_on(async {
            let options = object_store::GetOptions {
                range: Some(object_store::GetRange::Suffix(TAIL_BYTES)),
                ..Default::default()
            };
            let got = remote
                .store
                .get_opts(&key, options)
                .await
                .map_err(|e| remote.get_error(relative, e))?;
            let (size, range) = (got.meta.size, got.range.clone());
            let bytes = got
                .bytes()
                .await
                .map_err(|e| remote.error("download cut short:", relative, e))?;
            Ok::<_, CoreError>((size, range, bytes))
        })?;
        let (size, range, bytes) = got;
        file.set_len(size)
            .map_err(|e| CoreError::io(&tmp.path, e))?;
        let object = Self {
            remote: remote.clone(),
            relative: relative.to_owned(),
            file,
            dest: objects.local_path(relative),
            tmp,
            size,
            have: std::sync::Mutex::new(Some(Vec::new())),
        };
        object.write(range.clone(), &bytes)?;
        // A Parquet file ends with its footer's length and `PAR1`.
        let footer = bytes
            .len()
            .checked_sub(8)
            .and_then(|at| bytes.get(at..at + 4))
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(|b| u64::from(u32::from_le_bytes(b)) + 8)
            .filter(|&n| n <= size)
            .ok_or_else(|| {
                CoreError::Invalid(format!("object {relative} is not a Parquet file"))
            })?;
        object.fetch_range(size - footer..size)?;
        Ok(object)
    }

    pub fn path(&self) -> &Path {
        &self.tmp.path
    }

    fn write(&self, range: std::ops::Range<u64>, bytes: &[u8]) -> Result<(), CoreError> {
        use std::os::unix::fs::FileExt;
        if bytes.len() as u64 != range.end - range.start {
            return Err(self.remote.error(
                "download cut short:",
                &self.relative,
                format!("{} of {} bytes", bytes.len(), range.end - range.start),
            ));
        }
        self.file
            .write_all_at(bytes, range.start)
            .map_err(|e| CoreError::io(&self.tmp.path, e))?;
        if let Ok(mut have) = self.have.lock()
            && let Some(have) = have.as_mut()
        {
            have.push(range);
            have.sort_by_key(|r| r.start);
            let mut merged: Vec<std::ops::Range<u64>> = Vec::with_capacity(have.len());
            for r in have.drain(..) {
                match merged.last_mut() {
                    Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                    _ => merged.push(r),
                }
            }
            *have = merged;
        }
        Ok(())
    }

    /// The parts of `range` not fetched yet (none once completed).
    fn missing(&self, range: std::ops::Range<u64>) -> Vec<std::ops::Range<u64>> {
        let have = self.have.lock().map(|h| h.clone()).unwrap_or_default();
        let Some(have) = have else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut at = range.start;
        for r in have {
            if r.end <= at {
                continue;
            }
            if r.start >= range.end {
                break;
            }
            if r.start > at {
                out.push(at..r.start);
            }
            at = at.max(r.end);
        }
        if at < range.end {
            out.push(at..range.end);
        }
        out
    }

    fn fetch_range(&self, range: std::ops::Range<u64>) -> Result<(), CoreError> {
        let range = range.start.min(self.size)..range.end.min(self.size);
        let key = self.remote.key(&self.relative);
        for gap in self.missing(range) {
            // Streamed into place, so a gap of any size takes a chunk of memory at a time.
            self.remote.runtime.block_on(async {
                use futures_util::StreamExt;
                let options = object_store::GetOptions {
                    range: Some(object_store::GetRange::Bounded(gap.clone())),
                    ..Default::default()
                };
                let got = self
                    .remote
                    .store
                    .get_opts(&key, options)
                    .await
                    .map_err(|e| self.remote.get_error(&self.relative, e))?;
                let mut at = gap.start;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk
                        .map_err(|e| self.remote.error("download cut short:", &self.relative, e))?;
                    let end = (at + chunk.len() as u64).min(gap.end);
                    self.write(at..end, &chunk[..usize::try_from(end - at).unwrap_or(0)])?;
                    at = end;
                }
                if at < gap.end {
                    return Err(self.remote.error(
                        "download cut short:",
                        &self.relative,
                        format!("{} of {} bytes", at - gap.start, gap.end - gap.start),
                    ));
                }
                Ok(())
            })?;
        }
        Ok(())
    }

    fn complete_copy(&self) -> Result<(), CoreError> {
        if self.have.lock().is_ok_and(|h| h.is_none()) {
            return Ok(());
        }
        self.fetch_range(0..self.size)?;
        self.file
            .sync_all()
            .map_err(|e| CoreError::io(&self.tmp.path, e))?;
        check_hash(&self.relative, &ObjectStore::hash_file(&self.tmp.path)?)?;
        if let Ok(mut have) = self.have.lock() {
            *have = None;
        }
        // Kept in the cache for the next time (this copy stays open until the table is dropped).
        if !self.dest.exists() {
            if let Some(dir) = self.dest.parent() {
                std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
            }
            if std::fs::hard_link(&self.tmp.path, &self.dest).is_err() {
                let _ = std::fs::copy(&self.tmp.path, &self.dest);
            }
        }
        Ok(())
    }
}

impl kiln_data::ByteSource for RangedObject {
    fn fetch(&self, range: std::ops::Range<u64>) -> Result<(), kiln_data::DataError> {
        self.fetch_range(range)
            .map_err(|e| kiln_data::DataError::Invalid(e.to_string()))
    }

    fn complete(&self) -> Result<(), kiln_data::DataError> {
        self.complete_copy()
            .map_err(|e| kiln_data::DataError::Invalid(e.to_string()))
    }
}

/// The blake3 in an object's name (`objects/aa/<hash>.<ext>`) must be the hash of its bytes.
pub(crate) fn check_hash(relative: &str, got: &str) -> Result<(), CoreError> {
    let name = relative.rsplit('/').next().unwrap_or(relative);
    let expected = name.split('.').next().unwrap_or(name);
    if expected.len() == 64 && got != expected {
        return Err(CoreError::Invalid(format!(
            "object {relative} does not match its hash (its bytes hash to {got}): refused"
        )));
    }
    Ok(())
}

/// A file being written under `objects/tmp/`; removed on drop unless it was moved into place.
#[derive(Debug)]
pub struct TempObject {
    path: PathBuf,
    kept: bool,
}

impl TempObject {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path, for a file whose owner removes it (a query result a view pages through). A crash
    /// leaves it to the next start's clean-up of `objects/tmp/`, as any temp file.
    pub fn into_path(mut self) -> PathBuf {
        self.kept = true;
        self.path.clone()
    }
}

impl Drop for TempObject {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl ObjectStore {
    /// `workspace_root` is the workspace folder; objects live in its `objects/` sub-folder.
    pub fn new(workspace_root: &Path) -> Result<Self, CoreError> {
        let root = workspace_root.join("objects");
        std::fs::create_dir_all(root.join("tmp")).map_err(|e| CoreError::io(&root, e))?;
        Ok(Self { root, remote: None })
    }

    /// Objects in a shared store, cached under `cache_root/objects/`.
    pub fn with_remote(cache_root: &Path, remote: Remote) -> Result<Self, CoreError> {
        let mut s = Self::new(cache_root)?;
        s.remote = Some(remote);
        Ok(s)
    }

    /// Whether this workspace has the object `relative` with `size` bytes (in its shared store, on a
    /// team workspace).
    pub fn has(&self, relative: &str, size: u64) -> Result<bool, CoreError> {
        match &self.remote {
            Some(r) => r.has(relative, size),
            None => Ok(std::fs::metadata(self.local_path(relative)).is_ok_and(|m| m.len() == size)),
        }
    }

    /// The shared store of a team workspace.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref()
    }

    /// A local path holding the object: itself, or (on a team workspace) its cached copy, fetched and
    /// checked first when missing.
    pub fn local(&self, relative: &str) -> Result<PathBuf, CoreError> {
        let path = self.local_path(relative);
        let Some(remote) = &self.remote else {
            return Ok(path);
        };
        if path.is_file() {
            // Recently used: evicted last.
            if let Ok(f) = File::options().append(true).open(&path) {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
            return Ok(path);
        }
        let tmp = self.temp("download");
        remote.download(relative, &path, tmp.path())?;
        self.evict(remote.cache_bytes, &path);
        Ok(path)
    }

    /// Remove the least recently used cached objects until the cache fits in `cap` bytes (never `keep`).
    fn evict(&self, cap: u64, keep: &Path) {
        let mut files: Vec<(std::time::SystemTime, u64, PathBuf)> = Vec::new();
        let Ok(dirs) = std::fs::read_dir(&self.root) else {
            return;
        };
        for dir in dirs.flatten() {
            if dir.file_name() == "tmp" {
                continue;
            }
            for f in std::fs::read_dir(dir.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if let Ok(m) = f.metadata() {
                    files.push((
                        m.modified().unwrap_or(std::time::UNIX_EPOCH),
                        m.len(),
                        f.path(),
                    ));
                }
            }
        }
        let mut total: u64 = files.iter().map(|f| f.1).sum();
        files.sort();
        for (_, len, path) in files {
            if total <= cap {
                break;
            }
            if path != keep && std::fs::remove_file(&path).is_ok() {
                total -= len;
            }
        }
    }

    /// A new temp file name, unique per process and call. The process id in the name lets a later start
    /// remove what a crashed process left behind.
    pub fn temp(&self, ext: &str) -> TempObject {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let name = format!("{}-{n}-{nanos}.{ext}.partial", std::process::id());
        TempObject {
            path: self.root.join("tmp").join(name),
            kept: false,
        }
    }

    /// The data of a dataset version as stored (with its row ids when it has them).
    pub fn read_version(
        &self,
        version: &crate::DatasetVersion,
    ) -> Result<kiln_data::polars::prelude::DataFrame, CoreError> {
        let path = self.local(&version.object_path)?;
        kiln_data::read_parquet(&path).map_err(|_| CoreError::MissingObject {
            dataset: version.dataset.clone(),
            version: version.version,
            path,
        })
    }

    /// A version's object opened for paging (its footer read). On a team workspace an object not in the
    /// cache is read from the shared store by byte ranges as its rows are asked for; a small one is
    /// fetched whole.
    pub fn open_paged(
        &self,
        version: &crate::DatasetVersion,
    ) -> Result<kiln_data::PagedFrame, CoreError> {
        let relative = &version.object_path;
        let cached = self.local_path(relative);
        let paged = match &self.remote {
            Some(remote)
                if !cached.is_file()
                    && u64::try_from(version.byte_size).unwrap_or(u64::MAX)
                        > remote.ranged_bytes =>
            {
                let object = RangedObject::open(self, remote, relative)?;
                let path = object.path().to_path_buf();
                kiln_data::PagedFrame::open_ranged(&path, std::sync::Arc::new(object))
            }
            _ => {
                let path = self.local(relative)?;
                if !path.is_file() {
                    return Err(CoreError::MissingObject {
                        dataset: version.dataset.clone(),
                        version: version.version,
                        path,
                    });
                }
                kiln_data::PagedFrame::open(&path)
            }
        };
        Ok(paged?)
    }

    /// A version's data for viewing: in memory (without row ids), or paged from its object when reading
    /// it whole would take more than `budget` bytes.
    pub fn open_table(
        &self,
        version: &crate::DatasetVersion,
        budget: u64,
    ) -> Result<kiln_data::TableData, CoreError> {
        Ok(kiln_data::TableData::from_paged(
            self.open_paged(version)?,
            budget,
        )?)
    }

    /// A version's data as users see it (without the hidden row ids). It needs no database connection,
    /// so a worker thread can load with a clone of the object store.
    pub fn load(
        &self,
        version: &crate::DatasetVersion,
    ) -> Result<kiln_data::polars::prelude::DataFrame, CoreError> {
        Ok(kiln_data::without_row_ids(&self.read_version(version)?))
    }

    /// A version's data with its `__kiln_row` ids (numbered by position for versions stored without).
    pub fn load_with_ids(
        &self,
        version: &crate::DatasetVersion,
    ) -> Result<kiln_data::polars::prelude::DataFrame, CoreError> {
        Ok(kiln_data::with_row_ids(&self.read_version(version)?)?)
    }

    /// blake3 of a file's bytes, as hex.
    pub fn hash_file(path: &Path) -> Result<String, CoreError> {
        let mut hasher = blake3::Hasher::new();
        let mut f = File::open(path).map_err(|e| CoreError::io(path, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(|e| CoreError::io(path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(hasher.finalize().to_hex().to_string())
    }

    /// Path, relative to the workspace root, where content with `hash` lives.
    pub fn relative_path(hash: &str, ext: &str) -> String {
        format!("objects/{}/{hash}.{ext}", &hash[..2])
    }

    /// Absolute path of an object given its workspace-relative path (on a team workspace its cached
    /// copy, fetched when missing; a failure to fetch is logged and reading the path then fails).
    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.local(relative).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            self.local_path(relative)
        })
    }

    fn local_path(&self, relative: &str) -> PathBuf {
        self.root
            .parent()
            .map_or_else(|| PathBuf::from(relative), |p| p.join(relative))
    }

    /// Move a finished temp file to its content address (fsyncing the folder). If the object already
    /// exists (same content imported under another name) the temp file is simply dropped.
    pub fn commit(&self, mut tmp: TempObject, relative: &str) -> std::io::Result<()> {
        let dest = self.local_path(relative);
        if let Some(remote) = &self.remote {
            // Shared first: a version row is committed only once its object is in the shared store.
            remote
                .upload(relative, &tmp.path)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        if dest.exists() {
            return Ok(());
        }
        let dir = dest.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir)?;
        std::fs::rename(&tmp.path, &dest)?;
        tmp.kept = true;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Remove temp files of processes that are gone, and objects no row refers to that are older than
    /// `grace` (a concurrent import may be between its rename and its commit). Returns what was removed.
    pub fn collect_garbage(
        &self,
        referenced: &[String],
        grace: std::time::Duration,
    ) -> Vec<PathBuf> {
        let mut removed = Vec::new();

        if let Ok(entries) = std::fs::read_dir(self.root.join("tmp")) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name.split('-').next().and_then(|p| p.parse::<u32>().ok());
                if pid.is_none_or(|p| !process_alive(p)) && std::fs::remove_file(e.path()).is_ok() {
                    removed.push(e.path());
                }
            }
        }
        if self.remote.is_some() {
            // A team workspace's shared objects are never collected by one client; its cache is evicted
            // by size instead.
            return removed;
        }
        let referenced: std::collections::HashSet<PathBuf> =
            referenced.iter().map(|r| self.local_path(r)).collect();
        let Ok(dirs) = std::fs::read_dir(&self.root) else {
            return removed;
        };
        for dir in dirs.flatten() {
            if dir.file_name() == "tmp" || !dir.path().is_dir() {
                continue;
            }
            let Ok(files) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for f in files.flatten() {
                let path = f.path();
                let old_enough = f
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= grace);
                if old_enough && !referenced.contains(&path) && std::fs::remove_file(&path).is_ok()
                {
                    removed.push(path);
                }
            }
        }
        removed
    }
}

/// Whether a process with this id is running (always true where that cannot be checked cheaply).
pub(crate) fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        // Without a cheap liveness check, keep the file: it is only disk space.
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_aws_profile_gives_credentials_region_and_endpoint_and_credentials_win() {
        let credentials = "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n\n\
                           [team]\naws_access_key_id=AKIA2\naws_secret_access_key=s2\nregion = eu-west-9\n";
        let config = "[default]\nregion = us-east-1\n\n[profile team]\nregion = eu-west-1\n\
                      endpoint_url = http://127.0.0.1:8333\noutput = json\n";
        let get = |opts: &[(String, String)], k: &str| {
            opts.iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let team = super::profile_settings(credentials, config, "team");
        assert_eq!(get(&team, "aws_access_key_id").as_deref(), Some("AKIA2"));
        assert_eq!(get(&team, "aws_secret_access_key").as_deref(), Some("s2"));
        assert_eq!(
            get(&team, "aws_endpoint").as_deref(),
            Some("http://127.0.0.1:8333")
        );
        // The credentials file's region is read after the config's: it wins.
        assert_eq!(get(&team, "aws_region").as_deref(), Some("eu-west-9"));
        assert!(team.iter().all(|(k, _)| k != "output"));
        let default = super::profile_settings(credentials, config, "default");
        assert_eq!(get(&default, "aws_access_key_id").as_deref(), Some("AKIA1"));
        assert_eq!(get(&default, "aws_region").as_deref(), Some("us-east-1"));
        assert!(super::profile_settings(credentials, config, "nobody").is_empty());
    }

    /// A version in a shared store (a `file://` folder here) larger than the range threshold is paged by
    /// byte ranges: the first rows come from the footer and one row group; completing it fetches the rest,
    /// checks its hash and keeps it in the cache; an object whose bytes do not match its name is refused.
    #[test]
    fn a_large_object_in_the_shared_store_is_read_by_row_groups_and_checked_when_completed() {
        use kiln_data::polars::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        let rows = 3 * kiln_data::ROW_GROUP + 100;
        let ids: Vec<i64> = (0..rows as i64).collect();
        let values: Vec<f64> = ids.iter().map(|i| (*i as f64 * 0.37).sin()).collect();
        let mut df = df!("id" => ids, "value" => values).unwrap();
        let written = kiln_data::write_parquet(&mut df, &dir.path().join("v.parquet")).unwrap();
        let relative = super::ObjectStore::relative_path(&written.blake3, "parquet");
        std::fs::create_dir_all(shared.join(&relative).parent().unwrap()).unwrap();
        std::fs::rename(dir.path().join("v.parquet"), shared.join(&relative)).unwrap();

        let remote = super::Remote::connect(&format!("file://{}", shared.display()))
            .unwrap()
            .with_ranged_bytes(0);
        let cache = dir.path().join("cache");
        let objects = super::ObjectStore::with_remote(&cache, remote.clone()).unwrap();
        let object =
            std::sync::Arc::new(super::RangedObject::open(&objects, &remote, &relative).unwrap());
        let paged = kiln_data::PagedFrame::open_ranged(object.path(), object.clone()).unwrap();
        assert_eq!(paged.height(), rows);
        let at = 2 * kiln_data::ROW_GROUP + 5;
        assert_eq!(paged.rows(at, 3).unwrap(), df.slice(at as i64, 3));
        let missing: u64 = object
            .missing(0..written.bytes)
            .iter()
            .map(|r| r.end - r.start)
            .sum();
        assert!(
            missing > written.bytes / 2,
            "one row group and the footer read, not the object: {missing} of {} bytes missing",
            written.bytes
        );
        assert!(!objects.local_path(&relative).exists(), "not cached yet");

        // A pass over every row completes the copy, checked, into the cache.
        let whole = paged.lazy().unwrap().collect().unwrap();
        assert_eq!(whole, df);
        assert!(object.missing(0..written.bytes).is_empty());
        let cached = objects.local_path(&relative);
        assert_eq!(
            super::ObjectStore::hash_file(&cached).unwrap(),
            written.blake3
        );
        drop(paged);
        drop(object);
        let left: Vec<_> = std::fs::read_dir(cache.join("objects").join("tmp"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "the sparse copy is removed: {left:?}");

        // Bytes that do not match the hash in their name: the rows read may be anything, completing is
        // refused and nothing reaches the cache.
        let forged = super::ObjectStore::relative_path(&"ab".repeat(32), "parquet");
        std::fs::create_dir_all(shared.join(&forged).parent().unwrap()).unwrap();
        std::fs::copy(&cached, shared.join(&forged)).unwrap();
        let object = super::RangedObject::open(&objects, &remote, &forged).unwrap();
        let err = object.complete_copy().unwrap_err().to_string();
        assert!(err.contains("does not match its hash"), "{err}");
        assert!(!objects.local_path(&forged).exists());

        // Not Parquet: refused when opened.
        let text = super::ObjectStore::relative_path(&"cd".repeat(32), "parquet");
        std::fs::create_dir_all(shared.join(&text).parent().unwrap()).unwrap();
        std::fs::write(shared.join(&text), "id,value\n1,2\n").unwrap();
        let err = super::RangedObject::open(&objects, &remote, &text)
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not a Parquet file"), "{err}");
    }
}
