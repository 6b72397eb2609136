//! What a display shows, as the workbench reads it: the kernel's
//! framebuffer over the monitor ([`fetch`]), or the board's own scan-out
//! (QEMU's `screendump`, a PPM, [`Picture::from_ppm`]); written as PNG.

use tidemark_abi::display_format;
use tidemark_protocol::req;

use crate::client::Client;
use crate::session::ShellError;

/// An RGB picture, 3 bytes a pixel, rows top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    /// Pixels per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `width * height * 3` bytes: R, G, B.
    pub rgb: Vec<u8>,
    /// The display's presents when it was read (none for a scan-out).
    pub presents: Option<u64>,
}

/// Bytes asked for in one `Framebuffer` request: within every board's
/// link queue (the kernel clips further where it must).
const PART: u32 = 48 << 10;
/// Reads of a whole framebuffer before a guest that keeps presenting
/// counts as drawing through every one.
const TRIES: usize = 3;

/// Reads the kernel's framebuffer in parts; read again while a present
/// landed between parts (up to [`TRIES`] times, then the last read stands).
pub fn fetch(c: &mut Client) -> Result<Picture, ShellError> {
    let mut last = None;
    for _ in 0..TRIES {
        let (pic, torn) = fetch_once(c)?;
        if !torn {
            return Ok(pic);
        }
        last = Some(pic);
    }
    Ok(last.expect("tried at least once"))
}

/// The display's presents so far (one small request): whether it changed
/// since a picture was read.
pub fn presents(c: &mut Client) -> Result<u64, ShellError> {
    Ok(c.call(req::Framebuffer { offset: 0, len: 0 })?.presents)
}

fn fetch_once(c: &mut Client) -> Result<(Picture, bool), ShellError> {
    let first = c.call(req::Framebuffer {
        offset: 0,
        len: PART,
    })?;
    if first.format != display_format::XRGB8888 {
        return Err(ShellError::Usage(format!(
            "the display's pixel format {} is not one this workbench reads",
            first.format
        )));
    }
    let total =
        Picture::xrgb_bytes(first.width, first.height, first.stride).map_err(ShellError::Usage)?;
    let mut raw = Vec::with_capacity(total);
    raw.extend_from_slice(&first.pixels);
    let mut torn = false;
    while raw.len() < total {
        let part = c.call(req::Framebuffer {
            offset: raw.len() as u32,
            len: PART,
        })?;
        if part.pixels.is_empty() {
            return Err(ShellError::Usage(format!(
                "the kernel sent no framebuffer bytes from offset {}",
                raw.len()
            )));
        }
        torn |= part.presents != first.presents;
        raw.extend_from_slice(&part.pixels);
    }
    let mut pic = Picture::from_xrgb(first.width, first.height, first.stride, &raw)
        .map_err(ShellError::Usage)?;
    pic.presents = Some(first.presents);
    Ok((pic, torn))
}

/// Largest side of a picture this reads (as the kernel's `DisplayMode`).
pub const MAX_SIDE: u32 = 4096;

impl Picture {
    /// Bytes of an XRGB8888 picture of this geometry, or why it is not one
    /// this reads (a side of 0 or past [`MAX_SIDE`], rows shorter than
    /// their pixels): a peer's numbers are checked before anything is sized
    /// by them.
    pub fn xrgb_bytes(width: u32, height: u32, stride: u32) -> Result<usize, String> {
        let sides = (1..=MAX_SIDE).contains(&width) && (1..=MAX_SIDE).contains(&height);
        if !sides || (stride as u64) < u64::from(width) * 4 || stride > MAX_SIDE * 8 {
            return Err(format!(
                "a {width}x{height} picture with rows of {stride} bytes is not one this reads"
            ));
        }
        Ok(stride as usize * height as usize)
    }

    /// Reads XRGB8888 pixels (one little-endian `u32` a pixel, `0x00RRGGBB`)
    /// in rows of `stride` bytes.
    pub fn from_xrgb(width: u32, height: u32, stride: u32, data: &[u8]) -> Result<Picture, String> {
        let total = Picture::xrgb_bytes(width, height, stride)?;
        if data.len() < total {
            return Err(format!(
                "a {width}x{height} picture with {} of {total} bytes",
                data.len()
            ));
        }
        let (w, h) = (width as usize, height as usize);
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in data.chunks_exact(stride as usize).take(h) {
            for px in row[..w * 4].chunks_exact(4) {
                rgb.extend_from_slice(&[px[2], px[1], px[0]]);
            }
        }
        Ok(Picture {
            width,
            height,
            rgb,
            presents: None,
        })
    }

