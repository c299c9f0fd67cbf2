//! Newline-delimited framing with a hard line limit.
//!
//! [`LineCodec`] yields raw line bytes (not yet UTF-8 checked: that is the JSON
//! parser's job, so non-UTF-8 input becomes a `-32700` like any other garbage).
//! A line longer than the limit is not buffered: the codec yields
//! [`Frame::TooLong`] as soon as the limit is passed, then discards bytes up to
//! and including the next `\n`, and carries on with the line after it.
//!
//! After a large line (or an oversize one) the read buffer is given back:
//! once it has grown past [`SHRINK_ABOVE`] and holds little, it is replaced
//! by a fresh one of [`READ_BUFFER`] bytes, so an idle connection never
//! keeps megabytes it needed once.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// The read buffer a connection starts with.
pub const READ_BUFFER: usize = 64 * 1024;

/// A read buffer whose capacity grew past this is shrunk back to
/// [`READ_BUFFER`] as soon as it holds no more than that.
pub const SHRINK_ABOVE: usize = 1 << 20;

/// One unit read from the socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its `\n` (and without a trailing `\r`).
    Line(Bytes),
    /// A line went past the limit; its bytes are being skipped.
    TooLong,
}

/// Codec for `\n`-terminated lines of at most `max` bytes.
#[derive(Debug)]
pub struct LineCodec {
    max: usize,
    /// Bytes of the buffer already scanned for `\n`.
    scanned: usize,
    /// Skipping the rest of an oversize line.
    discarding: bool,
}

impl LineCodec {
    /// A codec accepting lines of at most `max` bytes (newline excluded).
    pub fn new(max: usize) -> Self {
        Self {
            max,
            scanned: 0,
            discarding: false,
        }
    }
}

/// Codec errors: only I/O (framing itself cannot fail).
pub type CodecError = std::io::Error;

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        let frame = self.decode_inner(buf);
        shrink(buf);
        frame
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        if let Some(frame) = self.decode(buf)? {
            return Ok(Some(frame));
        }
        // A final line without `\n` is still a message.
        if self.discarding || buf.is_empty() {
            buf.clear();
            return Ok(None);
        }
        self.scanned = 0;
        let line = buf.split().freeze();
        Ok(Some(Frame::Line(line)))
    }
}

/// Give back a grown buffer that now holds little (see [`SHRINK_ABOVE`]).
fn shrink(buf: &mut BytesMut) {
    if buf.capacity() > SHRINK_ABOVE && buf.len() <= READ_BUFFER {
        let mut fresh = BytesMut::with_capacity(READ_BUFFER);
        fresh.extend_from_slice(buf);
        *buf = fresh;
    }
}

impl LineCodec {
    fn decode_inner(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        loop {
            if self.discarding {
                match memchr(&buf[..]) {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.discarding = false;
                        self.scanned = 0;
                        continue;
                    }
                    None => {
                        buf.clear();
                        return Ok(None);
                    }
                }
            }
            let found = memchr(&buf[self.scanned..]).map(|i| i + self.scanned);
            match found {
                Some(i) if i <= self.max => {
                    let mut line = buf.split_to(i + 1);
                    line.truncate(i);
                    if line.last() == Some(&b'\r') {
                        line.truncate(i - 1);
                    }
                    self.scanned = 0;
                    return Ok(Some(Frame::Line(line.freeze())));
                }
                Some(i) => {
                    // Complete but oversize line: drop it whole.
                    buf.advance(i + 1);
                    self.scanned = 0;
                    return Ok(Some(Frame::TooLong));
                }
                None if buf.len() > self.max => {
                    buf.clear();
                    self.scanned = 0;
                    self.discarding = true;
                    return Ok(Some(Frame::TooLong));
                }
                None => {
                    self.scanned = buf.len();
                    return Ok(None);
                }
            }
        }
    }
}

impl Encoder<Bytes> for LineCodec {
    type Error = CodecError;

    fn encode(&mut self, line: Bytes, dst: &mut BytesMut) -> Result<(), CodecError> {
        dst.reserve(line.len() + 1);
        dst.extend_from_slice(&line);
        dst.extend_from_slice(b"\n");
        Ok(())
    }
}

fn memchr(hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, input: &[&[u8]]) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for chunk in input {
            buf.extend_from_slice(chunk);
            while let Ok(Some(f)) = codec.decode(&mut buf) {
                out.push(f);
            }
        }
        out
    }

    #[test]
    fn lines_split_across_chunks() {
        let mut c = LineCodec::new(64);
        let frames = decode_all(&mut c, &[b"{\"a\"", b":1}\n{\"b\":2}\r\n", b"x"]);
        assert_eq!(
            frames,
            vec![
                Frame::Line(Bytes::from_static(b"{\"a\":1}")),
                Frame::Line(Bytes::from_static(b"{\"b\":2}"))
            ]
        );
    }

    #[test]
    fn oversize_line_reported_once_then_skipped() {
        let mut c = LineCodec::new(8);
        let frames = decode_all(&mut c, &[b"0123456789", b"abcdef", b"ghi\nok\n"]);
        assert_eq!(
            frames,
            vec![Frame::TooLong, Frame::Line(Bytes::from_static(b"ok"))]
        );
    }

    #[test]
    fn oversize_complete_line_in_one_chunk() {
        let mut c = LineCodec::new(4);
        let frames = decode_all(&mut c, &[b"123456\nabc\n"]);
        assert_eq!(
            frames,
            vec![Frame::TooLong, Frame::Line(Bytes::from_static(b"abc"))]
        );
    }

    #[test]
    fn line_of_exactly_max_is_accepted() {
        let mut c = LineCodec::new(4);
        let frames = decode_all(&mut c, &[b"1234\n"]);
        assert_eq!(frames, vec![Frame::Line(Bytes::from_static(b"1234"))]);
    }

    #[test]
    fn the_buffer_shrinks_back_after_an_oversize_line() {
        let mut c = LineCodec::new(4 << 20);
        let mut buf = BytesMut::with_capacity(READ_BUFFER);
        buf.extend_from_slice(&vec![b'x'; 5 << 20]);
        assert_eq!(c.decode(&mut buf).ok().flatten(), Some(Frame::TooLong));
        assert!(buf.capacity() <= READ_BUFFER, "{}", buf.capacity());
        buf.extend_from_slice(b"rest\nok\n");
        assert_eq!(
            c.decode(&mut buf).ok().flatten(),
            Some(Frame::Line(Bytes::from_static(b"ok")))
        );
    }

    #[test]
    fn the_buffer_shrinks_back_after_a_large_line() {
        let mut c = LineCodec::new(16 << 20);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&vec![b'y'; 3 << 20]);
        buf.extend_from_slice(b"\nnext");
        let line = c.decode(&mut buf).ok().flatten();
        assert!(matches!(line, Some(Frame::Line(l)) if l.len() == 3 << 20));
        assert!(buf.capacity() <= READ_BUFFER, "{}", buf.capacity());
        assert_eq!(&buf[..], b"next");
    }

    #[test]
    fn final_line_without_newline_at_eof() {
        let mut c = LineCodec::new(16);
        let mut buf = BytesMut::from(&b"tail"[..]);
        assert_eq!(c.decode(&mut buf).ok().flatten(), None);
        assert_eq!(
            c.decode_eof(&mut buf).ok().flatten(),
            Some(Frame::Line(Bytes::from_static(b"tail")))
        );
    }
}
