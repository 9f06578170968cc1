//! Creating the database file and its directory with owner-only permissions, and refusing files
//! that are not ours before SQLite touches them.

use crate::error::{Location, Result, StoreError};
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of the database file (and, through SQLite, of its `-wal` and `-shm` files).
pub(crate) const FILE_MODE: u32 = 0o600;
/// Mode of a directory we create for the database.
pub(crate) const DIR_MODE: u32 = 0o700;

/// The first 16 bytes of every SQLite 3 database file.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates `dir` (and missing parents) with mode 0700. An existing directory is left as it is:
/// it may be one the user chose; the files we put in it are 0600 regardless.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| io_err("create the directory", dir, e))?;
    // The umask may have removed bits; set exactly 0700 on the directory we made.
    fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
        .map_err(|e| io_err("set permissions on", dir, e))
}

/// Makes sure a file we may use exists at `path` with mode 0600, without modifying a file that is
/// not a SQLite database: such a file is refused before anything is written or chmod-ed.
/// Whether a SQLite file is a sotto store is decided afterwards, by SQL, still before any write.
pub(crate) fn prepare_file(path: &Path) -> Result<()> {
    let location = Location::File(path.to_path_buf());
    match fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                ensure_dir(dir)?;
            }
            let created = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(path);
            match created {
                Ok(_) => {}
                // Another handle created it between our check and now: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    return prepare_file(path);
                }
                Err(e) => return Err(io_err("create", path, e)),
            }
            fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
                .map_err(|e| io_err("set permissions on", path, e))?;
            Ok(())
        }
        Err(e) => Err(io_err("inspect", path, e)),
        Ok(meta) => {
            if !meta.file_type().is_file() {
                // A directory, a device, a pipe: not something we write secrets into.
                return Err(StoreError::NotSotto { location });
            }
            let mut head = Vec::with_capacity(SQLITE_MAGIC.len());
            fs::File::open(path)
                .and_then(|f| f.take(SQLITE_MAGIC.len() as u64).read_to_end(&mut head))
                .map_err(|e| io_err("read", path, e))?;
            // Empty: a store whose first transaction never ran. Otherwise it must be SQLite.
            if head.is_empty() || head.as_slice() == SQLITE_MAGIC {
                Ok(())
            } else {
                Err(StoreError::NotSotto { location })
            }
        }
    }
}

/// Sets an existing store file (ours, already validated) to owner-only if it is not.
pub(crate) fn tighten_mode(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).map_err(|e| io_err("inspect", path, e))?;
    if meta.permissions().mode() & 0o777 != FILE_MODE {
        fs::set_permissions(path, Permissions::from_mode(FILE_MODE))
            .map_err(|e| io_err("set permissions on", path, e))?;
    }
    Ok(())
}

/// `path` with `suffix` appended to its file name (`zid.db` + `-wal`).
pub(crate) fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    std::path::PathBuf::from(s)
}
