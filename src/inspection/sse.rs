//! Server-sent events: split a byte stream into whole events so each can be held,
//! inspected and then released unchanged.
//!
//! Guarantees:
//! - Chunks may be split anywhere (inside a line, a UTF-8 sequence, or a `\r\n` pair);
//!   the events yielded are the same as for the unsplit stream.
//! - Lines end with `\n`, `\r\n` or `\r` (the SSE grammar). An event ends at a blank
//!   line. [`SseEvent::raw`] holds the event's exact bytes including that blank line,
//!   so concatenating every `raw` (and the remainder from [`SseSplitter::finish`])
//!   reproduces the input byte for byte. A `\r` ending an event may be followed by a
//!   `\n` in the next chunk; that `\n` then opens the next event's `raw` and is not
//!   read as a blank line (at the very end of the stream, [`SseSplitter::finish`]
//!   returns it as an event with no fields).
//! - Parsed fields: `event`, `data` (the `data` lines joined with `\n`; empty when
//!   there is none, see `has_data`), `id`; comments and other fields stay in `raw`.
//! - Memory is bounded: an event longer than the limit, or a line that is not UTF-8,
//!   is an error, and the splitter refuses all further input.

use bytes::Bytes;

/// Why a stream cannot be split.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("event exceeds {limit} bytes")]
    EventTooLarge { limit: usize },
    #[error("event stream is not valid utf-8")]
    NotUtf8,
}

/// One event as received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The event's bytes, including its terminating blank line.
    pub raw: Bytes,
    pub event: Option<String>,
    /// The `data` lines joined with `\n`.
    pub data: String,
    /// Whether the event had at least one `data` line.
    pub has_data: bool,
    pub id: Option<String>,
    /// False only for a trailing event the stream ended without a blank line for.
    pub terminated: bool,
}

/// Incremental splitter; feed it chunks in order.
pub struct SseSplitter {
    buf: Vec<u8>,
    /// Bytes of `buf` already examined.
    scan: usize,
    /// Start of the current line in `buf`.
    line_start: usize,
    /// The last byte examined was a `\r`: a following `\n` completes that line end.
    pending_cr: bool,
    /// Still at the very start of the stream (a UTF-8 BOM is skipped when parsing).
    at_stream_start: bool,
    current: SseEvent,
    limit: usize,
    failed: Option<SseError>,
}

impl SseSplitter {
    /// `limit` is the largest event accepted, in bytes.
    pub fn new(limit: usize) -> Self {
        SseSplitter {
            buf: Vec::new(),
            scan: 0,
            line_start: 0,
            pending_cr: false,
            at_stream_start: true,
            current: SseEvent::default(),
            limit,
            failed: None,
        }
    }

    /// Adds a chunk; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        self.buf.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0; // start of the current event in `buf`
        while self.scan < self.buf.len() {
            if std::mem::take(&mut self.pending_cr) && self.buf[self.scan] == b'\n' {
                // The `\n` of a `\r\n` whose `\r` ended the line.
                self.scan += 1;
                self.line_start = self.scan;
                continue;
            }
            // The next line end: everything before it is line content.
            let Some(off) = memchr::memchr2(b'\n', b'\r', &self.buf[self.scan..]) else {
                self.scan = self.buf.len();
                break;
            };
            let i = self.scan + off;
            let b = self.buf[i];
            self.scan = i + 1;
            self.pending_cr = b == b'\r';
            if self.line_start == i {
                // Blank line: the event is complete (with the `\n` of a `\r\n` when
                // it has already arrived).
                if self.pending_cr && self.buf.get(self.scan) == Some(&b'\n') {
                    self.scan += 1;
                    self.pending_cr = false;
                }
                let mut ev = std::mem::take(&mut self.current);
                ev.raw = Bytes::copy_from_slice(&self.buf[start..self.scan]);
                ev.terminated = true;
                events.push(ev);
                start = self.scan;
            } else if let Err(e) = self.field(self.line_start, i) {
                self.failed = Some(e.clone());
                return Err(e);
            }
            self.line_start = self.scan;
        }
        self.buf.drain(..start);
        self.scan -= start;
        self.line_start -= start;
        if self.buf.len() > self.limit {
            let e = SseError::EventTooLarge { limit: self.limit };
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(events)
    }

