//! Direct tool calls without the model (design §13 "Direct calls" and "Images").
//!
//! - `host.list` → `[`[`HostListEntry`]`]`: every registered host with its
//!   tools (the list, not a count as in `daemon.status`).
//! - `tool.call` [`ToolCallParams`] → [`ToolCallResult`] (the host's
//!   `tool.invoke` result, `images` included).
//! - `tool.call.cancel` [`ToolCallCancelParams`] → [`ToolCallCancelResult`].
//!
//! A `tool.invoke` result may carry [`ToolImage`]s; [`check_images`] is the
//! one validation applied to them wherever they are received.

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Timestamp, ToolSpec};

/// Largest decoded image: 5 MB (the Messages API's limit per image).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;
/// Largest image side in pixels (the Messages API's limit).
pub const MAX_IMAGE_SIDE: u32 = 8000;
/// Largest `tool.call` `timeout_s`: one hour.
pub const MAX_CALL_TIMEOUT_S: f64 = 3600.0;
/// Longest client-chosen `call_id`.
pub const MAX_CALL_ID_LEN: usize = 128;

/// One image a tool returned (`tool.invoke` result `images[]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolImage {
    /// `image/png` or `image/jpeg`.
    pub media_type: String,
    /// The image bytes, standard base64 with padding. At most 5 MB decoded and
    /// 8000 px a side.
    pub data: String,
}

/// Why an image was refused (the call becomes an `InvalidImage` envelope).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// Not `image/png` nor `image/jpeg`.
    #[error("images[{index}]: media_type {media_type:?} is not image/png or image/jpeg")]
    MediaType {
        /// Position in `images`.
        index: usize,
        /// What was sent (clipped).
        media_type: String,
    },
    /// `data` is not valid base64.
    #[error("images[{index}]: data is not valid base64: {reason}")]
    Base64 {
        /// Position in `images`.
        index: usize,
        /// The decoder's complaint.
        reason: String,
    },
    /// Over [`MAX_IMAGE_BYTES`] decoded.
    #[error("images[{index}]: {bytes} bytes decoded, over the {MAX_IMAGE_BYTES}-byte limit")]
    TooLarge {
        /// Position in `images`.
        index: usize,
        /// Decoded size (or a lower bound on it).
        bytes: usize,
    },
    /// The bytes are not a PNG/JPEG of the declared type, or its size cannot be read.
    #[error("images[{index}]: not a readable {media_type} image: {reason}")]
    Format {
        /// Position in `images`.
        index: usize,
        /// The declared type.
        media_type: String,
        /// What is wrong.
        reason: String,
    },
    /// A side over [`MAX_IMAGE_SIDE`] px, or zero.
    #[error("images[{index}]: {width}x{height} px; each side must be 1..={MAX_IMAGE_SIDE}")]
    Dimensions {
        /// Position in `images`.
        index: usize,
        /// Width in px.
        width: u32,
        /// Height in px.
        height: u32,
    },
}

/// Validate every image: media type, base64, size, and pixel dimensions read
/// from the PNG `IHDR` / JPEG `SOFn` header. Never panics on any input.
pub fn check_images(images: &[ToolImage]) -> Result<(), ImageError> {
    for (index, img) in images.iter().enumerate() {
        check_image(index, img)?;
    }
    Ok(())
}

fn check_image(index: usize, img: &ToolImage) -> Result<(), ImageError> {
    let png = match img.media_type.as_str() {
        "image/png" => true,
        "image/jpeg" => false,
        other => {
            return Err(ImageError::MediaType {
                index,
                media_type: other.chars().take(64).collect(),
            })
        }
    };
    // Refuse before decoding what cannot fit (4 base64 chars per 3 bytes).
    let lower_bound = img.data.len() / 4 * 3;
    if lower_bound > MAX_IMAGE_BYTES + 2 {
        return Err(ImageError::TooLarge {
            index,
            bytes: lower_bound,
        });
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(img.data.as_bytes())
        .map_err(|e| ImageError::Base64 {
            index,
            reason: e.to_string(),
        })?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(ImageError::TooLarge {
            index,
            bytes: bytes.len(),
        });
    }
    let dims = if png {
        png_size(&bytes)
    } else {
        jpeg_size(&bytes)
    };
    let (width, height) = dims.map_err(|reason| ImageError::Format {
        index,
        media_type: img.media_type.clone(),
        reason: reason.to_owned(),
    })?;
    if width == 0 || height == 0 || width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(ImageError::Dimensions {
            index,
            width,
            height,
        });
    }
    Ok(())
}

fn be32(b: &[u8]) -> u32 {
    b.iter().take(4).fold(0u32, |a, &x| (a << 8) | u32::from(x))
}

/// Width and height from a PNG's `IHDR` chunk.
fn png_size(b: &[u8]) -> Result<(u32, u32), &'static str> {
    const SIG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if b.len() < 24 || &b[..8] != SIG {
        return Err("no PNG signature");
    }
    if &b[12..16] != b"IHDR" {
        return Err("the first chunk is not IHDR");
    }
    Ok((be32(&b[16..20]), be32(&b[20..24])))
}

