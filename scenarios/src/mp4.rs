//! Builds valid, decodable MP4 upload payloads of an exact byte size in-process, so the video
//! upload scenario can send real videos of any size without fixtures or an external encoder.
//!
//! Layout: `ftyp`, `moov`, `mdat`, `free`. The `mdat` holds a short H.264 Constrained
//! Baseline clip whose macroblocks are all I_PCM (raw samples), so no entropy coder is
//! needed; the zero-filled `free` box at the end, which demuxers skip, pads the file to the
//! requested size without moving any sample offset.

use std::sync::OnceLock;

use bytes::Bytes;

/// Width in pixels of the encoded picture.
pub const VIDEO_WIDTH: u32 = WIDTH_IN_MACROBLOCKS * 16;
/// Height in pixels of the encoded picture.
pub const VIDEO_HEIGHT: u32 = HEIGHT_IN_MACROBLOCKS * 16;
/// Frame rate of the encoded clip.
pub const FRAMES_PER_SECOND: u32 = 10;
/// Number of frames in the clip; every one is an IDR picture.
pub const FRAME_COUNT: u32 = 20;
/// Duration of the clip, as ffprobe reports it.
pub const DURATION_MILLIS: u32 = FRAME_COUNT * 1000 / FRAMES_PER_SECOND;

const WIDTH_IN_MACROBLOCKS: u32 = 4;
const HEIGHT_IN_MACROBLOCKS: u32 = 4;

/// Ticks per second for both the movie and the media timescale: 1000 makes every duration
/// an exact number of milliseconds.
const TIMESCALE: u32 = 1000;
const FRAME_DURATION_TICKS: u32 = TIMESCALE / FRAMES_PER_SECOND;
const _: () = assert!(
    TIMESCALE.is_multiple_of(FRAMES_PER_SECOND),
    "frames must last whole ticks"
);

/// Constrained Baseline: profile 66 with constraint_set0 and constraint_set1 set.
const PROFILE_IDC_BASELINE: u8 = 66;
const CONSTRAINT_FLAGS_CONSTRAINED_BASELINE: u8 = 0b1100_0000;
/// Level 2.0 (up to 2 Mbit/s, 396 macroblocks per frame) covers the ~0.5 Mbit/s of raw samples.
const LEVEL_IDC: u8 = 20;
/// frame_num is coded in log2_max_frame_num_minus4 + 4 bits; we write minus4 = 0.
const LOG2_MAX_FRAME_NUM: u32 = 4;

const NAL_REF_IDC_REFERENCE: u8 = 3;
const NAL_TYPE_IDR_SLICE: u8 = 5;
const NAL_TYPE_SPS: u8 = 7;
const NAL_TYPE_PPS: u8 = 8;
/// slice_type 7: an I slice, and every slice of the picture is an I slice.
const SLICE_TYPE_ALL_I: u32 = 7;
/// In an I slice, mb_type 25 is I_PCM: raw samples follow after byte alignment.
const MB_TYPE_I_PCM: u32 = 25;
/// avcC lengthSizeMinusOne = 3: every NAL unit in `mdat` has a 4-byte big-endian length.
const NAL_LENGTH_PREFIX_BYTES: usize = 4;

const LUMA_SAMPLES_PER_MACROBLOCK: usize = 16 * 16;
const CHROMA_SAMPLES_PER_MACROBLOCK: usize = 8 * 8;

/// A `free` box needs at least its 8-byte header, so even the smallest file ends in one.
const FREE_BOX_HEADER_LEN: u64 = 8;
/// A `free` box larger than this needs the 16-byte 64-bit-size header form.
const LARGEST_32_BIT_BOX: u64 = u32::MAX as u64;

/// Why an MP4 of the requested size cannot be produced.
#[derive(Debug, thiserror::Error)]
pub enum Mp4Error {
    /// The requested size cannot hold the decodable video plus an empty `free` box.
    #[error(
        "an MP4 of {requested} bytes is too small: the smallest valid video this generator \
         makes is {minimum} bytes; request at least {minimum} bytes (mp4::minimum_size())"
    )]
    TooSmall { requested: u64, minimum: u64 },
    /// The requested size does not fit in memory addressable on this platform.
    #[error(
        "an MP4 of {requested} bytes cannot be held in memory on this platform (at most \
         {maximum} bytes); request a smaller size"
    )]
    TooLarge { requested: u64, maximum: u64 },
}

/// A valid MP4 of exactly `size` bytes: an H.264 video track that ffmpeg/ffprobe decode
/// without errors, followed by filler so the file has the requested size.
///
/// The video is [`VIDEO_WIDTH`]x[`VIDEO_HEIGHT`] at [`FRAMES_PER_SECOND`] fps lasting
/// [`DURATION_MILLIS`] ms; `size` must be at least [`minimum_size()`].
pub fn mp4_of_size(size: u64) -> Result<Bytes, Mp4Error> {
    let decodable = decodable_prefix();
    let minimum = minimum_size();
    if size < minimum {
        return Err(Mp4Error::TooSmall {
            requested: size,
            minimum,
        });
    }
    let too_large = Mp4Error::TooLarge {
        requested: size,
        maximum: isize::MAX as u64,
    };
    let file_len = usize::try_from(size)
        .ok()
        .filter(|&len| len <= isize::MAX as usize)
        .ok_or(too_large)?;

    // Zero-initialised allocation maps untouched pages lazily, so the filler costs nothing
    // until the bytes are read; only the decodable prefix and the free header are written.
    let mut file = vec![0u8; file_len];
    file[..decodable.len()].copy_from_slice(decodable);
    let free_box_len = size - decodable.len() as u64;
    write_free_box_header(&mut file[decodable.len()..], free_box_len);
    Ok(Bytes::from(file))
}

/// The smallest size mp4_of_size accepts.
pub fn minimum_size() -> u64 {
    decodable_prefix().len() as u64 + FREE_BOX_HEADER_LEN
}

/// `ftyp` + `moov` + `mdat`: identical for every size, so it is built once and reused.
fn decodable_prefix() -> &'static [u8] {
    static PREFIX: OnceLock<Vec<u8>> = OnceLock::new();
    PREFIX.get_or_init(build_decodable_prefix)
}

/// Writes the header of a `free` box spanning all of `free_box` (`free_box_len` bytes); the
/// payload is left as it is (zeros).
fn write_free_box_header(free_box: &mut [u8], free_box_len: u64) {
    if free_box_len <= LARGEST_32_BIT_BOX {
        free_box[0..4].copy_from_slice(&(free_box_len as u32).to_be_bytes());
        free_box[4..8].copy_from_slice(b"free");
    } else {
        // size 1 means "the real size follows the type as a 64-bit largesize".
        free_box[0..4].copy_from_slice(&1u32.to_be_bytes());
        free_box[4..8].copy_from_slice(b"free");
        free_box[8..16].copy_from_slice(&free_box_len.to_be_bytes());
    }
}

