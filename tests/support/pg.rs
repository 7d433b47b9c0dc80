//! A throwaway PostgreSQL for tests.
//!
//! With `DATABASE_URL` set, that server is used: every [`PgCluster::fresh_database`] call
//! creates a database with a random name through an admin connection, dropped again when
//! the cluster handle goes. Otherwise the newest `/usr/lib/postgresql/*/bin/initdb` (or
//! `initdb` on PATH) creates a private cluster in a temp dir, started on a free port with
//! fsync off, and stopped (`-m immediate`) and removed on drop. initdb refuses to run as
//! root, so as root the tools run as the `postgres` user through `runuser`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use sqlx::{Connection, Executor};

/// A PostgreSQL server for one test. See the module docs.
pub struct PgCluster {
    /// A URL of the `postgres` maintenance database (or `DATABASE_URL`).
    admin_url: String,
    /// The private cluster, when this handle started one.
    local: Option<Local>,
    /// Databases created on a shared server, dropped with the handle.
    created: Mutex<Vec<String>>,
}

struct Local {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    /// `pg_ctl -o` options of the running server, for a restart on the same port.
    options: String,
}

impl PgCluster {
    /// The server to test against, or None (with the reason on stderr) when this machine
    /// has no PostgreSQL: callers then `support::skip(…)`. Panics if PostgreSQL is
    /// installed but will not start.
    pub fn start() -> Option<PgCluster> {
        if let Ok(url) = std::env::var("DATABASE_URL")
            && !url.is_empty()
        {
            return Some(PgCluster {
                admin_url: url,
                local: None,
                created: Mutex::new(Vec::new()),
            });
        }
        let Some(bin) = find_bindir() else {
            eprintln!("no PostgreSQL: neither DATABASE_URL nor initdb found");
            return None;
        };
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("homelabd-pg-")
            .tempdir()
            .expect("temp dir for PostgreSQL");
        if as_postgres {
            let chown = Command::new("chown")
                .arg("postgres")
                .arg(dir.path())
                .output()
                .expect("spawn chown");
            if !chown.status.success() {
                eprintln!(
                    "no PostgreSQL: running as root and cannot hand {} to the postgres user: {}",
                    dir.path().display(),
                    String::from_utf8_lossy(&chown.stderr)
                );
                return None;
            }
        }
        let local = Local {
            dir,
            bin,
            as_postgres,
            options: String::new(),
        };
        let data = local.data();
        let initdb = local.run(
            "initdb",
            &[
                OsStr::new("-D"),
                data.as_os_str(),
                OsStr::new("-A"),
                OsStr::new("trust"),
                OsStr::new("-U"),
                OsStr::new("postgres"),
                OsStr::new("-E"),
                OsStr::new("UTF8"),
                OsStr::new("--locale=C"),
                OsStr::new("--no-sync"),
            ],
        );
        assert!(
            initdb.status.success(),
            "initdb failed:\n{}",
            output_text(&initdb)
        );
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            let server_options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c full_page_writes=off -c synchronous_commit=off",
                local.dir.path().display()
            );
            let log = local.dir.path().join("server.log");
            let started = local.run(
                "pg_ctl",
                &[
                    OsStr::new("-D"),
                    data.as_os_str(),
                    OsStr::new("-l"),
                    log.as_os_str(),
                    OsStr::new("-o"),
                    OsStr::new(&server_options),
                    OsStr::new("-w"),
                    OsStr::new("-t"),
                    OsStr::new("60"),
                    OsStr::new("start"),
                ],
            );
            if started.status.success() {
                let mut local = local;
                local.options = server_options;
                return Some(PgCluster {
                    admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
                    local: Some(local),
                    created: Mutex::new(Vec::new()),
                });
            }
            // Most likely someone took the port in between: try another.
            last_failure = format!(
                "{}\n{}",
                output_text(&started),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        panic!("pg_ctl start failed five times:\n{last_failure}");
    }

    /// Creates a new, empty database and returns its URL.
    pub async fn fresh_database(&self) -> String {
        let name = format!("homelabd_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.admin_url));
        admin
            .execute(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .await
            .expect("create database");
        admin.close().await.ok();
        if self.local.is_none() {
            self.created.lock().expect("lock").push(name.clone());
        }
        with_database(&self.admin_url, &name)
    }
}

impl PgCluster {
    /// Stops a private cluster (fast shutdown), as if the database went down. `false`
    /// when the server is a shared one from `DATABASE_URL` that tests must not stop.
    pub fn stop(&self) -> bool {
        let Some(local) = &self.local else {
            return false;
        };
        let data = local.data();
        let out = local.run(
            "pg_ctl",
            &[
                OsStr::new("-D"),
                data.as_os_str(),
                OsStr::new("-m"),
                OsStr::new("fast"),
                OsStr::new("-w"),
                OsStr::new("stop"),
            ],
        );
        assert!(out.status.success(), "pg_ctl stop: {}", output_text(&out));
        true
    }

    /// Starts a stopped private cluster again on the same port.
    pub fn restart(&self) {
        let Some(local) = &self.local else { return };
        let data = local.data();
        let log = local.dir.path().join("server.log");
        let out = local.run(
            "pg_ctl",
            &[
                OsStr::new("-D"),
                data.as_os_str(),
                OsStr::new("-l"),
                log.as_os_str(),
                OsStr::new("-o"),
                OsStr::new(&local.options),
                OsStr::new("-w"),
                OsStr::new("start"),
            ],
        );
        assert!(out.status.success(), "pg_ctl start: {}", output_text(&out));
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(local) = &self.local {
            let data = local.data();
            let _ = local.run(
                "pg_ctl",
                &[
                    OsStr::new("-D"),
                    data.as_os_str(),
                    OsStr::new("-m"),
                    OsStr::new("immediate"),
                    OsStr::new("-w"),
                    OsStr::new("stop"),
                ],
            );
            // The TempDir removes the directory when `local` is dropped.
            return;
        }
        let created = std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        if created.is_empty() {
            return;
        }
        // Drop runs inside the test's runtime: clean up from a thread with its own.
        let admin_url = self.admin_url.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await else {
                    return;
                };
                for name in created {
                    let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                    let _ = admin.execute(sqlx::AssertSqlSafe(sql)).await;
                }
                let _ = admin.close().await;
            });
        });
        let _ = cleanup.join();
    }
}

impl Local {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs one of the PostgreSQL tools, as the `postgres` user when we are root.
    fn run(&self, tool: &str, args: &[&OsStr]) -> Output {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()))
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`, else `initdb`'s
/// directory on PATH.
fn find_bindir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let major: u32 = name.to_str()?.split('.').next()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, bin)| bin)
        .or_else(|| super::which("initdb")?.parent().map(Path::to_path_buf))
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata("/proc/self") {
        Ok(meta) => meta.uid() == 0,
        Err(_) => Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0"),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `url` with its database (the path) replaced by `database`; the query is kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