    /// Reads a binary PPM (`P6`, maxval 255), as QEMU's `screendump` writes.
    pub fn from_ppm(bytes: &[u8]) -> Result<Picture, String> {
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if bytes.get(i) == Some(&b'#') {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            let start = i;
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if start == i {
                return Err("a PPM header ends early".into());
            }
            fields.push(String::from_utf8_lossy(&bytes[start..i]).into_owned());
        }
        let num = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("`{s}` in a PPM header"))
        };
        if fields[0] != "P6" || num(&fields[3])? != 255 {
            return Err(format!(
                "not a binary 8-bit PPM (`{} … {}`)",
                fields[0], fields[3]
            ));
        }
        let (width, height) = (num(&fields[1])?, num(&fields[2])?);
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(format!("a {width}x{height} PPM is not one this reads"));
        }
        let data = &bytes[(i + 1).min(bytes.len())..];
        let len = width as usize * height as usize * 3;
        if data.len() < len {
            return Err(format!(
                "a {width}x{height} PPM with {} of {len} bytes",
                data.len()
            ));
        }
        Ok(Picture {
            width,
            height,
            rgb: data[..len].to_vec(),
            presents: None,
        })
    }

    /// The pixel at (`x`, `y`) as `0xRRGGBB`; black outside the picture.
    pub fn at(&self, x: u32, y: u32) -> u32 {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        let Some(px) = self.rgb.get(i..i + 3) else {
            return 0;
        };
        (u32::from(px[0]) << 16) | (u32::from(px[1]) << 8) | u32::from(px[2])
    }

    /// FNV-1a of the size and the RGB bytes: equal pictures, equal digests
    /// (whichever way they were read).
    pub fn digest(&self) -> String {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let size = [self.width.to_le_bytes(), self.height.to_le_bytes()].concat();
        for b in size.iter().chain(&self.rgb) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        format!("{h:016x}")
    }

    /// Encodes it as an 8-bit RGB PNG.
    pub fn png(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, self.width, self.height);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().map_err(|e| e.to_string())?;
            w.write_image_data(&self.rgb).map_err(|e| e.to_string())?;
        }
        Ok(out)
    }

    /// Writes it to `path` as PNG (making the directories it lacks).
    pub fn write_png(&self, path: &std::path::Path) -> Result<u64, String> {
        let bytes = self.png()?;
        crate::output::write_file(path, &bytes)?;
        Ok(bytes.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_reads_header_comments_and_pixels() {
        let mut ppm = b"P6\n# made by a test\n2 1\n255\n".to_vec();
        ppm.extend_from_slice(&[255, 0, 0, 1, 2, 3]);
        let p = Picture::from_ppm(&ppm).unwrap();
        assert_eq!((p.width, p.height), (2, 1));
        assert_eq!(p.at(0, 0), 0xff0000);
        assert_eq!(p.at(1, 0), 0x010203);
        assert!(
            Picture::from_ppm(b"P6\n2 1\n255\n\x01")
                .unwrap_err()
                .contains("2x1 PPM")
        );
        assert!(Picture::from_ppm(b"P3\n1 1\n255\n1 2 3").is_err());
        assert!(Picture::from_ppm(b"P6\n0 1\n255\n").is_err());
    }

    /// A peer's geometry is checked before it sizes anything.
    #[test]
    fn xrgb_pictures_with_impossible_geometry_are_errors() {
        let px = [0x33, 0x22, 0x11, 0, 1, 2, 3, 0];
        let p = Picture::from_xrgb(2, 1, 8, &px).unwrap();
        assert_eq!((p.at(0, 0), p.at(1, 0)), (0x112233, 0x030201));
        for (w, h, stride) in [
            (0, 1, 8),
            (2, 0, 8),
            (2, 1, 0),
            (2, 1, 4),
            (5000, 1, 20000),
            (2, u32::MAX, 8),
        ] {
            assert!(
                Picture::from_xrgb(w, h, stride, &px).is_err(),
                "{w}x{h}/{stride}"
            );
        }
        assert!(
            Picture::from_xrgb(2, 2, 8, &px)
                .unwrap_err()
                .contains("8 of 16 bytes")
        );
    }

    #[test]
    fn png_round_trips_and_digest_follows_pixels() {
        let p = Picture {
            width: 3,
            height: 2,
            rgb: (0..18).collect(),
            presents: None,
        };
        let bytes = p.png().unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(&buf[..18], &p.rgb[..]);
        let mut q = p.clone();
        assert_eq!(p.digest(), q.digest());
        q.rgb[5] ^= 1;
        assert_ne!(p.digest(), q.digest());
    }
}