fn build_decodable_prefix() -> Vec<u8> {
    let sps = nal_unit(
        NAL_REF_IDC_REFERENCE,
        NAL_TYPE_SPS,
        &sequence_parameter_set(),
    );
    let pps = nal_unit(
        NAL_REF_IDC_REFERENCE,
        NAL_TYPE_PPS,
        &picture_parameter_set(),
    );

    let mut mdat_payload = Vec::new();
    let mut sample_sizes = Vec::with_capacity(FRAME_COUNT as usize);
    for frame in 0..FRAME_COUNT {
        let slice = nal_unit(NAL_REF_IDC_REFERENCE, NAL_TYPE_IDR_SLICE, &idr_slice(frame));
        mdat_payload.extend_from_slice(&box_len(slice.len()).to_be_bytes());
        mdat_payload.extend_from_slice(&slice);
        sample_sizes.push(box_len(NAL_LENGTH_PREFIX_BYTES + slice.len()));
    }

    let ftyp = file_type_box();
    // The chunk offset is a fixed-width field, so the moov length does not depend on its
    // value: build once to measure, then again with the real offset of the first sample.
    let moov_len = movie_box(&sps, &pps, &sample_sizes, 0).len();
    let first_sample_offset = box_len(ftyp.len() + moov_len + 8);
    let moov = movie_box(&sps, &pps, &sample_sizes, first_sample_offset);
    let mdat = mp4_box(b"mdat", &mdat_payload);
    [ftyp, moov, mdat].concat()
}

// ---------------------------------------------------------------------------------------
// H.264 bitstream
// ---------------------------------------------------------------------------------------

/// Writes bits most-significant first, as H.264 syntax elements are laid out.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    partial_byte: u8,
    partial_bits: u32,
}

impl BitWriter {
    fn bit(&mut self, bit: bool) {
        self.partial_byte = (self.partial_byte << 1) | u8::from(bit);
        self.partial_bits += 1;
        if self.partial_bits == 8 {
            self.bytes.push(self.partial_byte);
            self.partial_byte = 0;
            self.partial_bits = 0;
        }
    }

    /// u(n): the low `count` bits of `value`.
    fn bits(&mut self, value: u64, count: u32) {
        for shift in (0..count).rev() {
            self.bit((value >> shift) & 1 == 1);
        }
    }

    fn flag(&mut self, flag: bool) {
        self.bit(flag);
    }

    /// ue(v): unsigned Exp-Golomb.
    fn ue(&mut self, value: u32) {
        self.exp_golomb(u64::from(value));
    }

    /// se(v): signed Exp-Golomb, mapping 1, -1, 2, -2 ... to codes 1, 2, 3, 4 ...
    fn se(&mut self, value: i32) {
        let value = i64::from(value);
        let code_num = if value > 0 { 2 * value - 1 } else { -2 * value };
        self.exp_golomb(code_num.unsigned_abs());
    }

    /// code_num + 1 in binary, preceded by as many zeros as it has bits after the first.
    fn exp_golomb(&mut self, code_num: u64) {
        let code = code_num + 1;
        let code_bits = u64::BITS - code.leading_zeros();
        self.bits(0, code_bits - 1);
        self.bits(code, code_bits);
    }

    fn is_byte_aligned(&self) -> bool {
        self.partial_bits == 0
    }

    fn align_with_zeros(&mut self) {
        while !self.is_byte_aligned() {
            self.bit(false);
        }
    }

    /// Whole bytes written at a byte boundary (I_PCM samples).
    fn aligned_bytes(&mut self, bytes: &[u8]) {
        if self.is_byte_aligned() {
            self.bytes.extend_from_slice(bytes);
        } else {
            for &byte in bytes {
                self.bits(u64::from(byte), 8);
            }
        }
    }

    /// rbsp_trailing_bits(): a stop bit, then zeros to the byte boundary.
    fn rbsp_trailing_bits(&mut self) {
        self.bit(true);
        self.align_with_zeros();
    }

    #[cfg(test)]
    fn bit_len(&self) -> usize {
        self.bytes.len() * 8 + self.partial_bits as usize
    }

    /// The bytes written, zero-padded to a whole byte.
    fn into_bytes(mut self) -> Vec<u8> {
        self.align_with_zeros();
        self.bytes
    }
}

/// A NAL unit: its one-byte header, then the RBSP with emulation prevention applied.
fn nal_unit(nal_ref_idc: u8, nal_unit_type: u8, rbsp: &[u8]) -> Vec<u8> {
    let mut nal = vec![(nal_ref_idc << 5) | nal_unit_type];
    nal.extend_from_slice(&escape_start_code_emulation(rbsp));
    nal
}

/// Inserts 0x03 after any two zero bytes followed by a byte <= 3, so the payload never
/// contains a start code (0x000001) or anything a decoder would mistake for one.
fn escape_start_code_emulation(rbsp: &[u8]) -> Vec<u8> {
    const EMULATION_PREVENTION_BYTE: u8 = 0x03;
    let mut escaped = Vec::with_capacity(rbsp.len() + rbsp.len() / 64);
    let mut zeros_in_a_row = 0;
    for &byte in rbsp {
        if zeros_in_a_row >= 2 && byte <= 3 {
            escaped.push(EMULATION_PREVENTION_BYTE);
            zeros_in_a_row = 0;
        }
        escaped.push(byte);
        zeros_in_a_row = if byte == 0 { zeros_in_a_row + 1 } else { 0 };
    }
    // A NAL unit must not end in 0x00 (its last byte would merge into the next start code).
    if escaped.last() == Some(&0) {
        escaped.push(EMULATION_PREVENTION_BYTE);
    }
    escaped
}

fn sequence_parameter_set() -> Vec<u8> {
    let mut sps = BitWriter::default();
    sps.bits(PROFILE_IDC_BASELINE.into(), 8);
    sps.bits(CONSTRAINT_FLAGS_CONSTRAINED_BASELINE.into(), 8); // + reserved_zero_2bits
    sps.bits(LEVEL_IDC.into(), 8);
    sps.ue(0); // seq_parameter_set_id
    sps.ue(LOG2_MAX_FRAME_NUM - 4); // log2_max_frame_num_minus4
    // pic_order_cnt_type 2: output order is decode order, no POC fields in slice headers.
    sps.ue(2);
    sps.ue(1); // max_num_ref_frames
    sps.flag(false); // gaps_in_frame_num_value_allowed_flag
    sps.ue(WIDTH_IN_MACROBLOCKS - 1); // pic_width_in_mbs_minus1
    sps.ue(HEIGHT_IN_MACROBLOCKS - 1); // pic_height_in_map_units_minus1
    sps.flag(true); // frame_mbs_only_flag: progressive frames only
    sps.flag(true); // direct_8x8_inference_flag
    sps.flag(false); // frame_cropping_flag: the size is a whole number of macroblocks
    sps.flag(true); // vui_parameters_present_flag
    write_video_usability_information(&mut sps);
    sps.rbsp_trailing_bits();
    sps.into_bytes()
}

