//! Is an upload an MP4 video, or only something that starts like one? A streaming check of
//! the ISO base media file's top-level box structure, fed the bytes as they arrive.
//!
//! An MP4 file is a sequence of boxes, each a 32-bit big-endian size (the box's whole
//! length, header included; 1 = a 64-bit size follows the type, 0 = the box runs to the end
//! of the file), a four-character type, then the payload. A playable video has an `ftyp`
//! box first, a `moov` box (the index of the tracks and samples) and at least one `mdat`
//! box (the samples), and its boxes tile the file exactly: a truncated upload ends inside a
//! box. The check reads box headers only and skips payloads, so it costs nothing next to
//! storing the bytes and holds 16 bytes of state whatever the file size. It cannot tell a
//! well-formed file with nonsense inside its boxes from a real video: the worker's ffmpeg
//! still fails on those (the task is then retried and the video ends `failed`); what it
//! refuses up front is everything that could never be decoded because a part is missing.

/// Why an upload is not a complete MP4 video, in words a client can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotAVideo {
    #[error("the file is empty")]
    Empty,
    #[error("the file does not start with an MP4 `ftyp` box")]
    NoFileType,
    #[error("the box at byte {offset} has a malformed header (size {size})")]
    BadBox { offset: u64, size: u64 },
    #[error("the bytes at {offset} are not an MP4 box (type {kind:?})")]
    NotABox { offset: u64, kind: String },
    #[error(
        "the file ends at byte {len}, inside a box that runs to byte {box_end}: it is truncated"
    )]
    Truncated { len: u64, box_end: u64 },
    #[error("the file has no `{0}` box ({what})", what = missing_what(.0))]
    Missing(&'static str),
}

fn missing_what(kind: &str) -> &'static str {
    if kind == "moov" {
        "the index of its tracks"
    } else {
        "the media samples"
    }
}

/// The structure seen so far. Feed it every byte of the file in order, in chunks of any
/// size, then ask [`Mp4Structure::finish`] for the verdict.
#[derive(Debug, Clone, Default)]
pub struct Mp4Structure {
    /// Bytes fed so far.
    offset: u64,
    /// Where the next top-level box header starts.
    next_box: u64,
    /// The header of the box starting at `next_box`, as far as it has arrived.
    header: [u8; 16],
    header_len: usize,
    /// A box of size 0 runs to the end of the file: nothing after it is a box header.
    runs_to_end: bool,
    boxes: u64,
    has_moov: bool,
    has_mdat: bool,
}

impl Mp4Structure {
    /// Takes the next bytes of the file. An error is final: the file can no longer become a
    /// video, so the caller can stop reading it.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), NotAVideo> {
        while !bytes.is_empty() {
            if self.runs_to_end {
                self.offset += bytes.len() as u64;
                return Ok(());
            }
            if self.offset < self.next_box {
                // Inside a box's payload: skip it.
                let skip = (self.next_box - self.offset).min(bytes.len() as u64) as usize;
                self.offset += skip as u64;
                bytes = &bytes[skip..];
                continue;
            }
            let wanted = self.header_wanted();
            let take = (wanted - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            self.offset += take as u64;
            bytes = &bytes[take..];
            if self.header_len == self.header_wanted() {
                self.close_header()?;
            }
        }
        Ok(())
    }

    /// The verdict once the whole file has been fed.
    pub fn finish(&self) -> Result<(), NotAVideo> {
        if self.offset == 0 {
            return Err(NotAVideo::Empty);
        }
        if self.header_len > 0 || (!self.runs_to_end && self.offset < self.next_box) {
            let box_end = if self.header_len > 0 {
                // The header itself is cut short.
                self.next_box + self.header_wanted() as u64
            } else {
                self.next_box
            };
            return Err(NotAVideo::Truncated {
                len: self.offset,
                box_end,
            });
        }
        if !self.has_moov {
            return Err(NotAVideo::Missing("moov"));
        }
        if !self.has_mdat {
            return Err(NotAVideo::Missing("mdat"));
        }
        Ok(())
    }

    /// 8 header bytes, or 16 once the size field says a 64-bit size follows the type.
    fn header_wanted(&self) -> usize {
        if self.header_len >= 4 && self.size_field() == 1 {
            16
        } else {
            8
        }
    }