/// Width and height from a JPEG's first start-of-frame marker.
fn jpeg_size(b: &[u8]) -> Result<(u32, u32), &'static str> {
    if b.len() < 4 || b[0] != 0xFF || b[1] != 0xD8 {
        return Err("no JPEG SOI marker");
    }
    let mut i = 2;
    while i + 3 < b.len() {
        if b[i] != 0xFF {
            return Err("corrupt JPEG marker stream");
        }
        let marker = b[i + 1];
        if marker == 0xFF {
            i += 1; // fill byte
            continue;
        }
        // Markers without a length.
        if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
            i += 2;
            continue;
        }
        let len = usize::from(b[i + 2]) << 8 | usize::from(b[i + 3]);
        if len < 2 {
            return Err("corrupt JPEG segment length");
        }
        let is_sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_sof {
            // FF Cn len(2) precision(1) height(2) width(2)
            if i + 9 > b.len() {
                return Err("truncated JPEG frame header");
            }
            let h = u32::from(b[i + 5]) << 8 | u32::from(b[i + 6]);
            let w = u32::from(b[i + 7]) << 8 | u32::from(b[i + 8]);
            return Ok((w, h));
        }
        if marker == 0xDA || marker == 0xD9 {
            break; // scan data or end before any frame header
        }
        i += 2 + len;
    }
    Err("no JPEG frame header")
}

/// `host.list` result entry: a registered host with its tools.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HostListEntry {
    /// Daemon-assigned id.
    pub host_id: String,
    /// Display name, e.g. `houdini`.
    pub name: String,
    /// Houdini version string.
    pub houdini_version: String,
    /// Houdini's process id.
    pub pid: u32,
    /// The open hip file, if any.
    pub hip: Option<String>,
    /// `hou.isUIAvailable()`.
    pub ui_available: bool,
    /// When the host registered.
    pub connected_at: Timestamp,
    /// The tools it serves, as registered.
    pub tools: Vec<ToolSpec>,
}

/// `tool.call` params.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCallParams {
    /// The tool's name.
    pub name: String,
    /// The tool's input: a JSON object (the host validates it against the schema).
    pub input: Value,
    /// The host to call; may be omitted when exactly one is registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<String>,
    /// Main-thread timeout in seconds, in (0, 3600]; default the tool's own
    /// `timeout_s`, else 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// The `tool.invoke` call id, for `tool.call.cancel`; unique among pending
    /// calls, 1..=128 characters. Made by the daemon when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
}

/// `tool.call` result: the host's `tool.invoke` result as it sent it.
pub type ToolCallResult = crate::ToolInvokeResult;

/// `tool.call.cancel` params.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCallCancelParams {
    /// The pending `tool.call`'s `call_id`.
    pub call_id: String,
}

/// `tool.call.cancel` result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ToolCallCancelResult {
    /// False when no such call is pending (unknown, or already answered).
    pub cancelled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        v
    }

    fn jpeg(w: u16, h: u16) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x4A, 0x46];
        v.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08]);
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9]);
        v
    }

    fn img(mt: &str, data: String) -> ToolImage {
        ToolImage {
            media_type: mt.into(),
            data,
        }
    }

    #[test]
    fn good_images_pass() {
        let ok = [
            img("image/png", b64(&png(768, 432))),
            img("image/jpeg", b64(&jpeg(8000, 1))),
        ];
        assert_eq!(check_images(&ok), Ok(()));
    }

    #[test]
    fn bad_images_are_refused_without_panicking() {
        let cases = [
            img("image/gif", b64(&png(1, 1))),
            img("image/png", "not base64!".into()),
            img("image/png", b64(&png(8001, 10))),
            img("image/png", b64(&png(0, 10))),
            img("image/jpeg", b64(&png(10, 10))),
            img("image/png", b64(b"\x89PNG")),
            img("image/jpeg", b64(&[0xFF, 0xD8, 0xFF, 0xC0, 0x00])),
            img(
                "image/jpeg",
                b64(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x00, 1, 2]),
            ),
            img("image/png", "A".repeat(8 * 1024 * 1024)),
        ];
        for c in &cases {
            assert!(
                check_images(std::slice::from_ref(c)).is_err(),
                "{:?}",
                &c.data[..c.data.len().min(40)]
            );
        }
        let big = {
            let mut v = png(10, 10);
            v.resize(MAX_IMAGE_BYTES + 1, 0);
            v
        };
        assert!(matches!(
            check_images(&[img("image/png", b64(&big))]),
            Err(ImageError::TooLarge { .. })
        ));
    }

    #[test]
    fn images_are_omitted_when_empty() {
        let r = crate::ToolInvokeResult {
            is_error: false,
            content: serde_json::json!({}),
            images: Vec::new(),
        };
        let v = serde_json::to_value(&r).expect("json");
        assert!(v.get("images").is_none(), "{v}");
        let back: crate::ToolInvokeResult =
            serde_json::from_value(serde_json::json!({"is_error": false, "content": 1}))
                .expect("no images");
        assert!(back.images.is_empty());
    }
}