/// VUI: square pixels, BT.601 colours (the sample values below are BT.601), the frame rate,
/// and "no reordering" so decoders output every frame as soon as it is decoded.
fn write_video_usability_information(vui: &mut BitWriter) {
    vui.flag(true); // aspect_ratio_info_present_flag
    vui.bits(1, 8); // aspect_ratio_idc 1: 1:1
    vui.flag(false); // overscan_info_present_flag
    vui.flag(true); // video_signal_type_present_flag
    vui.bits(5, 3); // video_format: unspecified
    vui.flag(false); // video_full_range_flag: samples use the 16..235 range
    vui.flag(true); // colour_description_present_flag
    vui.bits(6, 8); // colour_primaries: SMPTE 170M (BT.601)
    vui.bits(6, 8); // transfer_characteristics: SMPTE 170M
    vui.bits(6, 8); // matrix_coefficients: SMPTE 170M
    vui.flag(false); // chroma_loc_info_present_flag
    vui.flag(true); // timing_info_present_flag
    vui.bits(1, 32); // num_units_in_tick
    vui.bits(u64::from(2 * FRAMES_PER_SECOND), 32); // time_scale: two ticks (fields) a frame
    vui.flag(true); // fixed_frame_rate_flag
    vui.flag(false); // nal_hrd_parameters_present_flag
    vui.flag(false); // vcl_hrd_parameters_present_flag
    vui.flag(false); // pic_struct_present_flag
    vui.flag(true); // bitstream_restriction_flag
    vui.flag(true); // motion_vectors_over_pic_boundaries_flag
    vui.ue(0); // max_bytes_per_pic_denom: no limit
    vui.ue(0); // max_bits_per_mb_denom: no limit (I_PCM macroblocks are 3072 bits)
    vui.ue(15); // log2_max_mv_length_horizontal
    vui.ue(15); // log2_max_mv_length_vertical
    vui.ue(0); // max_num_reorder_frames
    vui.ue(1); // max_dec_frame_buffering
}

fn picture_parameter_set() -> Vec<u8> {
    let mut pps = BitWriter::default();
    pps.ue(0); // pic_parameter_set_id
    pps.ue(0); // seq_parameter_set_id
    pps.flag(false); // entropy_coding_mode_flag: CAVLC (Baseline has no CABAC)
    pps.flag(false); // bottom_field_pic_order_in_frame_present_flag
    pps.ue(0); // num_slice_groups_minus1
    pps.ue(0); // num_ref_idx_l0_default_active_minus1
    pps.ue(0); // num_ref_idx_l1_default_active_minus1
    pps.flag(false); // weighted_pred_flag
    pps.bits(0, 2); // weighted_bipred_idc
    pps.se(0); // pic_init_qp_minus26
    pps.se(0); // pic_init_qs_minus26
    pps.se(0); // chroma_qp_index_offset
    pps.flag(false); // deblocking_filter_control_present_flag
    pps.flag(false); // constrained_intra_pred_flag
    pps.flag(false); // redundant_pic_cnt_present_flag
    pps.rbsp_trailing_bits();
    pps.into_bytes()
}

/// One IDR picture as a single I slice of I_PCM macroblocks, in raster order.
fn idr_slice(frame: u32) -> Vec<u8> {
    let mut slice = BitWriter::default();
    slice.ue(0); // first_mb_in_slice
    slice.ue(SLICE_TYPE_ALL_I);
    slice.ue(0); // pic_parameter_set_id
    slice.bits(0, LOG2_MAX_FRAME_NUM); // frame_num: 0 in every IDR picture
    slice.ue(frame % 2); // idr_pic_id: consecutive IDR pictures must differ
    // dec_ref_pic_marking() of an IDR picture:
    slice.flag(false); // no_output_of_prior_pics_flag
    slice.flag(false); // long_term_reference_flag
    slice.se(0); // slice_qp_delta (unused by I_PCM)

    let mut samples = [0u8; LUMA_SAMPLES_PER_MACROBLOCK + 2 * CHROMA_SAMPLES_PER_MACROBLOCK];
    for macroblock_y in 0..HEIGHT_IN_MACROBLOCKS {
        for macroblock_x in 0..WIDTH_IN_MACROBLOCKS {
            slice.ue(MB_TYPE_I_PCM);
            slice.align_with_zeros(); // pcm_alignment_zero_bit
            fill_pcm_samples(&mut samples, macroblock_x, macroblock_y, frame);
            slice.aligned_bytes(&samples);
        }
    }
    slice.rbsp_trailing_bits();
    slice.into_bytes()
}

/// A macroblock's I_PCM samples: 16x16 luma, then 8x8 Cb, then 8x8 Cr, each in raster order.
fn fill_pcm_samples(samples: &mut [u8], macroblock_x: u32, macroblock_y: u32, frame: u32) {
    let (luma, chroma) = samples.split_at_mut(LUMA_SAMPLES_PER_MACROBLOCK);
    let (cb, cr) = chroma.split_at_mut(CHROMA_SAMPLES_PER_MACROBLOCK);
    for (index, sample) in luma.iter_mut().enumerate() {
        let x = macroblock_x * 16 + (index % 16) as u32;
        let y = macroblock_y * 16 + (index / 16) as u32;
        *sample = test_pattern(x, y, frame).0;
    }
    for (index, (cb_sample, cr_sample)) in cb.iter_mut().zip(cr.iter_mut()).enumerate() {
        // 4:2:0: a chroma sample covers 2x2 luma samples; take the colour at its top left.
        let x = macroblock_x * 16 + 2 * (index % 8) as u32;
        let y = macroblock_y * 16 + 2 * (index / 8) as u32;
        let (_, cb_value, cr_value) = test_pattern(x, y, frame);
        *cb_sample = cb_value;
        *cr_sample = cr_value;
    }
}

/// BT.601 limited-range (Y, Cb, Cr) of the 75% colour bars, left to right.
const COLOUR_BARS: [(u8, u8, u8); 8] = [
    (180, 128, 128), // white
    (162, 44, 142),  // yellow
    (131, 156, 44),  // cyan
    (112, 72, 58),   // green
    (84, 184, 198),  // magenta
    (65, 100, 212),  // red
    (35, 212, 114),  // blue
    (16, 128, 128),  // black
];
const COLOUR_BAR_WIDTH: u32 = VIDEO_WIDTH / COLOUR_BARS.len() as u32;
/// The bottom quarter is a grey ramp instead of bars.
const RAMP_TOP: u32 = VIDEO_HEIGHT * 3 / 4;
/// Pixels the pattern scrolls left per frame; even, so bar edges stay on chroma samples.
const SCROLL_PER_FRAME: u32 = 2;

/// The (Y, Cb, Cr) of pixel (x, y) in `frame`: colour bars over a grey ramp, both scrolling,
/// so every frame differs. All values stay in 16..=235, which also keeps zero bytes (and so
/// start-code emulation) out of the sample data.
fn test_pattern(x: u32, y: u32, frame: u32) -> (u8, u8, u8) {
    let scrolled_x = (x + frame * SCROLL_PER_FRAME) % VIDEO_WIDTH;
    if y < RAMP_TOP {
        COLOUR_BARS[(scrolled_x / COLOUR_BAR_WIDTH) as usize]
    } else {
        let ramp = 16 + scrolled_x * (235 - 16) / (VIDEO_WIDTH - 1);
        (ramp as u8, 128, 128)
    }
}

