//! A GGUF file mapped into memory: parsed metadata plus zero-copy tensor views.
//!
//! This is the only module of the crate with `unsafe`: creating the mapping.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

use crate::{Gguf, GgufError, Limits, Result, TensorInfo};

/// How [`GgufFile::open_with`] maps a file.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// Parser limits.
    pub limits: Limits,
    /// Fault every page in while mapping (`MAP_POPULATE`): slower open, no page faults later.
    pub populate: bool,
}

/// The bytes behind a [`GgufFile`]. Every non-empty file is mapped, so tensor data is at least
/// 32-byte aligned in memory (page-aligned base + aligned offsets) and kernels may reinterpret
/// it; an empty file (a zero-length mapping is an error on Linux) is an empty vector.
enum Backing {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mapped(m) => m,
            Backing::Owned(v) => v,
        }
    }
}

/// A memory-mapped, parsed and validated GGUF file. `Send + Sync`: models hold `Arc<GgufFile>`.
pub struct GgufFile {
    path: PathBuf,
    backing: Backing,
    gguf: Gguf,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("file_len", &self.file_len())
            .field("version", &self.gguf.version)
            .field("n_tensors", &self.gguf.tensors().len())
            .finish()
    }
}

impl GgufFile {
    /// Map and parse `path` with the default limits.
    pub fn open(path: impl AsRef<Path>) -> Result<GgufFile> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// Map and parse `path` with explicit options.
    pub fn open_with(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<GgufFile> {
        let path = path.as_ref().to_path_buf();
        let io = |source| GgufError::Io {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        // A device or pipe could be endless (Ollama CVE-2024-39721 read a random-number device).
        if !meta.is_file() {
            return Err(GgufError::NotAFile { path });
        }
        let backing = if meta.len() == 0 {
            Backing::Owned(Vec::new())
        } else {
            let mut mo = MmapOptions::new();
            if opts.populate {
                mo.populate();
            }
            // SAFETY: the mapping is read-only and private to this process. Its contents are
            // treated as untrusted bytes (every read is bounds-checked by the parser), so any
            // byte values are fine. The remaining hazard of file mappings is another process
            // truncating the file while it is mapped, which would make later reads fault
            // (SIGBUS); that is the same contract every mmap-based model loader (llama.cpp,
            // candle) accepts, and model files are not modified while in use.
            let map = unsafe { mo.map(&file) }.map_err(io)?;
            Backing::Mapped(map)
        };
        let gguf = Gguf::parse_with_limits(backing.bytes(), &opts.limits)?;
        Ok(GgufFile {
            path,
            backing,
            gguf,
        })
    }

    /// The parsed metadata and tensor infos.
    pub fn gguf(&self) -> &Gguf {
        &self.gguf
    }

    /// The whole file (page-aligned when non-empty).
    pub fn bytes(&self) -> &[u8] {
        self.backing.bytes()
    }

    /// Tell the kernel the pages of `range` (bytes of the file) will not be read again soon, so
    /// they leave this process's resident set (used after weights were repacked into an owned
    /// copy). Only pages wholly inside `range` are released; a later read simply faults them back
    /// in from the file, with the same contents. Returns the bytes released (0 when unmapped).
    pub fn release(&self, range: std::ops::Range<usize>) -> usize {
        let Backing::Mapped(map) = &self.backing else {
            return 0;
        };
        // 64 KiB: a multiple of every page size Linux uses (4, 16, 64 KiB), so offsets that are
        // multiples of it are page-aligned on any of them (the mapping itself starts on a page).
        let page = 64 << 10;
        let start = range.start.next_multiple_of(page);
        let end = (range.end.min(map.len()) / page) * page;
        if start >= end {
            return 0;
        }
        // SAFETY: MADV_DONTNEED on a read-only private file mapping that was never written only
        // drops the page-table entries: the next access re-reads the unchanged file, so no
        // reference into the mapping (including live `&[u8]` borrows) can observe a change.
        match unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
        } {
            Ok(()) => end - start,
            Err(_) => 0,
        }
    }

    /// The path the file was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// File size in bytes.
    pub fn file_len(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// The data of tensor `t` (zero-copy). `t` must come from this file's [`Gguf::tensors`]; a
    /// foreign `TensorInfo` whose range does not fit gets an empty slice rather than a panic.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let r = self.gguf.data_offset.checked_add(t.offset).and_then(|s| {
            s.checked_add(t.n_bytes)
                .map(|e| (usize::try_from(s), usize::try_from(e)))
        });
        match r {
            Some((Ok(s), Ok(e))) => self.bytes().get(s..e).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The data of the tensor named `name`, with its info.
    pub fn tensor_by_name(&self, name: &str) -> Option<(&TensorInfo, &[u8])> {
        let t = self.gguf.tensor(name)?;
        Some((t, self.tensor_data(t)))
    }

    /// Ask the kernel to read the whole file ahead (`MADV_WILLNEED`). Best effort: errors are
    /// returned but harmless to ignore.
    #[cfg(unix)]
    pub fn advise_willneed(&self) -> std::io::Result<()> {
        self.advise(memmap2::Advice::WillNeed)
    }

    /// Tell the kernel the file will be read in order (`MADV_SEQUENTIAL`), e.g. when repacking.
    #[cfg(unix)]
    pub fn advise_sequential(&self) -> std::io::Result<()> {
        self.advise(memmap2::Advice::Sequential)
    }

    /// Tell the kernel access is random (`MADV_RANDOM`), e.g. token embedding lookups.
    #[cfg(unix)]
    pub fn advise_random(&self) -> std::io::Result<()> {
        self.advise(memmap2::Advice::Random)
    }

    /// Ask for transparent huge pages on the mapping (`MADV_HUGEPAGE`; Linux only, and only
    /// effective where the kernel supports huge pages for read-only file mappings).
    #[cfg(target_os = "linux")]
    pub fn advise_hugepage(&self) -> std::io::Result<()> {
        self.advise(memmap2::Advice::HugePage)
    }

    #[cfg(unix)]
    fn advise(&self, advice: memmap2::Advice) -> std::io::Result<()> {
        match &self.backing {
            Backing::Mapped(m) => m.advise(advice),
            Backing::Owned(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn gguf_file_is_send_and_sync() {
        assert_send_sync::<GgufFile>();
    }
}
