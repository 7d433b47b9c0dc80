//! `homelabd secret set | list | rekey | edit`: the age-encrypted files under `secrets/`
//! of a working copy. Values come in on stdin or through an editor on a private
//! temporary file and are never printed; files are written atomically.

use super::args::{SecretArgs, SecretCommand};
use super::{Exit, UsageError};
use crate::secrets::{
    self, Identities, Recipients, SecretError, SecretMap, decrypt, encrypt, is_armored,
    parse_mapping, parse_recipients,
};
use anyhow::Context as _;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Runs one `secret` subcommand.
pub fn secret(args: SecretArgs) -> anyhow::Result<Exit> {
    let root = args.repo.clone();
    if !root.is_dir() {
        return Err(UsageError(format!("{} is not a directory", root.display())).into());
    }
    match &args.command {
        SecretCommand::Set { name, key } => set(&root, &args, name, key),
        SecretCommand::List => list(&root, &args),
        SecretCommand::Rekey => rekey(&root, &args),
        SecretCommand::Edit { name } => edit(&root, &args, name),
    }
}

fn file_of(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    if !secrets::refs::valid_name(name) {
        return Err(UsageError(format!(
            "secret name {name:?}: letters, digits, `_`, `-`, `.`, segments separated by `/`"
        ))
        .into());
    }
    Ok(root.join("secrets").join(format!("{name}.age")))
}

fn identity(args: &SecretArgs, why: &str) -> anyhow::Result<Identities> {
    match secrets::load_identity(args.identity.as_deref())? {
        Some(ids) => Ok(ids),
        None => Err(UsageError(format!(
            "{why}: no age identity (pass --identity FILE or set {})",
            secrets::IDENTITY_ENV
        ))
        .into()),
    }
}

fn recipients(root: &Path) -> anyhow::Result<Recipients> {
    let path = root.join(secrets::RECIPIENTS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        UsageError(format!(
            "cannot read {}: {e} (list the public keys that may decrypt, one per line, \
             e.g. `age-keygen -y key.txt > {}`)",
            path.display(),
            secrets::RECIPIENTS_FILE
        ))
    })?;
    Ok(parse_recipients(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))?)
}

/// Reads an existing secret file (or `None`), decrypting with the identity.
fn open_existing(
    path: &Path,
    name: &str,
    ids: Option<&Identities>,
) -> anyhow::Result<Option<(SecretMap, bool)>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let Some(ids) = ids else {
        return Err(UsageError(format!(
            "{} exists: its other keys must be kept, which needs the identity \
             (pass --identity FILE or set {})",
            path.display(),
            secrets::IDENTITY_ENV
        ))
        .into());
    };
    Ok(Some((decrypt(name, &bytes, ids)?, is_armored(&bytes))))
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().context("a secret file has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn set(root: &Path, args: &SecretArgs, name: &str, key: &str) -> anyhow::Result<Exit> {
    if !secrets::refs::valid_key(key) {
        return Err(UsageError(format!("key {key:?}: letters, digits, `_`, `-` or `.`")).into());
    }
    let path = file_of(root, name)?;
    let recipients = recipients(root)?;
    let ids = if path.exists() {
        Some(identity(
            args,
            &format!(
                "keeping the other keys of {} needs the identity",
                path.display()
            ),
        )?)
    } else {
        None
    };
    let (mut map, armor) = open_existing(&path, name, ids.as_ref())?.unwrap_or_default();
    let armor = armor || !path.exists();
    if std::io::stdin().is_terminal() {
        eprintln!("reading the value of {name}/{key} from stdin; end with Ctrl-D");
    }
    let mut value = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut value)
        .context("cannot read the value from stdin (it must be UTF-8 text)")?;
    let trimmed = value
        .strip_suffix("\r\n")
        .or_else(|| value.strip_suffix('\n'))
        .unwrap_or(&value);
    if trimmed.is_empty() {
        return Err(UsageError("empty value on stdin: nothing set".to_owned()).into());
    }
    let replaced = map
        .insert(key.to_owned(), Zeroizing::new(trimmed.to_owned()))
        .is_some();
    write_file(&path, &encrypt(&map, &recipients, armor)?)?;
    println!(
        "{} {name}/{key} in {} ({} key(s), encrypted to {} recipient(s)); commit it with git",
        if replaced { "changed" } else { "set" },
        rel(root, &path),
        map.len(),
        recipients.len()
    );
    Ok(Exit::Ok)
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every `secrets/**.age` under `root`, as (name, path), sorted.
fn secret_files(root: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let snapshot = crate::source::load_dir(root, None)
        .with_context(|| format!("cannot read {}", root.display()))?;
    Ok(snapshot
        .files
        .iter()
        .filter_map(|f| secrets::name_of_path(&f.path).map(|n| (n.to_owned(), root.join(&f.path))))
        .collect())
}

