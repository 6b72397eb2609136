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
    let total = first.stride as usize * first.height as usize;
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
    let (w, h) = (first.width as usize, first.height as usize);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in raw.chunks_exact(first.stride as usize).take(h) {
        for px in row[..w * 4].chunks_exact(4) {
            rgb.extend_from_slice(&[px[2], px[1], px[0]]);
        }
    }
    let pic = Picture {
        width: first.width,
        height: first.height,
        rgb,
        presents: Some(first.presents),
    };
    Ok((pic, torn))
}

impl Picture {
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

    /// The pixel at (`x`, `y`) as `0xRRGGBB`.
    pub fn at(&self, x: u32, y: u32) -> u32 {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        (u32::from(self.rgb[i]) << 16)
            | (u32::from(self.rgb[i + 1]) << 8)
            | u32::from(self.rgb[i + 2])
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