// ---------------------------------------------------------------------------------------
// ISO base media file format boxes
// ---------------------------------------------------------------------------------------

/// Box sizes here are bounded by the prefix (~125 KiB), far below the 4 GiB a 32-bit box
/// size allows; only the `free` box can be larger, and it is written separately.
fn box_len(len: usize) -> u32 {
    u32::try_from(len).expect("the decodable prefix is far smaller than 4 GiB")
}

fn mp4_box(box_type: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut mp4_box = Vec::with_capacity(8 + payload.len());
    mp4_box.extend_from_slice(&box_len(8 + payload.len()).to_be_bytes());
    mp4_box.extend_from_slice(box_type);
    mp4_box.extend_from_slice(payload);
    mp4_box
}

/// A box with the version byte and 24-bit flags of a FullBox before its payload.
fn full_box(box_type: &[u8; 4], version: u8, flags: u32, payload: &[u8]) -> Vec<u8> {
    let version_and_flags = (u32::from(version) << 24) | (flags & 0x00FF_FFFF);
    mp4_box(
        box_type,
        &[&version_and_flags.to_be_bytes()[..], payload].concat(),
    )
}

/// Big-endian u32 fields, the bulk of every header box.
fn u32_fields(fields: &[u32]) -> Vec<u8> {
    fields
        .iter()
        .flat_map(|field| field.to_be_bytes())
        .collect()
}

/// The identity transformation matrix of mvhd/tkhd (16.16 and 2.30 fixed point).
const UNITY_MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
const TRACK_ID: u32 = 1;
const DURATION_TICKS: u32 = FRAME_COUNT * FRAME_DURATION_TICKS;

fn file_type_box() -> Vec<u8> {
    const MINOR_VERSION: u32 = 0x200;
    let mut payload = b"isom".to_vec();
    payload.extend_from_slice(&MINOR_VERSION.to_be_bytes());
    payload.extend_from_slice(b"isomiso2avc1mp41");
    mp4_box(b"ftyp", &payload)
}

fn movie_box(sps: &[u8], pps: &[u8], sample_sizes: &[u32], first_sample_offset: u32) -> Vec<u8> {
    let movie_header = {
        let mut fields = vec![0, 0, TIMESCALE, DURATION_TICKS]; // creation, modification
        fields.push(0x0001_0000); // rate 1.0
        fields.push(0x0100_0000); // volume 1.0, reserved 16 bits
        fields.extend([0, 0]); // reserved
        fields.extend(UNITY_MATRIX);
        fields.extend([0; 6]); // pre_defined
        fields.push(TRACK_ID + 1); // next_track_ID
        full_box(b"mvhd", 0, 0, &u32_fields(&fields))
    };
    let track = mp4_box(
        b"trak",
        &[
            track_header(),
            media_box(sps, pps, sample_sizes, first_sample_offset),
        ]
        .concat(),
    );
    mp4_box(b"moov", &[movie_header, track].concat())
}

fn track_header() -> Vec<u8> {
    const TRACK_ENABLED_IN_MOVIE: u32 = 0x1 | 0x2;
    // creation_time, modification_time, track_ID, reserved, duration
    let mut fields = vec![0, 0, TRACK_ID, 0, DURATION_TICKS];
    fields.extend([0, 0]); // reserved
    fields.extend([0, 0]); // layer + alternate_group, volume (0 for video) + reserved
    fields.extend(UNITY_MATRIX);
    fields.extend([VIDEO_WIDTH << 16, VIDEO_HEIGHT << 16]); // 16.16 fixed point
    full_box(b"tkhd", 0, TRACK_ENABLED_IN_MOVIE, &u32_fields(&fields))
}

fn media_box(sps: &[u8], pps: &[u8], sample_sizes: &[u32], first_sample_offset: u32) -> Vec<u8> {
    const LANGUAGE_UND: u32 = 0x55C4; // "und", packed as three 5-bit letters
    let media_header = full_box(
        b"mdhd",
        0,
        0,
        &u32_fields(&[0, 0, TIMESCALE, DURATION_TICKS, LANGUAGE_UND << 16]),
    );
    let handler = {
        let mut payload = u32_fields(&[0]); // pre_defined
        payload.extend_from_slice(b"vide");
        payload.extend(u32_fields(&[0, 0, 0])); // reserved
        payload.extend_from_slice(b"VideoHandler\0");
        full_box(b"hdlr", 0, 0, &payload)
    };
    let video_media_header = full_box(b"vmhd", 0, 1, &[0; 8]); // graphicsmode copy, opcolor
    let data_information = {
        const MEDIA_IN_THIS_FILE: u32 = 1;
        let data_entry = full_box(b"url ", 0, MEDIA_IN_THIS_FILE, &[]);
        let data_reference = full_box(
            b"dref",
            0,
            0,
            &[&u32_fields(&[1])[..], &data_entry].concat(),
        );
        mp4_box(b"dinf", &data_reference)
    };
    let sample_table = sample_table_box(sps, pps, sample_sizes, first_sample_offset);
    let media_information = mp4_box(
        b"minf",
        &[video_media_header, data_information, sample_table].concat(),
    );
    mp4_box(
        b"mdia",
        &[media_header, handler, media_information].concat(),
    )
}

fn sample_table_box(
    sps: &[u8],
    pps: &[u8],
    sample_sizes: &[u32],
    first_sample_offset: u32,
) -> Vec<u8> {
    let sample_count = box_len(sample_sizes.len());
    let sample_description = full_box(
        b"stsd",
        0,
        0,
        &[&u32_fields(&[1])[..], &avc1_sample_entry(sps, pps)].concat(),
    );
    // Every sample lasts one frame.
    let time_to_sample = full_box(
        b"stts",
        0,
        0,
        &u32_fields(&[1, sample_count, FRAME_DURATION_TICKS]),
    );
    // Every sample is an IDR picture, so every sample is a sync sample (numbered from 1).
    let sync_samples: Vec<u32> = std::iter::once(sample_count)
        .chain(1..=sample_count)
        .collect();
    let sync_sample = full_box(b"stss", 0, 0, &u32_fields(&sync_samples));
    // All samples sit back to back in one chunk.
    let sample_to_chunk = full_box(b"stsc", 0, 0, &u32_fields(&[1, 1, sample_count, 1]));
    let sizes: Vec<u32> = [0, sample_count] // sample_size 0: sizes are listed per sample
        .into_iter()
        .chain(sample_sizes.iter().copied())
        .collect();
    let sample_size = full_box(b"stsz", 0, 0, &u32_fields(&sizes));
    let chunk_offset = full_box(b"stco", 0, 0, &u32_fields(&[1, first_sample_offset]));
    mp4_box(
        b"stbl",
        &[
            sample_description,
            time_to_sample,
            sync_sample,
            sample_to_chunk,
            sample_size,
            chunk_offset,
        ]
        .concat(),
    )
}