fn list(root: &Path, args: &SecretArgs) -> anyhow::Result<Exit> {
    let ids = match secrets::load_identity(args.identity.as_deref()) {
        Ok(ids) => ids,
        Err(e) => {
            eprintln!("warning: {e}");
            None
        }
    };
    let files = secret_files(root)?;
    if files.is_empty() {
        println!("no secrets under {}", root.join("secrets").display());
        return Ok(Exit::Ok);
    }
    let mut exit = Exit::Ok;
    for (name, path) in files {
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        match &ids {
            None => println!("{name}: (keys need the identity)"),
            Some(ids) => match decrypt(&name, &bytes, ids) {
                Ok(map) => {
                    let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                    println!("{name}: {}", keys.join(" "));
                }
                Err(e) => {
                    println!("{name}: error: {e}");
                    exit = Exit::Invalid;
                }
            },
        }
    }
    if ids.is_none() {
        eprintln!(
            "no identity: pass --identity FILE or set {} to list keys",
            secrets::IDENTITY_ENV
        );
    }
    Ok(exit)
}

fn rekey(root: &Path, args: &SecretArgs) -> anyhow::Result<Exit> {
    let recipients = recipients(root)?;
    let ids = identity(args, "rekey decrypts every secret")?;
    let files = secret_files(root)?;
    // Decrypt everything first: a file that cannot be read stops the rekey before any
    // file is rewritten.
    let mut opened = Vec::new();
    for (name, path) in &files {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let map = decrypt(name, &bytes, &ids)?;
        opened.push((name, path, map, is_armored(&bytes)));
    }
    for (name, path, map, armor) in &opened {
        write_file(path, &encrypt(map, &recipients, *armor)?)?;
        println!("{name}: re-encrypted to {} recipient(s)", recipients.len());
    }
    println!(
        "{} secret(s) re-encrypted; commit them with git",
        opened.len()
    );
    Ok(Exit::Ok)
}

fn edit(root: &Path, args: &SecretArgs, name: &str) -> anyhow::Result<Exit> {
    let path = file_of(root, name)?;
    let recipients = recipients(root)?;
    let ids = if path.exists() {
        Some(identity(
            args,
            &format!(
                "keeping the other keys of {} needs the identity",
                path.display()
            ),
        )?)
    } else {
        None
    };
    let (map, armor) = open_existing(&path, name, ids.as_ref())?.unwrap_or_default();
    let armor = armor || !path.exists();
    let before = Zeroizing::new(if map.is_empty() {
        "# key: value (one per line; quote values YAML would read as numbers or booleans)\n"
            .to_owned()
    } else {
        let plain: std::collections::BTreeMap<&str, &str> =
            map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        serde_yaml::to_string(&plain).map_err(|e| SecretError::Encrypt(e.to_string()))?
    });
    let scratch = PrivateFile::create(&before)?;
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".to_owned());
    let mut words = editor.split_whitespace();
    let program = words.next().context("$EDITOR is empty")?;
    let status = std::process::Command::new(program)
        .args(words)
        .arg(&scratch.path)
        .status()
        .with_context(|| format!("cannot start the editor {program:?}"))?;
    if !status.success() {
        return Err(UsageError(format!("the editor exited with {status}; nothing changed")).into());
    }
    let after = Zeroizing::new(
        std::fs::read_to_string(&scratch.path).context("cannot read the edited file back")?,
    );
    drop(scratch);
    if *after == *before {
        println!("{name}: unchanged");
        return Ok(Exit::Ok);
    }
    let edited = parse_mapping(name, after.as_bytes())?;
    write_file(&path, &encrypt(&edited, &recipients, armor)?)?;
    println!(
        "{name}: {} key(s) written to {}; commit it with git",
        edited.len(),
        rel(root, &path)
    );
    Ok(Exit::Ok)
}

/// A temporary file only the user can read (0600, in a 0700 directory, in memory where
/// `/dev/shm` or `$XDG_RUNTIME_DIR` exist), overwritten with zeros and removed on drop.
struct PrivateFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl PrivateFile {
    fn create(content: &str) -> anyhow::Result<PrivateFile> {
        use std::os::unix::fs::OpenOptionsExt;
        let base = std::env::var_os("XDG_RUNTIME_DIR")
            .map(PathBuf::from)
            .filter(|p| p.is_dir())
            .or_else(|| Some(PathBuf::from("/dev/shm")).filter(|p| p.is_dir()))
            .unwrap_or_else(std::env::temp_dir);
        // TempDir creates its directory with mode 0700.
        let dir = tempfile::Builder::new()
            .prefix("homelabd-secret-")
            .tempdir_in(&base)
            .with_context(|| format!("cannot create a private directory in {}", base.display()))?;
        let path = dir.path().join("secret.yaml");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(content.as_bytes())?;
        Ok(PrivateFile { _dir: dir, path })
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        // Overwrite before removing: on a disk-backed temp dir the blocks would
        // otherwise keep the values until reused.
        if let Ok(meta) = std::fs::metadata(&self.path)
            && let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&self.path)
        {
            let _ = f.write_all(&vec![0u8; meta.len() as usize]);
            let _ = f.sync_all();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
