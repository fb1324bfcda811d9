//! `Range` of blob GETs and `Content-Range` of chunked upload PATCHes.

/// An inclusive byte range `start..=end` within a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("range not satisfiable")]
    Unsatisfiable,
}

/// Parses a `Range` header for a blob of `size` bytes.
///
/// `Ok(None)` means "serve the whole blob": no header, a unit other than bytes, several ranges, or a
/// malformed value (RFC 9110 lets a server ignore those). `Err` means 416.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<ByteRange>, RangeError> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())).then(|| s.parse().ok()).flatten()
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => {
            let Some(n) = num(suffix) else { return Ok(None) };
            if n == 0 || size == 0 {
                return Err(RangeError::Unsatisfiable);
            }
            Ok(Some(ByteRange { start: size.saturating_sub(n), end: size - 1 }))
        }
        (start, end) => {
            let Some(start) = num(start) else { return Ok(None) };
            let end = if end.is_empty() {
                u64::MAX
            } else {
                match num(end) {
                    Some(e) if e >= start => e,
                    _ => return Ok(None),
                }
            };
            if start >= size {
                return Err(RangeError::Unsatisfiable);
            }
            Ok(Some(ByteRange { start, end: end.min(size - 1) }))
        }
    }
}

/// The `Content-Range` of an upload chunk: the inclusive offsets it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentRange {
    pub start: u64,
    pub end: u64,
}

impl ContentRange {
    /// Accepts the spec's `start-end`, and the `bytes start-end/total` and `bytes=start-end` forms clients also send.
    pub fn parse(value: &str) -> Option<ContentRange> {
        let v = value.trim();
        let v = v.strip_prefix("bytes=").or_else(|| v.strip_prefix("bytes ")).unwrap_or(v).trim();
        let v = v.split_once('/').map_or(v, |(r, _)| r);
        let (a, b) = v.split_once('-')?;
        let start: u64 = a.trim().parse().ok()?;
        let end: u64 = b.trim().parse().ok()?;
        (end >= start).then_some(ContentRange { start, end })
    }

    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Result<Option<ByteRange>, RangeError> {
        Ok(Some(ByteRange { start, end }))
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn range_table() {
        let cases: &[(Option<&str>, u64, Result<Option<ByteRange>, RangeError>)] = &[
            (None, 10, Ok(None)),
            (Some("bytes=0-4"), 10, r(0, 4)),
            (Some("bytes=5-"), 10, r(5, 9)),
            (Some("bytes=5-100"), 10, r(5, 9)),
            (Some("bytes=-3"), 10, r(7, 9)),
            (Some("bytes=-30"), 10, r(0, 9)),
            (Some("bytes=9-9"), 10, r(9, 9)),
            (Some("bytes=10-"), 10, Err(RangeError::Unsatisfiable)),
            (Some("bytes=10-20"), 10, Err(RangeError::Unsatisfiable)),
            (Some("bytes=-0"), 10, Err(RangeError::Unsatisfiable)),
            (Some("bytes=0-"), 0, Err(RangeError::Unsatisfiable)),
            (Some("bytes=5-4"), 10, Ok(None)),
            (Some("bytes=0-1,3-4"), 10, Ok(None)),
            (Some("items=0-1"), 10, Ok(None)),
            (Some("bytes=a-b"), 10, Ok(None)),
            (Some("bytes=+1-2"), 10, Ok(None)),
        ];
        for (h, size, want) in cases {
            assert_eq!(parse_range(*h, *size), *want, "{h:?} of {size}");
        }
        assert_eq!(ByteRange { start: 2, end: 5 }.len(), 4);
    }

    #[test]
    fn content_range_table() {
        let cr = |s, e| Some(ContentRange { start: s, end: e });
        let cases: &[(&str, Option<ContentRange>)] = &[
            ("0-99", cr(0, 99)),
            ("100-199", cr(100, 199)),
            ("bytes 0-9/*", cr(0, 9)),
            ("bytes 0-9/10", cr(0, 9)),
            ("bytes=5-5", cr(5, 5)),
            ("9-0", None),
            ("-5", None),
            ("a-b", None),
            ("", None),
        ];
        for (v, want) in cases {
            assert_eq!(ContentRange::parse(v), *want, "{v}");
        }
        assert_eq!(ContentRange { start: 0, end: 0 }.len(), 1);
    }
}