fn avc1_sample_entry(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    const DATA_REFERENCE_INDEX: u16 = 1;
    const DPI_72: u32 = 0x0048_0000;
    const DEPTH_COLOUR_NO_ALPHA: u16 = 0x0018;
    let mut entry = vec![0u8; 6]; // reserved
    entry.extend_from_slice(&DATA_REFERENCE_INDEX.to_be_bytes());
    entry.extend_from_slice(&[0; 16]); // pre_defined, reserved, pre_defined[3]
    entry.extend_from_slice(&(VIDEO_WIDTH as u16).to_be_bytes());
    entry.extend_from_slice(&(VIDEO_HEIGHT as u16).to_be_bytes());
    entry.extend(u32_fields(&[DPI_72, DPI_72, 0])); // resolutions, reserved
    entry.extend_from_slice(&1u16.to_be_bytes()); // frame_count: one frame per sample
    let mut compressor_name = [0u8; 32]; // a length byte, then the name, zero-padded
    let name = b"aforo I_PCM";
    compressor_name[0] = name.len() as u8;
    compressor_name[1..=name.len()].copy_from_slice(name);
    entry.extend_from_slice(&compressor_name);
    entry.extend_from_slice(&DEPTH_COLOUR_NO_ALPHA.to_be_bytes());
    entry.extend_from_slice(&(-1i16).to_be_bytes()); // pre_defined
    entry.extend(avc_decoder_configuration(sps, pps));
    mp4_box(b"avc1", &entry)
}

