//! Blob bodies sent with `sendfile(2)`: the kernel copies the file's cached pages to the socket, and the
//! server never reads them into its own memory.
//!
//! hyper owns each connection and writes body frames through the connection's I/O object. [`Listener`]
//! wraps every accepted TCP stream in a [`SendfileStream`], which shares a queue of file segments with
//! the requests read from it (through [`Peer`], the connection info). An HTTP/1 blob body queues one
//! segment per frame and yields, in its place, a frame of as many placeholder bytes: a slice of one shared
//! buffer that nothing ever reads or writes. With vectored writes, which the stream reports, hyper queues
//! body frames without copying them, so when it asks the stream to write a slice of the placeholder
//! buffer, the stream sends the front segment's file bytes instead. A placeholder slice that does not match
//! the front segment's progress is an error that closes the connection: never wrong bytes.
//!
//! HTTP/2 interleaves the frames of many streams on one connection, so its requests use the ordinary read
//! path. A span that is not in the page cache is read on a blocking thread and sent as an ordinary frame,
//! so a worker thread never waits for the disk.

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use berth_storage::FileSpan;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The most file bytes one body frame stands for.
const FRAME: usize = 1 << 20;

/// The placeholder bytes, allocated zeroed and never touched, so they take no memory.
fn placeholder() -> &'static Bytes {
    static PLACEHOLDER: OnceLock<Bytes> = OnceLock::new();
    PLACEHOLDER.get_or_init(|| Bytes::from(vec![0u8; FRAME]))
}

/// Where `buf` starts in the placeholder buffer, if it is a (non-empty) slice of it.
fn placeholder_offset(buf: &[u8]) -> Option<usize> {
    let base = placeholder().as_ptr() as usize;
    let at = (buf.as_ptr() as usize).checked_sub(base)?;
    (!buf.is_empty() && at + buf.len() <= FRAME).then_some(at)
}

/// File bytes a body frame stands for, in the order the frames were yielded.
#[derive(Debug)]
struct Segment {
    file: Arc<File>,
    offset: u64,
    len: usize,
    sent: usize,
}

/// The segments of one connection, shared by its stream and its requests' bodies.
#[derive(Debug, Clone, Default)]
pub struct Segments(Arc<Mutex<VecDeque<Segment>>>);

impl Segments {
    fn lock(&self) -> io::Result<std::sync::MutexGuard<'_, VecDeque<Segment>>> {
        self.0.lock().map_err(|_| io::Error::other("the segment queue is poisoned"))
    }
}

/// The connection info of a request: the client's address, and its connection's segment queue.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub segments: Segments,
}

impl Connected<IncomingStream<'_, Listener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, Listener>) -> Self {
        Peer { addr: *stream.remote_addr(), segments: stream.io().segments.clone() }
    }
}

/// The segment queue a blob body of this request may use: its connection's, for HTTP/1 only.
pub fn segments(req: &axum::extract::Request) -> Option<Segments> {
    if !matches!(req.version(), axum::http::Version::HTTP_10 | axum::http::Version::HTTP_11) {
        return None;
    }
    req.extensions().get::<axum::extract::ConnectInfo<Peer>>().map(|c| c.0.segments.clone())
}

/// A TCP listener whose connections can send file segments.
#[derive(Debug)]
pub struct Listener(TcpListener);

impl Listener {
    pub fn new(tcp: TcpListener) -> Self {
        Listener(tcp)
    }
}