    fn size_field(&self) -> u32 {
        u32::from_be_bytes([
            self.header[0],
            self.header[1],
            self.header[2],
            self.header[3],
        ])
    }

    /// A whole header has arrived: check it and find where the next box starts.
    fn close_header(&mut self) -> Result<(), NotAVideo> {
        let start = self.next_box;
        let kind: [u8; 4] = [
            self.header[4],
            self.header[5],
            self.header[6],
            self.header[7],
        ];
        self.header_len = 0;
        if self.boxes == 0 && &kind != b"ftyp" {
            return Err(NotAVideo::NoFileType);
        }
        // Box types are four printable characters (`©` aside, which only nested boxes use).
        if !kind.iter().all(|b| (0x20..=0x7e).contains(b)) {
            return Err(NotAVideo::NotABox {
                offset: start,
                kind: String::from_utf8_lossy(&kind).into_owned(),
            });
        }
        let size = match self.size_field() {
            0 => {
                self.runs_to_end = true;
                None
            }
            1 => Some((
                u64::from_be_bytes(self.header[8..16].try_into().expect("8 bytes")),
                16,
            )),
            n => Some((u64::from(n), 8)),
        };
        if let Some((size, header_len)) = size {
            let end = start.checked_add(size);
            match end {
                Some(end) if size >= header_len => self.next_box = end,
                _ => {
                    return Err(NotAVideo::BadBox {
                        offset: start,
                        size,
                    });
                }
            }
        }
        self.boxes += 1;
        match &kind {
            b"moov" => self.has_moov = true,
            b"mdat" => self.has_mdat = true,
            _ => {}
        }
        Ok(())
    }
}

