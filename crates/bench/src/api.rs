//! The registry HTTP API as the bench drives it: every call checks status codes, digests and the bytes
//! it gets back, so a fast but wrong answer aborts the run instead of winning it.

use crate::data::{self, BlobSpec, PrngBody};
use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};
use reqwest::{Body, Client, Response, StatusCode, Url};
use sha2::{Digest as _, Sha256};
use std::time::Duration;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCTET: &str = "application/octet-stream";
/// What docker, containerd and skopeo send when they fetch a manifest.
pub const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// One server's API: a keep-alive connection pool and its base URL.
#[derive(Clone, Debug)]
pub struct Api {
    pub name: &'static str,
    client: Client,
    base: Url,
}

fn header<'a>(resp: &'a Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

impl Api {
    pub fn new(name: &'static str, base: &str) -> Result<Self> {
        let client = Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .timeout(Duration::from_secs(300))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Api { name, client, base: Url::parse(base).with_context(|| format!("bad base URL {base}"))? })
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("a path joins onto the base URL")
    }

    async fn expect(&self, resp: reqwest::Result<Response>, want: StatusCode, what: &str) -> Result<Response> {
        let resp = resp.with_context(|| format!("{}: {what}: request failed", self.name))?;
        if resp.status() == want {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.chars().take(400).collect();
        bail!("{}: {what}: expected {want}, got {status}: {body}", self.name)
    }

    fn location(&self, resp: &Response, what: &str) -> Result<Url> {
        let loc = header(resp, "location").with_context(|| format!("{}: {what}: no Location header", self.name))?;
        self.base.join(loc).with_context(|| format!("{}: {what}: bad Location {loc:?}", self.name))
    }

    fn expect_header(&self, resp: &Response, name: &str, want: &str, what: &str) -> Result<()> {
        let got = header(resp, name);
        ensure!(got == Some(want), "{}: {what}: header {name} is {got:?}, expected {want:?}", self.name);
        Ok(())
    }

    pub async fn start_upload(&self, repo: &str) -> Result<Url> {
        let what = format!("POST /v2/{repo}/blobs/uploads/");
        let resp = self.client.post(self.url(&format!("/v2/{repo}/blobs/uploads/"))).header(CONTENT_LENGTH, "0").send();
        let resp = self.expect(resp.await, StatusCode::ACCEPTED, &what).await?;
        self.location(&resp, &what)
    }

    /// `PUT <location>?digest=` with the last bytes (or none): 201 and the server's digest must match.
    pub async fn finish_upload(&self, location: Url, digest: &str, body: Option<Body>) -> Result<()> {
        let mut url = location;
        url.query_pairs_mut().append_pair("digest", digest);
        let req = self.client.put(url).header(CONTENT_TYPE, OCTET);
        let req = match body {
            Some(b) => req.body(b),
            None => req.header(CONTENT_LENGTH, "0"),
        };
        let what = format!("PUT upload ?digest={digest}");
        let resp = self.expect(req.send().await, StatusCode::CREATED, &what).await?;
        self.expect_header(&resp, "docker-content-digest", digest, &what)
    }

    /// POST, then PUT with the whole body.
    pub async fn push_monolithic(&self, repo: &str, b: &BlobSpec) -> Result<()> {
        let loc = self.start_upload(repo).await?;
        self.finish_upload(loc, &b.digest, Some(Body::wrap(PrngBody::sized(b.seed, 0, b.size)))).await
    }

    /// POST, PATCHes of `chunk` bytes with Content-Range, then an empty PUT.
    pub async fn push_chunked(&self, repo: &str, b: &BlobSpec, chunk: u64) -> Result<()> {
        let mut loc = self.start_upload(repo).await?;
        let mut pos = 0;
        while pos < b.size {
            let end = (pos + chunk).min(b.size);
            let req = self
                .client
                .patch(loc.clone())
                .header(CONTENT_TYPE, OCTET)
                .header(CONTENT_RANGE, format!("{}-{}", pos, end - 1))
                .body(Body::wrap(PrngBody::sized(b.seed, pos, end)));
            let what = format!("PATCH chunk {}-{} of {}", pos, end - 1, b.digest);
            let resp = self.expect(req.send().await, StatusCode::ACCEPTED, &what).await?;
            self.expect_header(&resp, "range", &format!("0-{}", end - 1), &what)?;
            loc = self.location(&resp, &what)?;
            pos = end;
        }
        self.finish_upload(loc, &b.digest, None).await
    }

    /// The docker way: POST, one PATCH streaming the whole blob (chunked encoding, no length), empty PUT.
    pub async fn push_streamed(&self, repo: &str, b: &BlobSpec) -> Result<()> {
        let loc = self.start_upload(repo).await?;
        let req =
            self.client.patch(loc).header(CONTENT_TYPE, OCTET).body(Body::wrap(PrngBody::streamed(b.seed, 0, b.size)));
        let what = format!("streamed PATCH of {}", b.digest);
        let resp = self.expect(req.send().await, StatusCode::ACCEPTED, &what).await?;
        self.expect_header(&resp, "range", &format!("0-{}", b.size.saturating_sub(1)), &what)?;
        let loc = self.location(&resp, &what)?;
        self.finish_upload(loc, &b.digest, None).await
    }

    /// A small blob as containerd pushes one: HEAD (absent), POST, PUT with the body.
    pub async fn push_small(&self, repo: &str, digest: &str, bytes: Bytes, head_first: bool) -> Result<()> {
        if head_first {
            let what = format!("HEAD /v2/{repo}/blobs/{digest} (not pushed yet)");
            let resp = self.client.head(self.url(&format!("/v2/{repo}/blobs/{digest}"))).send().await;
            self.expect(resp, StatusCode::NOT_FOUND, &what).await?;
        }
        let loc = self.start_upload(repo).await?;
        self.finish_upload(loc, digest, Some(bytes.into())).await
    }

    /// A blob in one request: `POST ?digest=` with the body (the spec's monolithic single-POST upload).
    pub async fn push_single_post(&self, repo: &str, digest: &str, bytes: Bytes) -> Result<()> {
        let mut url = self.url(&format!("/v2/{repo}/blobs/uploads/"));
        url.query_pairs_mut().append_pair("digest", digest);
        let what = format!("POST /v2/{repo}/blobs/uploads/?digest={digest}");
        let resp = self.client.post(url).header(CONTENT_TYPE, OCTET).body(bytes).send().await;
        let resp = self.expect(resp, StatusCode::CREATED, &what).await?;
        self.expect_header(&resp, "docker-content-digest", digest, &what)
    }

    pub async fn mount(&self, repo: &str, from: &str, digest: &str) -> Result<()> {
        let url = self.url(&format!("/v2/{repo}/blobs/uploads/?mount={digest}&from={from}"));
        let what = format!("mount {digest} from {from} into {repo}");
        let resp = self.client.post(url).header(CONTENT_LENGTH, "0").send().await;
        let resp = self.expect(resp, StatusCode::CREATED, &what).await?;
        self.expect_header(&resp, "docker-content-digest", digest, &what)
    }

    pub async fn head_blob(&self, repo: &str, b: &BlobSpec) -> Result<()> {
        let what = format!("HEAD /v2/{repo}/blobs/{}", b.digest);
        let resp = self.client.head(self.url(&format!("/v2/{repo}/blobs/{}", b.digest))).send().await;
        let resp = self.expect(resp, StatusCode::OK, &what).await?;
        self.expect_header(&resp, "content-length", &b.size.to_string(), &what)
    }

    /// GET a whole blob, checking its length and every `SAMPLE_EVERY`-th byte against the generator.
    pub async fn pull_sampled(&self, repo: &str, b: &BlobSpec) -> Result<u64> {
        let what = format!("GET /v2/{repo}/blobs/{}", b.digest);
        let resp = self.client.get(self.url(&format!("/v2/{repo}/blobs/{}", b.digest))).send().await;
        let mut resp = self.expect(resp, StatusCode::OK, &what).await?;
        let mut pos = 0u64;
        while let Some(chunk) = resp.chunk().await.with_context(|| format!("{}: {what}: body", self.name))? {
            ensure!(pos + chunk.len() as u64 <= b.size, "{}: {what}: more than {} bytes", self.name, b.size);
            ensure!(data::sample_ok(b.seed, pos, &chunk), "{}: {what}: wrong bytes near offset {pos}", self.name);
            pos += chunk.len() as u64;
        }
        ensure!(pos == b.size, "{}: {what}: got {pos} bytes, expected {}", self.name, b.size);
        Ok(pos)
    }

    /// GET a whole blob and hash all of it: the digest header and the content must both match.
    pub async fn pull_verified(&self, repo: &str, b: &BlobSpec) -> Result<()> {
        let what = format!("GET /v2/{repo}/blobs/{} (full digest check)", b.digest);
        let resp = self.client.get(self.url(&format!("/v2/{repo}/blobs/{}", b.digest))).send().await;
        let mut resp = self.expect(resp, StatusCode::OK, &what).await?;
        self.expect_header(&resp, "docker-content-digest", &b.digest, &what)?;
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = resp.chunk().await.with_context(|| format!("{}: {what}: body", self.name))? {
            h.update(&chunk);
            n += chunk.len() as u64;
        }
        let got = format!("sha256:{}", hex::encode(h.finalize()));
        ensure!(n == b.size && got == b.digest, "{}: {what}: got {n} bytes hashing to {got}", self.name);
        Ok(())
    }

    /// GET bytes `[start, start + len)` of a blob: 206, the right Content-Range and the right bytes.
    pub async fn pull_range(&self, repo: &str, b: &BlobSpec, start: u64, len: u64) -> Result<()> {
        let last = start + len - 1;
        let what = format!("GET /v2/{repo}/blobs/{} Range: bytes={start}-{last}", b.digest);
        let resp = self
            .client
            .get(self.url(&format!("/v2/{repo}/blobs/{}", b.digest)))
            .header(RANGE, format!("bytes={start}-{last}"))
            .send()
            .await;
        let mut resp = self.expect(resp, StatusCode::PARTIAL_CONTENT, &what).await?;
        self.expect_header(&resp, "content-range", &format!("bytes {start}-{last}/{}", b.size), &what)?;
        let mut pos = start;
        while let Some(chunk) = resp.chunk().await.with_context(|| format!("{}: {what}: body", self.name))? {
            ensure!(data::sample_ok(b.seed, pos, &chunk), "{}: {what}: wrong bytes near offset {pos}", self.name);
            pos += chunk.len() as u64;
        }
        ensure!(pos == start + len, "{}: {what}: got {} bytes, expected {len}", self.name, pos - start);
        Ok(())
    }

    pub async fn put_manifest(&self, repo: &str, reference: &str, body: Bytes, digest: &str) -> Result<()> {
        let what = format!("PUT /v2/{repo}/manifests/{reference}");
        let resp = self
            .client
            .put(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header(CONTENT_TYPE, OCI_MANIFEST)
            .body(body)
            .send()
            .await;
        let resp = self.expect(resp, StatusCode::CREATED, &what).await?;
        self.expect_header(&resp, "docker-content-digest", digest, &what)
    }

    /// GET a manifest as a client does (with Accept): 200 and exactly the pushed bytes.
    pub async fn get_manifest(&self, repo: &str, reference: &str, want: &Bytes) -> Result<()> {
        let what = format!("GET /v2/{repo}/manifests/{reference}");
        let resp = self
            .client
            .get(self.url(&format!("/v2/{repo}/manifests/{reference}")))
            .header(ACCEPT, ACCEPT_MANIFESTS)
            .send()
            .await;
        let resp = self.expect(resp, StatusCode::OK, &what).await?;
        let body = resp.bytes().await.with_context(|| format!("{}: {what}: body", self.name))?;
        ensure!(body == want, "{}: {what}: served bytes differ from the pushed manifest", self.name);
        Ok(())
    }

    /// HEAD a manifest by digest: 200, its digest and its length.
    pub async fn head_manifest(&self, repo: &str, digest: &str, len: usize) -> Result<()> {
        let what = format!("HEAD /v2/{repo}/manifests/{digest}");
        let resp = self
            .client
            .head(self.url(&format!("/v2/{repo}/manifests/{digest}")))
            .header(ACCEPT, ACCEPT_MANIFESTS)
            .send()
            .await;
        let resp = self.expect(resp, StatusCode::OK, &what).await?;
        self.expect_header(&resp, "docker-content-digest", digest, &what)?;
        self.expect_header(&resp, "content-length", &len.to_string(), &what)
    }

    /// GET a path answering 200: its body.
    pub async fn get_ok(&self, path: &str) -> Result<Bytes> {
        let what = format!("GET {path}");
        let resp = self.expect(self.client.get(self.url(path)).send().await, StatusCode::OK, &what).await?;
        resp.bytes().await.with_context(|| format!("{}: {what}: body", self.name))
    }

    /// GET a path answering 200 with exactly `want`.
    pub async fn get_same(&self, path: &str, want: &Bytes) -> Result<()> {
        let body = self.get_ok(path).await?;
        ensure!(body == want, "{}: GET {path}: the answer changed between requests", self.name);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The request head a PATCH with `body` sends.
    async fn head_of(body: Body) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).await.unwrap();
                head.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await.unwrap();
            String::from_utf8_lossy(&head).to_lowercase()
        });
        let client = Client::builder().no_proxy().build().unwrap();
        let _ = client.patch(format!("http://{addr}/x")).body(body).send().await;
        server.await.unwrap()
    }

    #[tokio::test]
    async fn sized_bodies_send_content_length_and_streamed_ones_go_chunked() {
        let head = head_of(Body::wrap(PrngBody::sized(1, 0, 3 << 20))).await;
        assert!(head.contains("content-length: 3145728") && !head.contains("transfer-encoding"), "{head}");
        let head = head_of(Body::wrap(PrngBody::streamed(1, 0, 3 << 20))).await;
        assert!(head.contains("transfer-encoding: chunked") && !head.contains("content-length"), "{head}");
    }
}
