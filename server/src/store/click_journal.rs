//! The click journal: how SQLite acknowledges a redirect before the click is in the
//! database file.
//!
//! A tracking redirect must not answer before its click is durable, but putting each
//! click through a SQLite commit kept every visitor waiting for the batch in progress and
//! then for its own (the redirect ran at about a third of a bare axum 302 on two cores).
//! So on SQLite a click is appended, as one JSON line, to a journal file next to the
//! database and queued for the writer; the redirect answers once the line is written.
//! The writer then applies queued clicks in large batches (see `writer`). A written
//! line has the durability of a SQLite commit under `synchronous = NORMAL`, the mode the
//! database runs in: it survives the process being killed, and a power loss may lose the
//! last ones.
//!
//! Appends happen under one lock that also queues the click for the writer, so the
//! writer sees clicks in journal order and "applied through sequence number N" means
//! every line up to N is in the database. The journal is split into segments; once the
//! writer has committed every click of a closed segment the file is zeroed and kept
//! for the next segment (one such spare; any other is deleted). At start,
//! before the writer runs, whatever segments a previous process left are replayed
//! (a click already in the database is skipped by its id) and then deleted.
//!
//! A segment is a file of [`SEGMENT_BYTES`] zero bytes, written out in full when it is
//! created and mapped into memory; a line is appended by copying it into the mapping,
//! after the lines before it. Lines are JSON, which never holds a zero byte, so a
//! segment's text ends at its first zero. Why not `write(2)`: a write per click was
//! about a twelfth of the server's time under load (the system call, and the kernel
//! allocating and zeroing a page-cache page for every few lines, since the file was
//! truncated after every batch); a copy into pages already in the page cache is a
//! memcpy. The copy has the same durability: the mapping is shared, so the bytes are in
//! the file's page cache as soon as they are copied, exactly where `write(2)` puts
//! them. The zeros are written for real, not left as a sparse file, so that the disk
//! space is taken when the segment is created (an error then) and never when a page is
//! first touched (which the kernel could only answer with `SIGBUS`).
//!
//! Under sustained load the writer is never exactly caught up when it commits, so the
//! open segment fills and a new one opens every 45 000 clicks or so. Writing out 16 MiB
//! under the append lock each time stalled every redirect for milliseconds; instead the
//! writer zeroes a fully applied closed segment (outside the lock) and keeps it, mapped,
//! as the spare that the next segment takes over by a rename.

use std::collections::VecDeque;
use std::fs::{self, OpenOptions};
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use memmap2::{MmapMut, MmapOptions};

use super::clicks::RecordClick;

/// The size of a segment: room for about 45 000 clicks.
const SEGMENT_BYTES: usize = 16 << 20;

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file system refused.
    #[error("click journal {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A click could not be encoded (a bug: every field is plain data).
    #[error("cannot encode a click for the journal: {0}")]
    Encode(#[from] sonic_rs::Error),
    /// A line longer than a whole segment (a bug: a click's fields are bounded).
    #[error("a click journal line of {0} bytes is longer than a segment")]
    LineTooLong(usize),
    /// The journal's lock was poisoned by a panic while appending.
    #[error("the click journal's lock was poisoned")]
    Poisoned,
}

/// The journal of one SQLite database. See the module documentation.
#[derive(Debug)]
pub struct ClickJournal {
    dir: PathBuf,
    active: Mutex<Active>,
}

#[derive(Debug)]
struct Active {
    /// The open segment, mapped.
    map: MmapMut,
    segment: u64,
    /// Bytes of lines in the open segment; the rest of it is zeros.
    bytes: usize,
    /// Sequence number of the next click appended.
    next_seq: u64,
    /// Closed segments still on disk, oldest first.
    closed: VecDeque<Closed>,
    /// A zeroed segment file, mapped, ready to become the next segment.
    spare: Option<MmapMut>,
}

/// A segment no longer appended to, waiting for the writer to apply its clicks.
#[derive(Debug)]
struct Closed {
    segment: u64,
    /// The last sequence number it holds.
    last_seq: u64,
    map: MmapMut,
    /// Bytes of lines in it (the part to zero).
    bytes: usize,
}

