//! The files the commands read and write, kept safe in three ways:
//!
//! - an input must be a regular file: its metadata is looked at before it is opened, so a FIFO,
//!   a device, a socket or a directory is refused with its name instead of blocking a read;
//! - an output never replaces an input of the same command, however either path is spelled
//!   (`./x`, `dir/../x`, a symbolic or a hard link): canonical paths are compared and, on Unix,
//!   the (device, inode) of the files, which also catches hard links;
//! - an output is written to a temporary file beside its target, flushed to disk and renamed
//!   over the target only when complete: an interrupted or failed write leaves the old file as it
//!   was (and no temporary file behind).

use std::fs::{File, Metadata};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Why a file was not read or not written.
#[derive(Debug)]
pub enum FileError {
    /// Not a regular file (`what`: "a directory", "a FIFO (named pipe)", …): not opened.
    NotRegular { path: PathBuf, what: &'static str },
    /// The output is an input of the same command (`input` as that was given).
    IsInput { path: PathBuf, input: PathBuf },
    /// The output exists and replacing it was not asked for (`--force`).
    Exists { path: PathBuf },
    /// The system refused: `action` is what was being done ("read", "write", "create", …).
    Io { path: PathBuf, action: &'static str, source: io::Error },
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileError::NotRegular { path, what } => {
                write!(f, "{}: {what}, not a regular file", path.display())
            }
            FileError::IsInput { path, input } if path == input => {
                write!(
                    f,
                    "{}: is an input of this command; not overwritten (write the output elsewhere)",
                    path.display()
                )
            }
            FileError::IsInput { path, input } => write!(
                f,
                "{}: is the input {} (the same file); not overwritten (write the output elsewhere)",
                path.display(),
                input.display()
            ),
            FileError::Exists { path } => write!(f, "{} exists; not overwritten (--force replaces it)", path.display()),
            FileError::Io { path, action, source } => write!(f, "cannot {action} {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// What a file that is not a regular file is, in words.
pub fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    "not a file"
}

/// The metadata of an input, if it is a regular file (symbolic links followed); looked at
/// before the file is opened, so a FIFO or a device is refused instead of read.
pub fn regular_input(path: &Path) -> Result<Metadata, FileError> {
    let meta =
        std::fs::metadata(path).map_err(|source| FileError::Io { path: path.to_path_buf(), action: "read", source })?;
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(FileError::NotRegular { path: path.to_path_buf(), what: kind_of(&meta) })
    }
}

/// Reads an input file that must be a regular file.
pub fn read_input(path: &Path) -> Result<String, FileError> {
    regular_input(path)?;
    std::fs::read_to_string(path).map_err(|source| FileError::Io { path: path.to_path_buf(), action: "read", source })
}

/// One input file: as given, its canonical path and, on Unix, its (device, inode).
#[derive(Clone, Debug)]
struct Identity {
    given: PathBuf,
    canonical: Option<PathBuf>,
    file: Option<(u64, u64)>,
}

#[cfg(unix)]
fn file_id(meta: &Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &Metadata) -> Option<(u64, u64)> {
    None
}

/// The input files of a command: no output may be written over one of them.
#[derive(Clone, Debug, Default)]
pub struct Inputs(Vec<Identity>);

impl Inputs {
    pub fn new() -> Self {
        Self::default()
    }

    /// The inputs at these paths.
    pub fn of<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Self {
        let mut inputs = Self::new();
        for p in paths {
            inputs.add(p.as_ref());
        }
        inputs
    }

    /// Adds an input; a path that does not exist (yet) is nothing an output could clobber.
    pub fn add(&mut self, path: &Path) {
        let canonical = std::fs::canonicalize(path).ok();
        let file = std::fs::metadata(path).ok().as_ref().and_then(file_id);
        if canonical.is_some() || file.is_some() {
            self.0.push(Identity { given: path.to_path_buf(), canonical, file });
        }
    }

    /// The input that `path` is, however either is spelled; `None` when it is none of them (or
    /// does not exist: every input does).
    pub fn same_as(&self, path: &Path) -> Option<&Path> {
        let meta = std::fs::metadata(path).ok()?;
        let file = file_id(&meta);
        let canonical = std::fs::canonicalize(path).ok();
        self.0
            .iter()
            .find(|i| {
                (file.is_some() && i.file == file)
                    || (canonical.is_some() && i.canonical.is_some() && i.canonical == canonical)
            })
            .map(|i| i.given.as_path())
    }
}

/// The file an output to `path` replaces: `path` itself, or where it points when it is a
/// symbolic link (followed as the system does, even to a file not there yet; the link stays).
/// An existing target must be a regular file.
fn target_of(path: &Path) -> Result<PathBuf, FileError> {
    let io = |action, source| FileError::Io { path: path.to_path_buf(), action, source };
    let mut current = path.to_path_buf();
    // The system's own limit on links followed in a row (Linux's ELOOP).
    for _ in 0..40 {
        let meta = match std::fs::symlink_metadata(&current) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(io("write", e)),
        };
        if meta.file_type().is_symlink() {
            let to = std::fs::read_link(&current).map_err(|e| io("follow the symbolic link", e))?;
            let folder = current.parent().unwrap_or(Path::new(""));
            current = if to.is_absolute() { to } else { folder.join(to) };
        } else if meta.is_file() {
            return Ok(current);
        } else {
            return Err(FileError::NotRegular { path: path.to_path_buf(), what: kind_of(&meta) });
        }
    }
    Err(io("follow the symbolic link", io::Error::other("too many levels of symbolic links")))
}

/// Checks that an output may go to `path` (not an input, not a special file, not an existing
/// file unless `overwrite`), without writing anything: lets a command refuse before it works.
pub fn check_output(path: &Path, inputs: &Inputs, overwrite: bool) -> Result<PathBuf, FileError> {
    if let Some(input) = inputs.same_as(path) {
        return Err(FileError::IsInput { path: path.to_path_buf(), input: input.to_path_buf() });
    }
    let target = target_of(path)?;
    if !overwrite && target.exists() {
        return Err(FileError::Exists { path: path.to_path_buf() });
    }
    Ok(target)
}

/// Writes `text` to `path` atomically: see `write_streamed`.
pub fn write_atomic(path: &Path, text: &[u8], inputs: &Inputs, overwrite: bool) -> Result<(), FileError> {
    write_streamed(path, inputs, overwrite, |w| w.write_all(text))
}

/// Distinguishes the temporary files of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes to `path` what `write` writes, through a temporary file beside the target (created
/// new, never followed through a link) that is flushed to disk and then renamed over the target:
/// a reader sees the old file or the whole new one. When `write` fails, or the disk does, the
/// temporary file is removed and the old file is left as it was. Refuses an input of the same
/// command, a special file, and an existing file unless `overwrite`. Missing folders are created.
pub fn write_streamed<F>(path: &Path, inputs: &Inputs, overwrite: bool, write: F) -> Result<(), FileError>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let target = check_output(path, inputs, overwrite)?;
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|source| FileError::Io {
        path: dir.to_path_buf(),
        action: "create",
        source,
    })?;
    let name = target.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let (tmp, file) = loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
        match File::options().write(true).create_new(true).open(&tmp) {
            Ok(f) => break (tmp, f),
            // Left by another process with this id: take the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(FileError::Io { path: target, action: "write", source }),
        }
    };
    let written = (|| {
        let mut w = BufWriter::new(file);
        write(&mut w)?;
        let file = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        // The replaced file's permissions carry over to the new one.
        if let Ok(old) = std::fs::metadata(&target) {
            file.set_permissions(old.permissions())?;
        }
        std::fs::rename(&tmp, &target)
    })();
    written.map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        FileError::Io { path: target, action: "write", source }
    })
}
