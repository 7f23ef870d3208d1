//! Splitting a byte stream into lines, bounded.

/// Longest line kept; longer ones are dropped whole (no command or reply of interest is
/// that long, and a binary stream must not grow the buffer).
const MAX_LINE: usize = 8 * 1024;

/// Collects bytes until CR LF or LF and hands out complete lines (without the ending).
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    partial: Vec<u8>,
    /// The current line passed `MAX_LINE`: skip to its end.
    overflow: bool,
}

impl LineBuffer {
    /// Appends `data`; calls `line` for every line it completes.
    pub(crate) fn push(&mut self, data: &[u8], mut line: impl FnMut(&[u8])) {
        let mut rest = data;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = rest.split_at(pos);
            rest = &tail[1..];
            if self.overflow {
                self.overflow = false;
                self.partial.clear();
                continue;
            }
            let whole: &[u8] = if self.partial.is_empty() {
                head
            } else {
                self.partial.extend_from_slice(head);
                &self.partial
            };
            let whole = whole.strip_suffix(b"\r").unwrap_or(whole);
            line(whole);
            self.partial.clear();
        }
        if !self.overflow {
            if self.partial.len() + rest.len() > MAX_LINE {
                self.overflow = true;
                self.partial.clear();
            } else {
                self.partial.extend_from_slice(rest);
            }
        }
    }

    /// Forgets a partial line (after a gap in the stream).
    pub(crate) fn reset(&mut self) {
        self.partial.clear();
        self.overflow = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_across_chunks_and_overflow() {
        let mut b = LineBuffer::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        b.push(b"USER al", |l| got.push(l.to_vec()));
        b.push(b"ice\r\nPASS x\r\n", |l| got.push(l.to_vec()));
        assert_eq!(got, vec![b"USER alice".to_vec(), b"PASS x".to_vec()]);
        got.clear();
        b.push(&vec![b'a'; MAX_LINE + 10], |l| got.push(l.to_vec()));
        b.push(b"aaa\r\nnext\n", |l| got.push(l.to_vec()));
        assert_eq!(
            got,
            vec![b"next".to_vec()],
            "the long line is dropped whole"
        );
        got.clear();
        b.push(b"half", |l| got.push(l.to_vec()));
        b.reset();
        b.push(b" of a line\nwhole\n", |l| got.push(l.to_vec()));
        assert_eq!(
            got,
            vec![b"whole".to_vec()],
            "after a gap, resync at the next line"
        );
    }
}