impl axum::serve::Listener for Listener {
    type Io = SendfileStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (tcp, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (SendfileStream { tcp, segments: Segments::default() }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// An accepted TCP stream that writes placeholder slices as their file segments.
#[derive(Debug)]
pub struct SendfileStream {
    tcp: TcpStream,
    segments: Segments,
}

impl SendfileStream {
    /// Sends the front segment's next bytes, which `len` placeholder bytes from `at` stand for.
    fn poll_send_file(&mut self, cx: &mut Context<'_>, at: usize, len: usize) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            let mut queue = self.segments.lock()?;
            let Some(seg) = queue.front_mut() else {
                return Poll::Ready(Err(io::Error::other("placeholder bytes without a file segment")));
            };
            if seg.sent != at || seg.len - seg.sent != len {
                return Poll::Ready(Err(io::Error::other(format!(
                    "placeholder bytes {at}+{len} out of step with the file segment ({} of {} sent)",
                    seg.sent, seg.len
                ))));
            }
            let mut offset = seg.offset + seg.sent as u64;
            let tcp = &self.tcp;
            let file = &seg.file;
            match tcp
                .try_io(Interest::WRITABLE, || Ok(rustix::fs::sendfile(tcp, file.as_ref(), Some(&mut offset), len)?))
            {
                Ok(0) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the blob's file ended early",
                    )))
                }
                Ok(n) => {
                    seg.sent += n;
                    if seg.sent == seg.len {
                        queue.pop_front();
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for SendfileStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for SendfileStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match placeholder_offset(buf) {
            Some(at) => self.poll_send_file(cx, at, buf.len()),
            None => Pin::new(&mut self.tcp).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let Some(first) = bufs.iter().position(|b| !b.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        if let Some(at) = placeholder_offset(&bufs[first]) {
            return self.poll_send_file(cx, at, bufs[first].len());
        }
        // Ordinary bytes up to the first placeholder slice.
        let end = bufs[first..].iter().position(|b| placeholder_offset(b).is_some()).map_or(bufs.len(), |p| first + p);
        Pin::new(&mut self.tcp).poll_write_vectored(cx, &bufs[first..end])
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// A file span sent through the connection's segment queue.
#[derive(Debug)]
pub struct FileBody {
    file: Arc<File>,
    offset: u64,
    left: u64,
    segments: Segments,
    /// A span not in the page cache, being read on a blocking thread, and its length.
    reading: Option<(JoinHandle<io::Result<Bytes>>, u64)>,
}

impl FileBody {
    pub fn new(span: FileSpan, segments: Segments) -> Self {
        FileBody { file: Arc::new(span.file), offset: span.offset, left: span.len, segments, reading: None }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let this = &mut *self;
        loop {
            if let Some((handle, _)) = &mut this.reading {
                let read = ready!(Pin::new(handle).poll(cx));
                this.reading = None;
                let data = read.map_err(io::Error::other).and_then(|r| r);
                return Poll::Ready(Some(data.map(Frame::data)));
            }
            if this.left == 0 {
                return Poll::Ready(None);
            }
            let len = this.left.min(FRAME as u64) as usize;
            let (file, offset) = (this.file.clone(), this.offset);
            this.offset += len as u64;
            this.left -= len as u64;
            if berth_storage::is_cached(&file, offset) && berth_storage::is_cached(&file, offset + len as u64 - 1) {
                this.segments.lock()?.push_back(Segment { file, offset, len, sent: 0 });
                return Poll::Ready(Some(Ok(Frame::data(placeholder().slice(..len)))));
            }
            let handle = tokio::task::spawn_blocking(move || berth_storage::read_span(&file, offset, len));
            this.reading = Some((handle, len as u64));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0 && self.reading.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left + self.reading.as_ref().map_or(0, |r| r.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A file of `len` patterned bytes, fsynced and dropped from the page cache.
    fn cold_file(dir: &std::path::Path, len: usize) -> (File, Vec<u8>) {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let path = dir.join("blob");
        let mut f = File::create(&path).unwrap();
        f.write_all(&data).unwrap();
        f.sync_all().unwrap();
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        (File::open(&path).unwrap(), data)
    }

    /// The body's bytes, resolving placeholder frames through the queue as the stream would; and how many
    /// frames were placeholders and how many ordinary.
    async fn resolve(mut body: FileBody, segments: &Segments) -> (Vec<u8>, usize, usize) {
        let (mut out, mut placeholders, mut ordinary) = (Vec::new(), 0, 0);
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let data = frame.unwrap().into_data().unwrap();
            if placeholder_offset(&data) == Some(0) {
                let seg = segments.lock().unwrap().pop_front().expect("a segment for each placeholder frame");
                assert_eq!(seg.len, data.len());
                out.extend_from_slice(&berth_storage::read_span(&seg.file, seg.offset, seg.len).unwrap());
                placeholders += 1;
            } else {
                assert_eq!(placeholder_offset(&data), None);
                out.extend_from_slice(&data);
                ordinary += 1;
            }
        }
        assert!(segments.lock().unwrap().is_empty());
        (out, placeholders, ordinary)
    }

    #[tokio::test]
    async fn cold_spans_are_read_and_cached_ones_become_segments() {
        // The page cache is per filesystem: use the build directory's, not a RAM-backed /tmp.
        let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
        std::fs::create_dir_all(&base).unwrap();
        let dir = tempfile::tempdir_in(base).unwrap();
        let len = 2 * FRAME + 4321;
        let (file, data) = cold_file(dir.path(), len);
        let segments = Segments::default();
        let span = FileSpan { file: file.try_clone().unwrap(), offset: 0, len: len as u64 };
        let (got, _, ordinary) = resolve(FileBody::new(span, segments.clone()), &segments).await;
        assert!(got == data, "the cold read differs");
        assert!(ordinary >= 1, "a span out of the page cache must be read on a blocking thread");
        // Now all of it is cached: every frame is a segment, and a range maps to the right offsets.
        let span = FileSpan { file: file.try_clone().unwrap(), offset: 0, len: len as u64 };
        let (got, placeholders, ordinary) = resolve(FileBody::new(span, segments.clone()), &segments).await;
        assert!(got == data);
        assert_eq!((placeholders, ordinary), (3, 0));
        let (start, n) = (FRAME as u64 - 10, FRAME as u64 + 20);
        let span = FileSpan { file, offset: start, len: n };
        let (got, placeholders, _) = resolve(FileBody::new(span, segments.clone()), &segments).await;
        assert!(got == data[start as usize..(start + n) as usize]);
        assert_eq!(placeholders, 2);
    }

    /// An accepted connection wrapped as the listener does, and the client's end.
    async fn pair() -> (SendfileStream, tokio::net::TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (tcp, _) = l.accept().await.unwrap();
        (SendfileStream { tcp, segments: Segments::default() }, client)
    }

    #[tokio::test]
    async fn placeholder_slices_are_sent_as_their_segments() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.path().join("f"), &data).unwrap();
        let file = Arc::new(File::open(dir.path().join("f")).unwrap());
        let (mut server, mut client) = pair().await;
        server.segments.lock().unwrap().push_back(Segment { file: file.clone(), offset: 1000, len: 200_000, sent: 0 });
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        // Ordinary bytes before and after a placeholder frame, written the way hyper writes them: vectored,
        // each call resuming where the last one stopped.
        let frame = placeholder().slice(..200_000);
        let parts: [&[u8]; 3] = [b"head|", &frame, b"|tail"];
        let (mut part, mut done) = (0, 0);
        while part < parts.len() {
            let slices: Vec<IoSlice<'_>> = std::iter::once(&parts[part][done..])
                .chain(parts[part + 1..].iter().copied())
                .map(IoSlice::new)
                .collect();
            let n = std::future::poll_fn(|cx| Pin::new(&mut server).poll_write_vectored(cx, &slices)).await.unwrap();
            assert!(n > 0);
            done += n;
            while part < parts.len() && done >= parts[part].len() {
                done -= parts[part].len();
                part += 1;
            }
        }
        assert!(server.segments.lock().unwrap().is_empty());
        server.shutdown().await.unwrap();
        let got = reader.await.unwrap();
        let mut want = b"head|".to_vec();
        want.extend_from_slice(&data[1000..201_000]);
        want.extend_from_slice(b"|tail");
        assert!(got == want, "{} bytes received, {} expected", got.len(), want.len());
    }

    #[tokio::test]
    async fn placeholder_slices_out_of_step_fail_instead_of_sending_wrong_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), vec![1u8; 5000]).unwrap();
        let file = Arc::new(File::open(dir.path().join("f")).unwrap());
        let (mut server, _client) = pair().await;
        async fn write(server: &mut SendfileStream, buf: Bytes) -> io::Result<usize> {
            std::future::poll_fn(|cx| Pin::new(&mut *server).poll_write(cx, &buf)).await
        }
        // No segment queued.
        assert!(write(&mut server, placeholder().slice(..10)).await.is_err());
        // A segment of another length, or a slice that does not start where the segment stands.
        server.segments.lock().unwrap().push_back(Segment { file, offset: 0, len: 100, sent: 0 });
        assert!(write(&mut server, placeholder().slice(..99)).await.is_err());
        assert!(write(&mut server, placeholder().slice(1..100)).await.is_err());
        assert_eq!(write(&mut server, placeholder().slice(..100)).await.unwrap(), 100);
        // A segment past the end of its file.
        let short = Arc::new(File::open(dir.path().join("f")).unwrap());
        server.segments.lock().unwrap().push_back(Segment { file: short, offset: 5000, len: 10, sent: 0 });
        let e = write(&mut server, placeholder().slice(..10)).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