/// Clicks a previous process journaled, to replay before serving.
#[derive(Debug, Default)]
pub struct Leftover {
    /// Every readable click, in journal order.
    pub clicks: Vec<RecordClick>,
    /// Lines that could not be read: a line cut short by a crash (only ever the last of
    /// a segment), or damage.
    pub unreadable: usize,
    segments: Vec<u64>,
}

impl ClickJournal {
    /// The journal directory of the database at `db_path`: `<db_path>-clicks`, next to
    /// SQLite's own `-wal` and `-shm` files.
    pub fn dir_for(db_path: &Path) -> PathBuf {
        let mut dir = db_path.as_os_str().to_owned();
        dir.push("-clicks");
        PathBuf::from(dir)
    }

    /// Opens the journal in `dir` (created if needed): reads what an earlier process
    /// left and starts a new segment after it.
    pub fn open(dir: &Path) -> Result<(Self, Leftover), JournalError> {
        let io_err = |source| JournalError::Io {
            path: dir.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(io_err)?;
        let mut segments = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err)? {
            let name = entry.map_err(io_err)?.file_name();
            if let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".jsonl"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                segments.push(n);
            }
        }
        // A spare holds nothing (it was zeroed before it was renamed), and is made anew.
        remove_file(&spare_path(dir))?;
        segments.sort_unstable();
        let mut leftover = Leftover::default();
        for &segment in &segments {
            let path = segment_path(dir, segment);
            let text = fs::read(&path).map_err(|source| JournalError::Io {
                path: path.clone(),
                source,
            })?;
            read_segment(&text, &mut leftover);
        }
        leftover.segments = segments;
        let segment = leftover.segments.last().map_or(1, |last| last + 1);
        let map = create_segment(dir, segment)?;
        let journal = Self {
            dir: dir.to_owned(),
            active: Mutex::new(Active {
                map,
                segment,
                bytes: 0,
                next_seq: 1,
                closed: VecDeque::new(),
                spare: None,
            }),
        };
        Ok((journal, leftover))
    }

    /// Deletes the segments [`ClickJournal::open`] read, once their clicks are committed.
    pub fn discard(&self, leftover: &Leftover) -> Result<(), JournalError> {
        for &segment in &leftover.segments {
            remove_segment(&self.dir, segment)?;
        }
        Ok(())
    }

    /// Encodes `click` as a journal line (outside the lock: the costly part).
    ///
    /// With `sonic-rs`, whose string escaping checks many bytes at a time: a line is
    /// mostly ids and names, and `serde_json`'s byte-at-a-time escaping of them was a
    /// seventh of the redirect's own instructions. The line is plain JSON all the same,
    /// and is read back with `serde_json`.
    pub fn encode(click: &RecordClick) -> Result<Vec<u8>, JournalError> {
        // Sized for a click with a user agent and a referrer: no regrowth while encoding.
        let mut line = Vec::with_capacity(768);
        sonic_rs::to_writer(&mut line, click)?;
        line.push(b'\n');
        Ok(line)
    }

    /// Writes `line` and, still holding the lock, hands its sequence number to `queue`,
    /// so that the writer's queue is in journal order. Returns once the line is in the
    /// file's pages (see the module documentation). `line` must hold no zero byte, as
    /// [`ClickJournal::encode`]'s lines never do.
    pub fn append(&self, line: &[u8], queue: impl FnOnce(u64)) -> Result<(), JournalError> {
        if line.len() > SEGMENT_BYTES {
            return Err(JournalError::LineTooLong(line.len()));
        }
        let mut active = self.active.lock().map_err(|_| JournalError::Poisoned)?;
        if active.bytes + line.len() > SEGMENT_BYTES {
            // The next segment is the spare, renamed; without one (the writer is more
            // than a segment behind) it is created here, stalling appends meanwhile.
            let next = active.segment + 1;
            let map = match active.spare.take() {
                Some(spare) => {
                    rename(&spare_path(&self.dir), &segment_path(&self.dir, next))?;
                    spare
                }
                None => create_segment(&self.dir, next)?,
            };
            let closed = Closed {
                segment: active.segment,
                last_seq: active.next_seq - 1,
                map: std::mem::replace(&mut active.map, map),
                bytes: active.bytes,
            };
            active.closed.push_back(closed);
            active.segment = next;
            active.bytes = 0;
        }
        let start = active.bytes;
        active.map[start..start + line.len()].copy_from_slice(line);
        active.bytes += line.len();
        let seq = active.next_seq;
        active.next_seq += 1;
        queue(seq);
        Ok(())
    }

    /// Every click up to sequence number `seq` is committed to the database: zeroes the
    /// closed segments that hold nothing newer (keeping one as the spare, deleting the
    /// others), and the open one when it holds nothing else. The journal thus keeps no
    /// copy of what the database holds (an erasure or the retention sweep would miss
    /// it): under light traffic it is emptied after every batch, under sustained load
    /// its segments go within seconds.
    pub fn applied_through(&self, seq: u64) -> Result<(), JournalError> {
        let (done, has_spare) = {
            let mut active = self.active.lock().map_err(|_| JournalError::Poisoned)?;
            if seq + 1 == active.next_seq && active.bytes > 0 {
                // Under the lock, so no append comes between; appends continue at the
                // start. The pages stay in the page cache for the next lines.
                let used = active.bytes;
                active.map[..used].fill(0);
                active.bytes = 0;
            }
            let mut done = Vec::new();
            while active.closed.front().is_some_and(|c| c.last_seq <= seq) {
                done.extend(active.closed.pop_front());
            }
            // Only this thread makes spares (appends only take one), so this holds
            // until the loop below makes one.
            (done, active.spare.is_some())
        };
        // Zeroed and unlinked outside the lock: appends never wait for either. The
        // first becomes the spare if there is none; the others go.
        let mut done = done.into_iter();
        if !has_spare {
            if let Some(mut closed) = done.next() {
                closed.map[..closed.bytes].fill(0);
                // Renamed once zeroed, so that a crash never leaves a spare holding clicks.
                rename(
                    &segment_path(&self.dir, closed.segment),
                    &spare_path(&self.dir),
                )?;
                self.active
                    .lock()
                    .map_err(|_| JournalError::Poisoned)?
                    .spare = Some(closed.map);
            }
        }
        for closed in done {
            remove_segment(&self.dir, closed.segment)?;
        }
        Ok(())
    }

    /// The writer stopped with every click up to `seq` committed: when that is every
    /// click ever appended, the journal is empty and its files go.
    pub fn close(&self, seq: u64) -> Result<(), JournalError> {
        self.applied_through(seq)?;
        let mut active = self.active.lock().map_err(|_| JournalError::Poisoned)?;
        if active.spare.take().is_some() {
            remove_file(&spare_path(&self.dir))?;
        }
        if seq + 1 >= active.next_seq {
            remove_segment(&self.dir, active.segment)?;
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.jsonl"))
}

/// Creates segment `segment` as [`SEGMENT_BYTES`] zeros, written out (see the module
/// documentation), and maps it.
fn create_segment(dir: &Path, segment: u64) -> Result<MmapMut, JournalError> {
    let path = segment_path(dir, segment);
    let io_err = |source| JournalError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(io_err)?;
    let zeros =
        io::copy(&mut io::repeat(0).take(SEGMENT_BYTES as u64), &mut file).map_err(io_err)?;
    debug_assert_eq!(zeros, SEGMENT_BYTES as u64);
    // SAFETY: a mapping is only sound while nothing else changes the file's length
    // (touching a page past the end raises SIGBUS). The file is this journal's own,
    // created just now in the database's `-clicks` directory, and this process never
    // shortens it while mapped: lines are copied in and zeroed out, and the file is
    // unlinked (which leaves the mapping valid) rather than truncated.
    #[allow(unsafe_code)]
    let map = unsafe {
        MmapOptions::new()
            .len(SEGMENT_BYTES)
            .populate()
            .map_mut(&file)
    }
    .map_err(io_err)?;
    Ok(map)
}

/// The zeroed segment kept for reuse: not named like a segment, so never replayed.
fn spare_path(dir: &Path) -> PathBuf {
    dir.join("spare")
}

fn remove_segment(dir: &Path, segment: u64) -> Result<(), JournalError> {
    remove_file(&segment_path(dir, segment))
}

/// Deletes `path`, if it is there.
fn remove_file(path: &Path) -> Result<(), JournalError> {
    match fs::remove_file(path) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(JournalError::Io {
            path: path.to_owned(),
            source: err,
        }),
        _ => Ok(()),
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), JournalError> {
    fs::rename(from, to).map_err(|source| JournalError::Io {
        path: from.to_owned(),
        source,
    })
}

/// Adds the clicks of one segment's bytes to `leftover`. Only complete lines count: a
/// crash in the middle of a copy leaves a last line without its newline. The text ends
/// at the first zero byte (the unused rest of the segment).
fn read_segment(text: &[u8], leftover: &mut Leftover) {
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let mut lines = text[..end].split(|b| *b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let is_last = lines.peek().is_none();
        if is_last {
            // After the final newline: empty, or a line cut short.
            if !line.is_empty() {
                leftover.unreadable += 1;
            }
            break;
        }
        match serde_json::from_slice::<RecordClick>(line) {
            Ok(click) => leftover.clicks.push(click),
            Err(_) => leftover.unreadable += 1,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests fail loudly by design.
mod tests {
    use super::*;
    use crate::inference::Answer;
    use crate::store::clicks::ClickInference;
    use naano_core::OrgKind;

    fn click(n: u32) -> RecordClick {
        RecordClick {
            click_id: format!("click-{n}"),
            inference_id: format!("inference-{n}"),
            session_id: format!("naano_session_{n}"),
            link_id: "link".into(),
            creator_id: "creator".into(),
            clicked_at: 1_700_000_000_000 + i64::from(n),
            client_ip: Some(std::net::Ipv4Addr::new(11, 0, 0, 1).into()),
            user_agent: Some("Mozilla/5.0 \"quoted\"\nnewline".into()),
            referrer: None,
            inference: if n % 2 == 0 {
                ClickInference::Settled(Some(Answer {
                    company: "Acme, Inc.".into(),
                    domain: Some("acme.com".into()),
                    confidence: 0.75,
                    source: "learned".into(),
                    kind: OrgKind::Business,
                }))
            } else {
                ClickInference::Job { lease_until: 42 }
            },
        }
    }

    /// Appends clicks `ns`, returning their sequence numbers.
    fn append(journal: &ClickJournal, ns: std::ops::Range<u32>) -> Vec<u64> {
        let mut seqs = Vec::new();
        for n in ns {
            let line = ClickJournal::encode(&click(n)).unwrap();
            journal.append(&line, |seq| seqs.push(seq)).unwrap();
        }
        seqs
    }

    fn ids(leftover: &Leftover) -> Vec<&str> {
        leftover
            .clicks
            .iter()
            .map(|c| c.click_id.as_str())
            .collect()
    }

    /// Bytes of lines in the segment at `path`: up to its first zero.
    fn text_len(path: &Path) -> usize {
        let bytes = fs::read(path).unwrap();
        bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len())
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_reopened_journal_gives_back_every_click_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, leftover) = ClickJournal::open(dir.path()).unwrap();
        assert!(leftover.clicks.is_empty());
        assert_eq!(append(&journal, 0..5), [1, 2, 3, 4, 5]);
        drop(journal); // as a killed process would: nothing closed

        let (journal, leftover) = ClickJournal::open(dir.path()).unwrap();
        assert_eq!(
            ids(&leftover),
            ["click-0", "click-1", "click-2", "click-3", "click-4"]
        );
        assert_eq!(leftover.unreadable, 0);
        assert_eq!(
            format!("{:?}", leftover.clicks[2]),
            format!("{:?}", click(2))
        );
        // The old segment stays until its clicks are committed, then goes.
        assert_eq!(files(dir.path()).len(), 2);
        journal.discard(&leftover).unwrap();
        assert_eq!(files(dir.path()), ["00000000000000000002.jsonl"]);
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = ClickJournal::open(dir.path()).unwrap();
        append(&journal, 0..3);
        drop(journal);
        let path = segment_path(dir.path(), 1);
        let end = text_len(&path);
        let mut bytes = fs::read(&path).unwrap();
        let cut = ClickJournal::encode(&click(3)).unwrap();
        let half = cut.len() / 2;
        bytes[end..end + half].copy_from_slice(&cut[..half]);
        // A copy need not go front to back: its end, newline included, may be there
        // with zeros between.
        let tail = cut.len() - 8;
        bytes[end + tail..end + cut.len()].copy_from_slice(&cut[tail..]);
        fs::write(&path, bytes).unwrap();

        let (_, leftover) = ClickJournal::open(dir.path()).unwrap();
        assert_eq!(leftover.clicks.len(), 3);
        assert_eq!(leftover.unreadable, 1);
    }

    #[test]
    fn the_open_segment_is_emptied_once_every_click_in_it_is_applied() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = ClickJournal::open(dir.path()).unwrap();
        let path = segment_path(dir.path(), 1);
        // Created in full: the disk space is taken now, never when a page is touched.
        assert_eq!(fs::metadata(&path).unwrap().len(), SEGMENT_BYTES as u64);
        assert_eq!(text_len(&path), 0);
        append(&journal, 0..3);
        journal.applied_through(2).unwrap();
        let three_lines = text_len(&path);
        assert!(three_lines > 0, "click 3 is not applied yet");
        assert_eq!(
            fs::read(&path).unwrap()[..three_lines]
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            3
        );
        journal.applied_through(3).unwrap();
        assert!(
            fs::read(&path).unwrap().iter().all(|b| *b == 0),
            "no copy of a committed click is left"
        );
        // Appends go on from the start of the emptied file.
        assert_eq!(append(&journal, 3..4), [4]);
        drop(journal);
        let (_, leftover) = ClickJournal::open(dir.path()).unwrap();
        assert_eq!(ids(&leftover), ["click-3"]);
        assert_eq!(leftover.unreadable, 0);
    }

    #[test]
    fn applied_segments_are_zeroed_and_reused_and_all_go_on_a_clean_close() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = ClickJournal::open(dir.path()).unwrap();
        let name = |segment| format!("{segment:020}.jsonl");
        // Lines big enough that two fill a segment.
        let big = vec![b'x'; SEGMENT_BYTES / 2];
        for _ in 0..5 {
            journal.append(&big, |_| ()).unwrap();
        }
        // Segments 1 (seqs 1-2), 2 (3-4), and 3 open (5).
        assert_eq!(files(dir.path()), [name(1), name(2), name(3)]);
        journal.applied_through(3).unwrap();
        // Segment 1 held only applied clicks: zeroed, it is the spare.
        assert_eq!(files(dir.path()), [name(2), name(3), "spare".into()]);
        assert!(fs::read(dir.path().join("spare"))
            .unwrap()
            .iter()
            .all(|b| *b == 0));
        journal.applied_through(4).unwrap();
        // So did segment 2, with a spare already there: deleted.
        assert_eq!(files(dir.path()), [name(3), "spare".into()]);
        // Seq 6 fills segment 3; seq 7 goes to segment 4, the spare renamed.
        journal.append(&big, |_| ()).unwrap();
        journal.append(&big, |_| ()).unwrap();
        assert_eq!(files(dir.path()), [name(3), name(4)]);
        assert_eq!(text_len(&dir.path().join(name(4))), SEGMENT_BYTES / 2);
        journal.close(6).unwrap();
        assert_eq!(files(dir.path()), [name(4)], "seq 7 is not applied: kept");
        journal.close(7).unwrap();
        assert!(files(dir.path()).is_empty());
    }

    #[test]
    fn a_spare_left_by_a_crash_is_deleted_and_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let (journal, _) = ClickJournal::open(dir.path()).unwrap();
        let big = vec![b'x'; SEGMENT_BYTES / 2];
        for _ in 0..3 {
            journal.append(&big, |_| ()).unwrap();
        }
        journal.applied_through(2).unwrap();
        assert!(files(dir.path()).contains(&"spare".to_owned()));
        drop(journal);

        let (_journal, leftover) = ClickJournal::open(dir.path()).unwrap();
        assert_eq!(leftover.clicks.len(), 0);
        assert_eq!(leftover.unreadable, 1, "the one unapplied line is no click");
        assert!(!files(dir.path()).contains(&"spare".to_owned()));
    }
}
