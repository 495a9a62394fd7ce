//! The on-disk cache of compiled modules, so a worker process that meets a module another
//! process already compiled loads it in milliseconds instead of compiling it again (the cold
//! start of every new executor, daemon and worker process).
//!
//! Loading a compiled artifact runs whatever machine code it holds: an artifact from anyone
//! but this worker would be arbitrary code execution outside the sandbox. So the cache only
//! ever loads what a sparkwasm worker wrote:
//!
//! * the directory and every file in it must belong to the worker's user and be writable by
//!   nobody else (the directory is created `0700`, files `0600`), else the cache is off;
//! * every artifact (`<entry>.cwasm`) has an HMAC-SHA256 over its bytes beside it
//!   (`<entry>.tag`) under a random key kept in the directory (`key`, `0600`), created by
//!   the first worker; an artifact whose tag does not verify (written by another tool,
//!   truncated, corrupted) is never deserialized, just compiled again and replaced;
//! * entries are keyed by the module's digest, the engine's compatibility hash (its
//!   configuration: fuel metering, memory model, target features) and the wasmtime version,
//!   so an artifact is only offered to an engine it was compiled for; wasmtime checks that
//!   again itself when deserializing.
//!
//! Files are written to a unique temporary name and renamed into place, so concurrent
//! workers never read a partial artifact. The cache is best-effort: any failure to read or
//! write it falls back to compiling, never fails a task.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

type Tag = Hmac<Sha256>;

/// Length of the HMAC-SHA256 tag of each artifact.
const TAG_LEN: usize = 32;

/// Length of the random key.
const KEY_LEN: usize = 32;

/// The wasmtime the workspace pins (Cargo.toml), part of every entry's key.
const WASMTIME_VERSION: &str = "wasmtime-48.0.8";

/// Largest artifact the cache reads, far above any real one (compiled code is a few times the
/// module's size, and modules are capped at hundreds of MiB).
const MAX_ARTIFACT: u64 = 4 << 30;

/// The cache directory and its key, once both passed the ownership checks.
#[derive(Clone)]
pub(crate) struct ModuleCache {
    dir: PathBuf,
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for ModuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ModuleCache {
    /// Opens (creating when missing) the cache in `dir`. Fails when the directory or its key
    /// belongs to another user or is writable by others.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        check_private(&fs::symlink_metadata(dir)?, dir)?;
        let key = read_or_create_key(&dir.join("key"))?;
        Ok(ModuleCache {
            dir: dir.to_owned(),
            key,
        })
    }

    /// The cached module compiled from the module with `digest` for `engine`, if a valid
    /// artifact is there. Every failure is a miss.
    ///
    /// The artifact is checked by streaming it through the HMAC, then mapped by wasmtime
    /// straight from the file (no copy on the heap: the worker's memory holds only the code
    /// pages a task touches).
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Option<Module> {
        let path = self.entry(engine, digest);
        let mut file = open_private(&path).ok()?;
        if file.metadata().ok()?.len() > MAX_ARTIFACT {
            return None;
        }
        let mut mac = self.mac();
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let read = file.read(&mut chunk).ok()?;
            if read == 0 {
                break;
            }
            mac.update(chunk.get(..read)?);
        }
        let mut tag = Vec::with_capacity(TAG_LEN);
        open_private(&path.with_extension("tag"))
            .ok()?
            .take(TAG_LEN as u64 + 1)
            .read_to_end(&mut tag)
            .ok()?;
        mac.verify_slice(&tag).ok()?;
        // SAFETY: `Module::deserialize_file` runs the artifact's machine code, so it must come
        // from `Module::serialize` of a compatible engine, and the file must not change while
        // the module lives. It does come from there: its HMAC under the cache's private key
        // verified, and only `store` below (after a compilation by this crate) writes tags
        // under that key, in a directory only this user can write (so only this user could
        // swap the file between the check and the mapping). Files are only ever replaced by
        // renaming a new file over them, which leaves a mapped one as it was. Compatibility
        // is in the entry's name and checked again by wasmtime.
        unsafe { Module::deserialize_file(engine, &path) }.ok()
    }

    /// Writes `module`'s artifact for `digest`, and its tag beside it. Best effort: the error
    /// is for the caller to log, never to fail a task with.
    pub(crate) fn store(&self, engine: &Engine, digest: &str, module: &Module) -> io::Result<()> {
        let artifact = module.serialize().map_err(io::Error::other)?;
        let mut mac = self.mac();
        mac.update(&artifact);
        let tag = mac.finalize().into_bytes();
        let path = self.entry(engine, digest);
        // The tag first: a reader that meets the new tag with the old artifact (or the other
        // way round) only sees a mismatch, and compiles.
        self.replace(&path.with_extension("tag"), &tag)?;
        self.replace(&path, &artifact)
    }

    /// Writes `bytes` to `path` through a temporary file renamed into place.
    fn replace(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let temporary = self.dir.join(format!(
            ".{}.{}.tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
            std::process::id()
        ));
        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            fs::rename(&temporary, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written
    }

    /// Where the artifact of `digest` compiled by `engine` lives.
    pub(crate) fn entry(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut hasher = Sha256Hasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let mut key = hasher.0;
        key.update(WASMTIME_VERSION.as_bytes());
        key.update(digest.as_bytes());
        let name = hex::encode(&key.finalize()[..16]);
        self.dir.join(format!("{name}.cwasm"))
    }

    fn mac(&self) -> Tag {
        // HMAC takes keys of any length; this cannot fail.
        <Tag as Mac>::new_from_slice(&self.key).expect("HMAC accepts any key length")
    }
}

/// Feeds `Hash` into SHA-256, so the engine's compatibility hash has a stable spelling.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        // Only `write` is used; the digest is read from the inner state.
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Fails unless `metadata` (of `path`, not followed through a symlink) is a directory or
/// regular file of this user that nobody else can write.
fn check_private(metadata: &fs::Metadata, path: &Path) -> io::Result<()> {
    let me = nix::unistd::geteuid().as_raw();
    if metadata.file_type().is_symlink() {
        return Err(refused(path, "is a symbolic link"));
    }
    if metadata.uid() != me {
        return Err(refused(
            path,
            &format!("belongs to uid {}, not {me}", metadata.uid()),
        ));
    }
    if metadata.mode() & 0o022 != 0 {
        return Err(refused(
            path,
            &format!("is writable by others (mode {:o})", metadata.mode() & 0o777),
        ));
    }
    Ok(())
}

fn refused(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{} {why}", path.display()),
    )
}

/// Opens a regular file without following a symlink, and checks it is private.
fn open_private(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?;
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(refused(path, "is not a regular file"));
    }
    check_private(&metadata, path)?;
    Ok(file)
}

/// The cache's key: read when present, else created (`0600`) from the OS's randomness. When
/// two workers race to create it, the loser reads the winner's.
fn read_or_create_key(path: &Path) -> io::Result<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            getrandom::fill(&mut key).map_err(io::Error::other)?;
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut file = open_private(path)?;
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            // A key being written right now by another worker reads short: no cache this time.
            key = bytes
                .try_into()
                .map_err(|_| refused(path, "does not hold a whole key"))?;
            Ok(key)
        }
        Err(e) => Err(e),
    }
}