/// The verdict on a whole file held in memory.
pub fn check_mp4(bytes: &[u8]) -> Result<(), NotAVideo> {
    let mut structure = Mp4Structure::default();
    structure.feed(bytes)?;
    structure.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mp4_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    fn large_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = 1u32.to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(&((payload.len() + 16) as u64).to_be_bytes());
        b.extend_from_slice(payload);
        b
    }

    fn ftyp() -> Vec<u8> {
        mp4_box(b"ftyp", b"isom\0\0\x02\0isomiso2avc1mp41")
    }

    fn video(layout: &[(&[u8; 4], usize)]) -> Vec<u8> {
        let mut file = ftyp();
        for (kind, len) in layout {
            file.extend(mp4_box(kind, &vec![0x5a; *len]));
        }
        file
    }

    #[test]
    fn accepts_the_layouts_encoders_write() {
        // ffmpeg's default (index last), +faststart (index first), fragmented, a 64-bit box.
        check_mp4(&video(&[(b"free", 0), (b"mdat", 100), (b"moov", 40)])).unwrap();
        check_mp4(&video(&[(b"moov", 40), (b"mdat", 100)])).unwrap();
        check_mp4(&video(&[
            (b"moov", 40),
            (b"moof", 20),
            (b"mdat", 100),
            (b"mfra", 8),
        ]))
        .unwrap();
        let mut large = video(&[(b"moov", 40)]);
        large.extend(large_box(b"mdat", &[1; 64]));
        check_mp4(&large).unwrap();
        // A last box of size 0 runs to the end of the file.
        let mut to_end = video(&[(b"moov", 40)]);
        to_end.extend_from_slice(b"\0\0\0\0mdat");
        to_end.extend_from_slice(&[7; 1000]);
        check_mp4(&to_end).unwrap();
    }

    #[test]
    fn refuses_what_only_starts_like_an_mp4() {
        // Issue 17: twelve bytes of header were accepted and queued.
        assert_eq!(
            check_mp4(b"\0\0\0\x20ftypisom"),
            Err(NotAVideo::Truncated {
                len: 12,
                box_end: 32
            })
        );
        assert_eq!(
            check_mp4(b"\0\0\0\x0cftypisom"),
            Err(NotAVideo::Missing("moov"))
        );
        assert_eq!(
            check_mp4(&video(&[(b"mdat", 10)])),
            Err(NotAVideo::Missing("moov"))
        );
        assert_eq!(
            check_mp4(&video(&[(b"moov", 10)])),
            Err(NotAVideo::Missing("mdat"))
        );
        assert_eq!(check_mp4(b""), Err(NotAVideo::Empty));
        assert_eq!(check_mp4(b"GIF89a......"), Err(NotAVideo::NoFileType));
        let mut padded = video(&[(b"moov", 10), (b"mdat", 10)]);
        padded.extend_from_slice(&[0; 64]);
        assert!(matches!(check_mp4(&padded), Err(NotAVideo::NotABox { .. })));
        let mut tiny = ftyp();
        tiny.extend_from_slice(b"\0\0\0\x04moov");
        assert!(matches!(
            check_mp4(&tiny),
            Err(NotAVideo::BadBox { size: 4, .. })
        ));
        let mut huge = ftyp();
        huge.extend_from_slice(b"\0\0\0\x01mdat\xff\xff\xff\xff\xff\xff\xff\xf0");
        assert!(matches!(check_mp4(&huge), Err(NotAVideo::BadBox { .. })));
        let message = check_mp4(&video(&[(b"mdat", 10)])).unwrap_err().to_string();
        assert!(message.contains("moov"), "{message}");
    }

    /// Top-level layouts that hold a `moov` and an `mdat` among other boxes.
    fn layouts() -> impl Strategy<Value = Vec<u8>> {
        let kinds = prop::sample::select(vec![*b"free", *b"skip", *b"uuid", *b"moof", *b"udta"]);
        let other = (kinds, 0usize..300, any::<bool>());
        let others = prop::collection::vec(other, 0..6);
        (
            others,
            0usize..300,
            0usize..300,
            any::<u16>(),
            any::<bool>(),
        )
            .prop_map(|(others, moov_len, mdat_len, seed, large_mdat)| {
                let mut boxes: Vec<Vec<u8>> = others
                    .iter()
                    .map(|(kind, len, large)| {
                        let payload = vec![0xa5; *len];
                        if *large {
                            large_box(kind, &payload)
                        } else {
                            mp4_box(kind, &payload)
                        }
                    })
                    .collect();
                let at = |n: usize| usize::from(seed) % (n + 1);
                let moov = mp4_box(b"moov", &vec![0x11; moov_len]);
                let index = at(boxes.len());
                boxes.insert(index, moov);
                let mdat_payload = vec![0x22; mdat_len];
                let mdat = if large_mdat {
                    large_box(b"mdat", &mdat_payload)
                } else {
                    mp4_box(b"mdat", &mdat_payload)
                };
                let index = at(boxes.len() + 7) % (boxes.len() + 1);
                boxes.insert(index, mdat);
                let mut file = ftyp();
                file.extend(boxes.concat());
                file
            })
    }

    /// The verdict of feeding `bytes` cut at `cuts` (positions, any order).
    fn fed_in_pieces(bytes: &[u8], cuts: &[usize]) -> Result<(), NotAVideo> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut structure = Mp4Structure::default();
        for pair in cuts.windows(2) {
            structure.feed(&bytes[pair[0]..pair[1]])?;
        }
        structure.finish()
    }

    proptest! {
        #[test]
        fn a_complete_file_is_accepted_however_it_arrives(
            file in layouts(),
            cuts in prop::collection::vec(any::<usize>(), 0..20),
        ) {
            prop_assert_eq!(fed_in_pieces(&file, &cuts), Ok(()));
        }

        #[test]
        fn a_file_cut_inside_a_box_is_refused(file in layouts(), cut in any::<usize>()) {
            // Box boundaries, where a shorter file may still be complete.
            let mut boundaries = vec![0usize];
            let mut at = 0usize;
            while at < file.len() {
                let size = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
                at += if size == 1 {
                    u64::from_be_bytes(file[at + 8..at + 16].try_into().unwrap()) as usize
                } else {
                    size
                };
                boundaries.push(at);
            }
            let cut = cut % file.len();
            prop_assume!(!boundaries.contains(&cut));
            prop_assert!(check_mp4(&file[..cut]).is_err());
        }

        #[test]
        fn the_verdict_does_not_depend_on_how_the_bytes_are_chunked(
            head in prop::sample::select(vec![ftyp(), Vec::new()]),
            tail in prop::collection::vec(any::<u8>(), 0..400),
            cuts in prop::collection::vec(any::<usize>(), 0..20),
        ) {
            let bytes = [head, tail].concat();
            prop_assert_eq!(fed_in_pieces(&bytes, &cuts), check_mp4(&bytes));
        }
    }
}