/// avcC: the profile and level, the NAL length size, and the SPS and PPS NAL units.
fn avc_decoder_configuration(sps: &[u8], pps: &[u8]) -> Vec<u8> {
    const CONFIGURATION_VERSION: u8 = 1;
    const RESERVED_AND_LENGTH_SIZE_MINUS_ONE: u8 =
        0b1111_1100 | (NAL_LENGTH_PREFIX_BYTES as u8 - 1);
    const RESERVED_AND_ONE_SPS: u8 = 0b1110_0000 | 1;
    let mut config = vec![
        CONFIGURATION_VERSION,
        PROFILE_IDC_BASELINE,
        CONSTRAINT_FLAGS_CONSTRAINED_BASELINE,
        LEVEL_IDC,
        RESERVED_AND_LENGTH_SIZE_MINUS_ONE,
        RESERVED_AND_ONE_SPS,
    ];
    config.extend_from_slice(&(sps.len() as u16).to_be_bytes());
    config.extend_from_slice(sps);
    config.push(1); // numOfPictureParameterSets
    config.extend_from_slice(&(pps.len() as u16).to_be_bytes());
    config.extend_from_slice(pps);
    mp4_box(b"avcC", &config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::{Command, Output, Stdio};
    use std::time::{Duration, Instant};

    const MIB: u64 = 1024 * 1024;

    // ---- a tiny box walker ------------------------------------------------------------

    struct ParsedBox<'a> {
        box_type: String,
        /// Offset of the box's first byte in the file.
        offset: usize,
        header_len: usize,
        payload: &'a [u8],
    }

    impl ParsedBox<'_> {
        fn payload_offset(&self) -> usize {
            self.offset + self.header_len
        }

        fn end(&self) -> usize {
            self.payload_offset() + self.payload.len()
        }
    }

    fn read_u32(data: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(data[at..at + 4].try_into().unwrap())
    }

    fn read_u16(data: &[u8], at: usize) -> u16 {
        u16::from_be_bytes(data[at..at + 2].try_into().unwrap())
    }

    /// Splits `data` (found at `file_offset` in the file) into boxes, failing unless their
    /// sizes tile it exactly.
    fn parse_boxes(data: &[u8], file_offset: usize) -> Vec<ParsedBox<'_>> {
        let mut boxes = Vec::new();
        let mut position = 0;
        while position < data.len() {
            assert!(
                data.len() - position >= 8,
                "truncated box header at file offset {}",
                file_offset + position
            );
            let box_type = String::from_utf8_lossy(&data[position + 4..position + 8]).into_owned();
            let (size, header_len) = match read_u32(data, position) {
                0 => (data.len() - position, 8),
                1 => {
                    let large =
                        u64::from_be_bytes(data[position + 8..position + 16].try_into().unwrap());
                    (usize::try_from(large).unwrap(), 16)
                }
                size => (size as usize, 8),
            };
            assert!(
                size >= header_len && size <= data.len() - position,
                "box {box_type:?} at file offset {} claims {size} bytes; only {} remain in its parent",
                file_offset + position,
                data.len() - position
            );
            boxes.push(ParsedBox {
                box_type,
                offset: file_offset + position,
                header_len,
                payload: &data[position + header_len..position + size],
            });
            position += size;
        }
        boxes
    }

    /// The children of a box whose first `skip` payload bytes are not boxes (FullBox
    /// header, entry counts, sample entry fields).
    fn children<'a>(parent: &ParsedBox<'a>, skip: usize) -> Vec<ParsedBox<'a>> {
        parse_boxes(&parent.payload[skip..], parent.payload_offset() + skip)
    }

    fn types(boxes: &[ParsedBox<'_>]) -> Vec<String> {
        boxes.iter().map(|parsed| parsed.box_type.clone()).collect()
    }

    fn take<'a>(boxes: Vec<ParsedBox<'a>>, box_type: &str) -> ParsedBox<'a> {
        boxes
            .into_iter()
            .find(|parsed| parsed.box_type == box_type)
            .unwrap_or_else(|| panic!("no {box_type:?} box"))
    }

    /// Follows plain container boxes from the top level down to `path`'s last box.
    fn box_at<'a>(file: &'a [u8], path: &[&str]) -> ParsedBox<'a> {
        let mut current = take(parse_boxes(file, 0), path[0]);
        for box_type in &path[1..] {
            current = take(children(&current, 0), box_type);
        }
        current
    }

    const STBL: [&str; 5] = ["moov", "trak", "mdia", "minf", "stbl"];

    fn sample_table_entry<'a>(file: &'a [u8], box_type: &str) -> ParsedBox<'a> {
        take(children(&box_at(file, &STBL), 0), box_type)
    }

    fn sample_sizes(file: &[u8]) -> Vec<u32> {
        let stsz = sample_table_entry(file, "stsz");
        assert_eq!(read_u32(stsz.payload, 4), 0, "sizes are listed per sample");
        let count = read_u32(stsz.payload, 8) as usize;
        (0..count)
            .map(|index| read_u32(stsz.payload, 12 + 4 * index))
            .collect()
    }

    fn chunk_offsets(file: &[u8]) -> Vec<u32> {
        let stco = sample_table_entry(file, "stco");
        let count = read_u32(stco.payload, 4) as usize;
        (0..count)
            .map(|index| read_u32(stco.payload, 8 + 4 * index))
            .collect()
    }

    // ---- size and container structure -------------------------------------------------

    #[test]
    fn exact_size_for_minimum_and_larger_sizes() {
        let minimum = minimum_size();
        for size in [
            minimum,
            minimum + 1,
            minimum + 7,
            minimum + 8,
            MIB,
            50 * MIB,
            200 * MIB,
        ] {
            let file = mp4_of_size(size).unwrap();
            assert_eq!(file.len() as u64, size, "requested {size} bytes");
            assert_eq!(&file[4..8], b"ftyp", "size {size}");
            assert_eq!(&file[8..12], b"isom", "size {size}");
        }
    }

    #[test]
    fn sizes_below_minimum_are_rejected_with_the_minimum_in_the_message() {
        let minimum = minimum_size();
        for size in [0, 8, minimum - 1] {
            let error = mp4_of_size(size).unwrap_err();
            let Mp4Error::TooSmall {
                requested,
                minimum: reported,
            } = &error
            else {
                panic!("{size} bytes: expected TooSmall, got {error:?}");
            };
            assert_eq!((*requested, *reported), (size, minimum));
            let message = error.to_string();
            assert!(message.contains(&minimum.to_string()), "{message}");
            assert!(message.contains("request at least"), "{message}");
        }
    }

    #[test]
    fn ftyp_declares_isom_and_its_compatible_brands() {
        let file = mp4_of_size(minimum_size()).unwrap();
        let ftyp = take(parse_boxes(&file, 0), "ftyp");
        assert_eq!((ftyp.offset, ftyp.end()), (0, 0x20));
        assert_eq!(&ftyp.payload[0..4], b"isom", "major brand");
        assert_ne!(&ftyp.payload[0..4], b"qt  ");
        let compatible: Vec<&[u8]> = ftyp.payload[8..].chunks(4).collect();
        assert_eq!(compatible, [&b"isom"[..], b"iso2", b"avc1", b"mp41"]);
    }

    #[test]
    fn box_sizes_add_up_and_stco_points_into_mdat() {
        let file = mp4_of_size(MIB + 3).unwrap();
        // parse_boxes fails unless the top-level sizes tile the whole file.
        let top = parse_boxes(&file, 0);
        assert_eq!(types(&top), ["ftyp", "moov", "mdat", "free"]);
        assert_eq!(top.last().unwrap().end(), file.len());

        let moov = take(parse_boxes(&file, 0), "moov");
        assert_eq!(types(&children(&moov, 0)), ["mvhd", "trak"]);
        let trak = take(children(&moov, 0), "trak");
        assert_eq!(types(&children(&trak, 0)), ["tkhd", "mdia"]);
        let mdia = take(children(&trak, 0), "mdia");
        assert_eq!(types(&children(&mdia, 0)), ["mdhd", "hdlr", "minf"]);
        assert_eq!(&take(children(&mdia, 0), "hdlr").payload[8..12], b"vide");
        let minf = take(children(&mdia, 0), "minf");
        assert_eq!(types(&children(&minf, 0)), ["vmhd", "dinf", "stbl"]);
        let dref = take(children(&take(children(&minf, 0), "dinf"), 0), "dref");
        assert_eq!(types(&children(&dref, 8)), ["url "]); // after version/flags, entry_count
        let stbl = take(children(&minf, 0), "stbl");
        assert_eq!(
            types(&children(&stbl, 0)),
            ["stsd", "stts", "stss", "stsc", "stsz", "stco"]
        );
        let stsd = take(children(&stbl, 0), "stsd");
        let avc1 = take(children(&stsd, 8), "avc1");
        assert_eq!(
            (read_u16(avc1.payload, 24), read_u16(avc1.payload, 26)),
            (VIDEO_WIDTH as u16, VIDEO_HEIGHT as u16)
        );
        assert_eq!(types(&children(&avc1, 78)), ["avcC"]); // after the VisualSampleEntry fields

        let mdat = take(parse_boxes(&file, 0), "mdat");
        let offsets = chunk_offsets(&file);
        assert_eq!(offsets.len(), 1, "all samples in one chunk");
        let samples_end = offsets[0] as usize + sample_sizes(&file).iter().sum::<u32>() as usize;
        assert_eq!(
            offsets[0] as usize,
            mdat.payload_offset(),
            "chunk starts the mdat payload"
        );
        assert_eq!(samples_end, mdat.end(), "samples fill mdat exactly");
    }

    #[test]
    fn avcc_declares_4_byte_lengths_and_carries_the_sps_and_pps() {
        let file = mp4_of_size(minimum_size()).unwrap();
        let stsd = sample_table_entry(&file, "stsd");
        let avc1 = take(children(&stsd, 8), "avc1");
        let avcc = take(children(&avc1, 78), "avcC");
        let config = avcc.payload;
        assert_eq!(
            config[..4],
            [1, PROFILE_IDC_BASELINE, 0b1100_0000, LEVEL_IDC]
        );
        assert_eq!(config[4] & 0b11, 3, "lengthSizeMinusOne");
        assert_eq!(config[5] & 0b1_1111, 1, "one SPS");
        let sps_len = read_u16(config, 6) as usize;
        let sps = &config[8..8 + sps_len];
        assert_eq!(sps[0] & 0x1F, NAL_TYPE_SPS);
        assert_eq!(
            sps[1..4],
            config[1..4],
            "avcC repeats the SPS profile and level"
        );
        let pps_at = 8 + sps_len;
        assert_eq!(config[pps_at], 1, "one PPS");
        let pps_len = read_u16(config, pps_at + 1) as usize;
        assert_eq!(config[pps_at + 3] & 0x1F, NAL_TYPE_PPS);
        assert_eq!(pps_at + 3 + pps_len, config.len());
    }

    #[test]
    fn every_sample_is_one_length_prefixed_idr_slice() {
        let file = mp4_of_size(2 * MIB).unwrap();
        let sizes = sample_sizes(&file);
        assert_eq!(sizes.len(), FRAME_COUNT as usize);
        let mut position = chunk_offsets(&file)[0] as usize;
        for (index, &size) in sizes.iter().enumerate() {
            let nal_len = read_u32(&file, position) as usize;
            assert_eq!(
                nal_len + 4,
                size as usize,
                "sample {index} holds exactly one NAL unit"
            );
            assert_eq!(
                file[position + 4] & 0x1F,
                NAL_TYPE_IDR_SLICE,
                "sample {index}"
            );
            position += size as usize;
        }
        let stss = sample_table_entry(&file, "stss");
        let sync: Vec<u32> = (0..read_u32(stss.payload, 4) as usize)
            .map(|index| read_u32(stss.payload, 8 + 4 * index))
            .collect();
        assert_eq!(
            sync,
            (1..=FRAME_COUNT).collect::<Vec<_>>(),
            "every IDR is a sync sample"
        );
    }

    #[test]
    fn durations_agree_across_mvhd_tkhd_mdhd_and_stts() {
        let file = mp4_of_size(minimum_size()).unwrap();
        let seconds = |ticks: u32, timescale: u32| f64::from(ticks) / f64::from(timescale);
        let intended = f64::from(DURATION_MILLIS) / 1000.0;

        let mvhd = box_at(&file, &["moov", "mvhd"]);
        let (movie_timescale, movie_duration) =
            (read_u32(mvhd.payload, 12), read_u32(mvhd.payload, 16));
        assert_eq!(seconds(movie_duration, movie_timescale), intended, "mvhd");
        let tkhd = box_at(&file, &["moov", "trak", "tkhd"]);
        assert_eq!(
            read_u32(tkhd.payload, 20),
            movie_duration,
            "tkhd uses the movie timescale"
        );
        let mdhd = box_at(&file, &["moov", "trak", "mdia", "mdhd"]);
        let (media_timescale, media_duration) =
            (read_u32(mdhd.payload, 12), read_u32(mdhd.payload, 16));
        assert_eq!(seconds(media_duration, media_timescale), intended, "mdhd");

        let stts = sample_table_entry(&file, "stts");
        let entries = read_u32(stts.payload, 4) as usize;
        let (mut samples, mut ticks) = (0, 0);
        for entry in 0..entries {
            let (count, delta) = (
                read_u32(stts.payload, 8 + 8 * entry),
                read_u32(stts.payload, 12 + 8 * entry),
            );
            samples += count;
            ticks += count * delta;
        }
        assert_eq!(
            samples as usize,
            sample_sizes(&file).len(),
            "stts covers every sample"
        );
        assert_eq!(ticks, media_duration, "stts sums to the mdhd duration");
        assert_eq!(
            seconds(ticks / samples, media_timescale),
            1.0 / f64::from(FRAMES_PER_SECOND)
        );
    }

    #[test]
    fn free_box_switches_to_a_64_bit_size_above_4_gib() {
        let mut header = [0u8; 16];
        write_free_box_header(&mut header, u64::from(u32::MAX));
        assert_eq!(
            header[..8],
            [0xFF, 0xFF, 0xFF, 0xFF, b'f', b'r', b'e', b'e']
        );

        let five_gib = 5 * 1024 * MIB;
        write_free_box_header(&mut header, five_gib);
        assert_eq!(header[..8], [0, 0, 0, 1, b'f', b'r', b'e', b'e']);
        assert_eq!(header[8..], five_gib.to_be_bytes());
    }

    #[test]
    fn generating_100_mb_takes_well_under_a_second() {
        minimum_size(); // build the shared decodable prefix outside the measurement
        let started = Instant::now();
        let file = mp4_of_size(100 * MIB).unwrap();
        let elapsed = started.elapsed();
        assert_eq!(file.len() as u64, 100 * MIB);
        assert!(
            elapsed < Duration::from_millis(500),
            "100 MB took {elapsed:?}"
        );
    }

    // ---- bit writer, Exp-Golomb, emulation prevention ---------------------------------

    /// The bits `write` produces, as a string of '0' and '1'.
    fn bits_written(write: impl FnOnce(&mut BitWriter)) -> String {
        let mut writer = BitWriter::default();
        write(&mut writer);
        let bit_len = writer.bit_len();
        let bytes = writer.into_bytes();
        let all: String = bytes.iter().map(|byte| format!("{byte:08b}")).collect();
        all[..bit_len].to_string()
    }

    #[test]
    fn exp_golomb_matches_known_codes() {
        let unsigned = [
            (0, "1"),
            (1, "010"),
            (2, "011"),
            (3, "00100"),
            (4, "00101"),
            (6, "00111"),
            (7, "0001000"),
            (25, "000011010"),
            (254, "000000011111111"),
        ];
        for (value, code) in unsigned {
            assert_eq!(bits_written(|writer| writer.ue(value)), code, "ue({value})");
        }
        let signed = [
            (0, "1"),
            (1, "010"),
            (-1, "011"),
            (2, "00100"),
            (-2, "00101"),
            (3, "00110"),
        ];
        for (value, code) in signed {
            assert_eq!(bits_written(|writer| writer.se(value)), code, "se({value})");
        }
        let extreme = bits_written(|writer| writer.ue(u32::MAX));
        assert_eq!(
            extreme,
            format!("{}1{}", "0".repeat(32), "0".repeat(32)),
            "ue(2^32 - 1)"
        );
    }

    #[test]
    fn fixed_width_bits_alignment_and_trailing_bits() {
        assert_eq!(bits_written(|writer| writer.bits(0b101, 3)), "101");
        assert_eq!(bits_written(|writer| writer.bits(66, 8)), "01000010");
        let mut writer = BitWriter::default();
        writer.bits(0b101, 3);
        writer.rbsp_trailing_bits();
        assert_eq!(writer.into_bytes(), [0b1011_0000]);

        let mut writer = BitWriter::default();
        writer.ue(MB_TYPE_I_PCM);
        writer.align_with_zeros();
        writer.aligned_bytes(&[0xAB, 0xCD]);
        assert_eq!(writer.into_bytes(), [0b0000_1101, 0b0000_0000, 0xAB, 0xCD]);

        let mut writer = BitWriter::default();
        writer.bit(true);
        writer.aligned_bytes(&[0xFF]); // unaligned: shifted in bit by bit
        assert_eq!(writer.into_bytes(), [0xFF, 0b1000_0000]);
    }

    #[test]
    fn emulation_prevention_escapes_crafted_payloads() {
        let cases: [(&[u8], &[u8]); 9] = [
            (&[0, 0, 0], &[0, 0, 3, 0, 3]),
            (&[0, 0, 1], &[0, 0, 3, 1]),
            (&[0, 0, 2, 7], &[0, 0, 3, 2, 7]),
            (&[0, 0, 3, 7], &[0, 0, 3, 3, 7]),
            (&[0, 0, 4], &[0, 0, 4]),
            (&[0, 1, 0, 1], &[0, 1, 0, 1]),
            (&[0, 0, 0, 0, 0, 1], &[0, 0, 3, 0, 0, 3, 0, 1]),
            (
                &[0x25, 0, 0, 1, 0, 0, 0x80],
                &[0x25, 0, 0, 3, 1, 0, 0, 0x80],
            ),
            (&[0x12, 0, 0], &[0x12, 0, 0, 3]),
        ];
        for (rbsp, escaped) in cases {
            assert_eq!(
                escape_start_code_emulation(rbsp),
                escaped,
                "escaping {rbsp:02x?}"
            );
        }
    }

    fn assert_no_start_code_emulation(nal: &[u8], what: &str) {
        if let Some(at) = nal
            .windows(3)
            .position(|bytes| bytes[0] == 0 && bytes[1] == 0 && bytes[2] <= 2)
        {
            panic!("{what} contains {:02x?} at byte {at}", &nal[at..at + 3]);
        }
        assert_ne!(nal.last(), Some(&0), "{what} ends in a zero byte");
    }

    #[test]
    fn generated_nal_units_never_emulate_a_start_code() {
        let sps = nal_unit(
            NAL_REF_IDC_REFERENCE,
            NAL_TYPE_SPS,
            &sequence_parameter_set(),
        );
        assert_no_start_code_emulation(&sps, "the SPS");
        let pps = nal_unit(
            NAL_REF_IDC_REFERENCE,
            NAL_TYPE_PPS,
            &picture_parameter_set(),
        );
        assert_no_start_code_emulation(&pps, "the PPS");
        for frame in 0..FRAME_COUNT {
            let slice = nal_unit(NAL_REF_IDC_REFERENCE, NAL_TYPE_IDR_SLICE, &idr_slice(frame));
            assert_no_start_code_emulation(&slice, &format!("the slice of frame {frame}"));
        }
    }

    // ---- decoding with the real ffmpeg ------------------------------------------------

    /// Whether ffmpeg and ffprobe can run; without them the decode tests skip loudly, or
    /// fail when CI=true so a CI image without ffmpeg cannot pass silently.
    fn ffmpeg_is_installed() -> bool {
        let runs = |tool: &str| {
            Command::new(tool)
                .arg("-version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if runs("ffmpeg") && runs("ffprobe") {
            return true;
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "ffmpeg/ffprobe are not on PATH and CI=true: install ffmpeg (e.g. `apt-get install \
             ffmpeg`) so the MP4 decodability tests can run"
        );
        eprintln!(
            "\n**********\nSKIPPED: ffmpeg not installed (ffmpeg/ffprobe not on PATH)\n**********\n"
        );
        false
    }

    /// Runs a tool with stdin closed (ffmpeg would otherwise read the terminal).
    fn run(program: &str, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("could not run {program}: {error}"))
    }

    fn assert_clean_success(output: &Output, what: &str) {
        assert!(
            output.status.success() && output.stderr.is_empty(),
            "{what}: {}, stderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn write_mp4(dir: &Path, size: u64) -> String {
        let path = dir.join(format!("payload-{size}.mp4"));
        std::fs::write(&path, mp4_of_size(size).unwrap()).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// `key=value` lines of one `[SECTION]` of ffprobe's default output.
    fn ffprobe_section(stdout: &str, section: &str) -> Vec<(String, String)> {
        stdout
            .split(&format!("[{section}]"))
            .nth(1)
            .and_then(|rest| rest.split(&format!("[/{section}]")).next())
            .unwrap_or_else(|| panic!("no [{section}] in ffprobe output:\n{stdout}"))
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn field<'a>(fields: &'a [(String, String)], key: &str) -> &'a str {
        fields
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("ffprobe reported no {key}"))
    }

    #[test]
    fn ffprobe_reports_h264_with_the_encoded_size_and_duration() {
        if !ffmpeg_is_installed() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for size in [minimum_size(), 3 * MIB + 5] {
            let path = write_mp4(dir.path(), size);
            let probe = run(
                "ffprobe",
                &["-v", "error", "-show_streams", "-show_format", &path],
            );
            assert_clean_success(&probe, &format!("ffprobe of {size} bytes"));
            let stdout = String::from_utf8_lossy(&probe.stdout);
            let stream = ffprobe_section(&stdout, "STREAM");
            assert_eq!(field(&stream, "codec_name"), "h264");
            assert_eq!(field(&stream, "width"), VIDEO_WIDTH.to_string());
            assert_eq!(field(&stream, "height"), VIDEO_HEIGHT.to_string());
            assert_eq!(field(&stream, "nb_frames"), FRAME_COUNT.to_string());
            let format = ffprobe_section(&stdout, "FORMAT");
            assert_eq!(field(&format, "size"), size.to_string());
            let intended = f64::from(DURATION_MILLIS) / 1000.0;
            for (section, fields) in [("stream", &stream), ("format", &format)] {
                let duration: f64 = field(fields, "duration").parse().unwrap();
                assert!(
                    (duration - intended).abs() <= 0.1,
                    "{section} duration {duration}, want {intended}"
                );
            }
        }
    }

    /// The exact decoded pictures: I_PCM is lossless, so ffmpeg must reproduce the pattern.
    fn expected_yuv420p_frames() -> Vec<u8> {
        let (width, height) = (VIDEO_WIDTH, VIDEO_HEIGHT);
        let mut frames = Vec::new();
        for frame in 0..FRAME_COUNT {
            for y in 0..height {
                frames.extend((0..width).map(|x| test_pattern(x, y, frame).0));
            }
            for plane in [1, 2] {
                for y in (0..height).step_by(2) {
                    frames.extend((0..width).step_by(2).map(|x| {
                        let (_, cb, cr) = test_pattern(x, y, frame);
                        if plane == 1 { cb } else { cr }
                    }));
                }
            }
        }
        frames
    }

    #[test]
    fn ffmpeg_decodes_every_frame_without_errors_and_exactly() {
        if !ffmpeg_is_installed() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = write_mp4(dir.path(), 2 * MIB + 1);
        let decode = run("ffmpeg", &["-v", "error", "-i", &path, "-f", "null", "-"]);
        assert_clean_success(&decode, "ffmpeg -f null");

        let raw = run(
            "ffmpeg",
            &[
                "-v",
                "error",
                "-i",
                &path,
                "-fps_mode",
                "passthrough",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "yuv420p",
                "-",
            ],
        );
        assert_clean_success(&raw, "ffmpeg -f rawvideo");
        let expected = expected_yuv420p_frames();
        let frame_len = expected.len() / FRAME_COUNT as usize;
        assert_eq!(
            raw.stdout.len(),
            expected.len(),
            "{FRAME_COUNT} frames of {frame_len} bytes"
        );
        if let Some(at) = raw
            .stdout
            .iter()
            .zip(&expected)
            .position(|(got, want)| got != want)
        {
            panic!(
                "decoded frame {} differs from the encoded pattern at byte {}",
                at / frame_len,
                at % frame_len
            );
        }
    }

    #[test]
    fn ffmpeg_transcodes_it_like_the_video_api_does() {
        if !ffmpeg_is_installed() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let input = write_mp4(dir.path(), MIB);
        let output = dir.path().join("transcoded.mp4");
        let output = output.to_str().unwrap();
        let transcode = run(
            "ffmpeg",
            &[
                "-v",
                "error",
                "-i",
                &input,
                "-t",
                "30",
                "-vf",
                "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1",
                "-an",
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                output,
            ],
        );
        assert!(
            transcode.status.success(),
            "transcode failed: {}, stderr:\n{}",
            transcode.status,
            String::from_utf8_lossy(&transcode.stderr)
        );

        let probe = run(
            "ffprobe",
            &["-v", "error", "-show_streams", "-show_format", output],
        );
        assert_clean_success(&probe, "ffprobe of the transcoded file");
        let stdout = String::from_utf8_lossy(&probe.stdout);
        let stream = ffprobe_section(&stdout, "STREAM");
        assert_eq!(field(&stream, "codec_name"), "h264");
        assert_eq!(
            (field(&stream, "width"), field(&stream, "height")),
            ("1280", "720")
        );
        assert_eq!(field(&stream, "nb_frames"), FRAME_COUNT.to_string());
    }
}