    /// Ends the stream: returns the unterminated trailing event, if any bytes remain.
    pub fn finish(&mut self) -> Result<Option<SseEvent>, SseError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.buf.is_empty() {
            return Ok(None);
        }
        if self.line_start < self.buf.len() {
            self.field(self.line_start, self.buf.len())?;
        }
        let mut ev = std::mem::take(&mut self.current);
        ev.raw = Bytes::from(std::mem::take(&mut self.buf));
        self.scan = 0;
        self.line_start = 0;
        Ok(Some(ev))
    }

    /// Parses the line `buf[from..to]` (without its line end) into `current`.
    fn field(&mut self, from: usize, to: usize) -> Result<(), SseError> {
        let mut line = self.buf.get(from..to).unwrap_or_default();
        if std::mem::take(&mut self.at_stream_start) {
            line = line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(line);
        }
        let line = std::str::from_utf8(line).map_err(|_| SseError::NotUtf8)?;
        if line.starts_with(':') {
            return Ok(());
        }
        let (name, value) = match line.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match name {
            "data" => {
                if std::mem::replace(&mut self.current.has_data, true) {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
            }
            "event" => self.current.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.current.id = Some(value.to_owned()),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] = b"event: message\r\ndata: {\"a\":1}\r\ndata: second\r\nid: 7\r\n\r\n\
: comment\n\ndata:no-space\r\rdata: [DONE]\n\n";

    fn split_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut s = SseSplitter::new(1 << 16);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c).unwrap());
        }
        out.extend(s.finish().unwrap());
        out
    }

    #[test]
    fn parses_fields_and_line_endings() {
        let ev = split_all(&[STREAM]);
        assert_eq!(ev.len(), 4);
        assert_eq!(ev[0].event.as_deref(), Some("message"));
        assert_eq!(ev[0].data, "{\"a\":1}\nsecond");
        assert_eq!(ev[0].id.as_deref(), Some("7"));
        assert!(!ev[1].has_data && ev[1].data.is_empty());
        assert_eq!(ev[2].data, "no-space");
        assert_eq!(ev[3].data, "[DONE]");
        assert!(ev.iter().all(|e| e.terminated));
        let joined: Vec<u8> = ev.iter().flat_map(|e| e.raw.to_vec()).collect();
        assert_eq!(joined, STREAM);
    }

    #[test]
    fn every_split_point_gives_same_events() {
        let whole = split_all(&[STREAM]);
        for cut in 0..=STREAM.len() {
            let got = split_all(&[&STREAM[..cut], &STREAM[cut..]]);
            let fields = |v: &[SseEvent]| {
                v.iter()
                    .filter(|e| e.has_data)
                    .map(|e| (e.event.clone(), e.data.clone(), e.id.clone()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(fields(&got), fields(&whole), "cut at {cut}");
            let joined: Vec<u8> = got.iter().flat_map(|e| e.raw.to_vec()).collect();
            assert_eq!(joined, STREAM, "cut at {cut}");
        }
        // Byte by byte.
        let bytes: Vec<&[u8]> = STREAM.chunks(1).collect();
        let got = split_all(&bytes);
        assert_eq!(got.iter().filter(|e| e.has_data).count(), 3);
    }

    /// Random streams over the bytes that matter (line ends in every form, field
    /// separators, a multi-byte character), cut into random chunks: the same events
    /// with the same fields as the whole stream in one chunk, and their bytes together
    /// are the input (a `\r\n` cut after its `\r` may move the `\n` to the next event's
    /// `raw`, as documented above).
    #[test]
    fn random_streams_split_anywhere_give_the_same_events() {
        const ALPHABET: &[&[u8]] = &[
            b"\n",
            b"\r",
            b"\r\n",
            b"data",
            b"event",
            b"id",
            b":",
            b" ",
            b"x",
            "é".as_bytes(),
        ];
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..2_000 {
            let stream: Vec<u8> = (0..next(40))
                .flat_map(|_| ALPHABET[next(ALPHABET.len())].iter().copied())
                .collect();
            let whole = split_all(&[&stream]);
            let mut chunks = Vec::new();
            let mut at = 0;
            while at < stream.len() {
                let end = (at + 1 + next(8)).min(stream.len());
                chunks.push(&stream[at..end]);
                at = end;
            }
            let got = split_all(&chunks);
            // The one documented difference: the `\n` of a final `\r\n` cut after its
            // `\r` comes back from `finish` as an event of its own, with no fields.
            let carried = got.last().is_some_and(|e| {
                &e.raw[..] == b"\n" && !e.terminated && e.event.is_none() && !e.has_data
            });
            let events = &got[..got.len() - usize::from(carried)];
            let fields = |v: &[SseEvent]| {
                v.iter()
                    .map(|e| {
                        (
                            e.event.clone(),
                            e.data.clone(),
                            e.has_data,
                            e.id.clone(),
                            e.terminated,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                fields(events),
                fields(&whole),
                "{:?} in {} chunks",
                String::from_utf8_lossy(&stream),
                chunks.len()
            );
            let joined: Vec<u8> = got.iter().flat_map(|e| e.raw.to_vec()).collect();
            assert_eq!(joined, stream);
        }
    }

    #[test]
    fn crlf_split_inside_event_is_not_a_blank_line() {
        let got = split_all(&[b"data: a\r", b"\ndata: b\r\n\r\n"]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].data, "a\nb");
    }

    #[test]
    fn utf8_split_across_chunks() {
        let text = "data: é😀\n\n".as_bytes();
        let got = split_all(&[&text[..7], &text[7..9], &text[9..]]);
        assert_eq!(got[0].data, "é😀");
    }

    #[test]
    fn unterminated_tail_and_bom() {
        let got = split_all(&[b"\xef\xbb\xbfdata: x\n\ndata: tail"]);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].data, "x");
        assert!(!got[1].terminated);
        assert_eq!(got[1].data, "tail");
        assert_eq!(&got[1].raw[..], b"data: tail");
    }

    #[test]
    fn refuses_oversized_and_non_utf8() {
        let mut s = SseSplitter::new(16);
        assert_eq!(
            s.push(&[b'x'; 17]),
            Err(SseError::EventTooLarge { limit: 16 })
        );
        assert!(s.push(b"\n\n").is_err(), "stays failed");
        let mut s = SseSplitter::new(1024);
        assert_eq!(s.push(b"data: \xff\n\n"), Err(SseError::NotUtf8));
        // Many small events in one big chunk are fine.
        let mut s = SseSplitter::new(16);
        let many = b"data: 1\n\n".repeat(100);
        assert_eq!(s.push(&many).unwrap().len(), 100);
    }
}
