//! One daemon per state directory, and per SQLite database: an exclusive, non-blocking
//! `flock` on `<state dir>/homelabd.lock` (and on `<database>.lock` next to a SQLite
//! file), held for the daemon's life. The kernel drops it when the process
//! dies, even by kill -9, so a crash never leaves a stale lock behind.

use super::ClusterError;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (or when the process exits).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
    pub path: PathBuf,
}

/// The SQLite database file a `sqlite:` URL names (`None`: not SQLite, or in memory).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(PathBuf::from(path))
}

/// The lock files a daemon with these settings must hold: the state directory's, and for
/// a SQLite database the one next to its file (another state directory may name the
/// same file).
pub fn lock_paths(state_dir: &Path, database_url: &str) -> Vec<(PathBuf, String)> {
    let mut out = vec![(
        state_dir.join("homelabd.lock"),
        format!("state directory {}", state_dir.display()),
    )];
    if let Some(db) = sqlite_path(database_url) {
        let mut name = db.as_os_str().to_owned();
        name.push(".lock");
        out.push((
            PathBuf::from(name),
            format!("SQLite database {}", db.display()),
        ));
    }
    out
}

/// Takes every lock [`lock_paths`] names, or says who holds one.
pub fn lock_state(state_dir: &Path, database_url: &str) -> Result<Vec<StateLock>, ClusterError> {
    let hint = if sqlite_path(database_url).is_some() || database_url.starts_with("sqlite:") {
        "SQLite allows one daemon; to run several, give each its own state directory and \
         share a PostgreSQL database (README, \"Running several daemons\")"
    } else {
        "each daemon needs its own state directory"
    };
    lock_paths(state_dir, database_url)
        .into_iter()
        .map(|(path, what)| lock_one(&path, what, hint))
        .collect()
}

fn lock_one(path: &Path, what: String, hint: &'static str) -> Result<StateLock, ClusterError> {
    let io = |source| ClusterError::Lock {
        path: path.display().to_string(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(ClusterError::AlreadyRunning {
                what,
                path: path.display().to_string(),
                holder: holder_note(&text),
                hint,
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // The holder's pid, for the message a second daemon prints.
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    Ok(StateLock {
        _file: file,
        path: path.to_path_buf(),
    })
}

/// ` (pid N)` from a lock file's text, or nothing when it names no pid.
fn holder_note(text: &str) -> String {
    text.trim()
        .parse::<u32>()
        .map(|pid| format!(" (pid {pid})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/h/db"),
            Some("/var/lib/h/db".into())
        );
        assert_eq!(sqlite_path("sqlite:rel.db?mode=rwc"), Some("rel.db".into()));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[test]
    fn a_sqlite_database_gets_its_own_lock() {
        let state = Path::new("/s");
        let paths = lock_paths(state, "sqlite:///s/homelabd.db");
        assert_eq!(paths[0].0, PathBuf::from("/s/homelabd.lock"));
        assert_eq!(paths[1].0, PathBuf::from("/s/homelabd.db.lock"));
        let paths = lock_paths(state, "sqlite:///data/h.db");
        assert_eq!(paths[1].0, PathBuf::from("/data/h.db.lock"));
        assert_eq!(lock_paths(state, "postgres://x/y").len(), 1);
    }

    #[test]
    fn holder_note_reads_a_pid_or_nothing() {
        assert_eq!(holder_note("123\n"), " (pid 123)");
        assert_eq!(holder_note(""), "");
    }

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/homelabd.db", dir.path().display());
        let held = lock_state(dir.path(), &url).unwrap();
        let err = lock_state(dir.path(), &url).unwrap_err().to_string();
        assert!(err.contains("already running"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("SQLite allows one daemon"), "{err}");
        drop(held);
        assert!(lock_state(dir.path(), &url).is_ok());
    }
}
