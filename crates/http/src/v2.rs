//! The `/v2` handlers, one per [`Endpoint`].

use crate::access::{self, Caller};
use crate::error::{range_value, ApiError};
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use berth_oci::media_type::{self, OCI_INDEX};
use berth_oci::{ContentRange, Digest, Endpoint, ErrorCode, Reference, RepoName, Tag};
use berth_storage::{ByteStream, ChunkBounds};
use futures_util::{StreamExt, TryStreamExt};

/// The most entries one page of tags or repositories holds.
const MAX_PAGE: usize = 10_000;
/// How much of an oversized manifest body is read (and dropped) before answering 413.
const DRAIN_LIMIT: usize = 64 * 1024 * 1024;

const API_VERSION: HeaderName = HeaderName::from_static("docker-distribution-api-version");
const CONTENT_DIGEST: &str = "docker-content-digest";
const UPLOAD_UUID: &str = "docker-upload-uuid";

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Entry point of every `/v2` request.
pub async fn dispatch(State(app): State<AppState>, crate::ClientIp(ip): crate::ClientIp, req: Request) -> Response {
    let mut resp = match handle(app, ip, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    resp.headers_mut().insert(API_VERSION, HeaderValue::from_static("registry/2.0"));
    resp
}

async fn handle(app: AppState, ip: Option<std::net::IpAddr>, req: Request) -> Result<Response> {
    let path = req.uri().path();
    let rest = path.strip_prefix("/v2").unwrap_or(path);
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let endpoint = Endpoint::parse(req.method().as_str(), rest).map_err(|e| match e {
        // A malformed tag names no manifest; pushing to one is an invalid manifest push.
        berth_oci::EndpointError::Name(berth_oci::NameError::BadTag(_)) if req.method() == axum::http::Method::PUT => {
            ApiError::new(ErrorCode::ManifestInvalid, e.to_string())
        }
        e => ApiError::from(e),
    })?;
    let who = access::authenticate(&app, req.headers(), ip, access::challenge_scope(&endpoint.access())).await?;
    access::decide(&app, req.headers(), &who, &endpoint.access()).await?;
    let query = Query::parse(req.uri().query());
    let reg = &app.registry;
    match endpoint {
        Endpoint::Base => Ok(json(StatusCode::OK, serde_json::json!({}))),
        Endpoint::Catalog => catalog(&app, &who, &query).await,
        Endpoint::ListTags { name } => tags(reg, &name, &query).await,
        Endpoint::GetManifest { name, reference, head } => {
            get_manifest(&app, &who.subject, &name, &reference, head, req.headers()).await
        }
        Endpoint::PutManifest { name, reference } => {
            put_manifest(reg, &who.subject, &name, &reference, &query, req).await
        }
        Endpoint::DeleteManifest { name, reference } => {
            reg.delete_manifest(&name, &reference, berth_registry::index::actor(&who.subject)).await?;
            Ok(empty(StatusCode::ACCEPTED))
        }
        Endpoint::GetBlob { name, digest, head } => {
            get_blob(reg, &name, &digest, head, req.headers(), crate::sendfile::segments(&req)).await
        }
        Endpoint::DeleteBlob { name, digest } => {
            reg.delete_blob(&name, &digest).await?;
            let mut r = empty(StatusCode::ACCEPTED);
            set(&mut r, CONTENT_DIGEST, &digest.to_string());
            Ok(r)
        }
        Endpoint::StartUpload { name } => start_upload(&app, &who, &name, &query, req).await,
        Endpoint::GetUpload { name, id } => {
            let size = reg.upload_status(&name, &id).await?;
            Ok(upload_progress(StatusCode::NO_CONTENT, &name, &id, size))
        }
        Endpoint::PatchUpload { name, id } => patch_upload(reg, &name, &id, req).await,
        Endpoint::PutUpload { name, id } => finish_upload(reg, &name, &id, &query, req).await,
        Endpoint::DeleteUpload { name, id } => {
            reg.cancel_upload(&name, &id).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Endpoint::Referrers { name, digest } => referrers(reg, &name, &digest, &query).await,
    }
}

// ---- helpers ----

/// Query parameters, with repeated keys kept.
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(q: Option<&str>) -> Query {
        Query(form_urlencoded::parse(q.unwrap_or("").as_bytes()).into_owned().collect())
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn set(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

fn empty(status: StatusCode) -> Response {
    let mut r = (status, Body::empty()).into_response();
    r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn body_stream(body: Body) -> ByteStream {
    body.into_data_stream().map_err(std::io::Error::other).boxed()
}

fn declared_length(h: &HeaderMap) -> Option<u64> {
    header_str(h, header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
}

fn has_body(h: &HeaderMap) -> bool {
    declared_length(h).map_or(h.contains_key(header::TRANSFER_ENCODING), |n| n > 0)
}

fn parse_digest(s: &str) -> Result<Digest> {
    s.parse().map_err(|e: berth_oci::DigestError| ApiError::new(ErrorCode::DigestInvalid, e.to_string()))
}

fn blob_location(name: &RepoName, digest: &Digest) -> String {
    format!("/v2/{name}/blobs/{digest}")
}

fn upload_progress(status: StatusCode, name: &RepoName, id: &str, size: u64) -> Response {
    let mut r = empty(status);
    set(&mut r, "location", &format!("/v2/{name}/blobs/uploads/{id}"));
    set(&mut r, "range", &range_value(size));
    set(&mut r, UPLOAD_UUID, id);
    r
}

fn blob_created(name: &RepoName, digest: &Digest) -> Response {
    let mut r = empty(StatusCode::CREATED);
    set(&mut r, "location", &blob_location(name, digest));
    set(&mut r, CONTENT_DIGEST, &digest.to_string());
    r
}

/// `n` and `last` of a paginated list: the page size and where to start.
fn page(query: &Query) -> Result<(usize, Option<String>)> {
    let n = match query.get("n") {
        None | Some("") => MAX_PAGE,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::PaginationNumberInvalid,
                    format!("n must be a non-negative integer, not {v:?}"),
                )
            })?
            .min(MAX_PAGE as i64) as usize,
    };
    Ok((n, query.get("last").filter(|l| !l.is_empty()).map(str::to_owned)))
}

/// Answers a page, with a `Link` to the next one when more remain.
fn paged(
    base: &str,
    n: usize,
    mut items: Vec<String>,
    body: impl FnOnce(Vec<String>) -> serde_json::Value,
) -> Response {
    let more = items.len() > n;
    items.truncate(n);
    let next = more.then(|| items.last().cloned()).flatten();
    let mut r = json(StatusCode::OK, body(items));
    if let Some(last) = next {
        let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
        set(&mut r, "link", &format!("<{base}?n={n}&last={last}>; rel=\"next\""));
    }
    r
}

// ---- discovery ----

async fn catalog(app: &AppState, who: &Caller, query: &Query) -> Result<Response> {
    let (n, last) = page(query)?;
    let items = if n == 0 {
        Vec::new()
    } else {
        app.accounts
            .visible_repositories(&who.subject, last.as_deref(), n + 1)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?
    };
    Ok(paged("/v2/_catalog", n, items, |repos| serde_json::json!({ "repositories": repos })))
}

async fn tags(reg: &berth_registry::Registry, name: &RepoName, query: &Query) -> Result<Response> {
    let (n, last) = page(query)?;
    let items = reg.tags(name, last.as_deref(), n + 1).await?;
    let items = if n == 0 { Vec::new() } else { items };
    Ok(paged(
        &format!("/v2/{name}/tags/list"),
        n,
        items,
        |tags| serde_json::json!({ "name": name.as_str(), "tags": tags }),
    ))
}

async fn referrers(
    reg: &berth_registry::Registry,
    name: &RepoName,
    digest: &Digest,
    query: &Query,
) -> Result<Response> {
    let filter = query.get("artifactType").filter(|a| !a.is_empty());
    let list = reg.referrers(name, digest, filter).await?;
    let manifests: Vec<serde_json::Value> = list
        .into_iter()
        .map(|r| {
            let mut d = serde_json::json!({
                "mediaType": r.media_type,
                "digest": r.digest.to_string(),
                "size": r.size,
            });
            if let Some(a) = r.artifact_type {
                d["artifactType"] = a.into();
            }
            if let Some(a) = r.annotations.and_then(|a| serde_json::from_str::<serde_json::Value>(&a).ok()) {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let body = serde_json::json!({ "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests });
    let mut r = json(StatusCode::OK, body);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_INDEX));
    if filter.is_some() {
        set(&mut r, "oci-filters-applied", "artifactType");
    }
    Ok(r)
}

// ---- manifests ----

async fn get_manifest(
    app: &AppState,
    who: &berth_auth::Subject,
    name: &RepoName,
    reference: &Reference,
    head: bool,
    headers: &HeaderMap,
) -> Result<Response> {
    let m = app.registry.get_manifest(name, reference).await?;
    if matches!(reference, Reference::Tag(_)) {
        let accept = headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok());
        if !media_type::acceptable(&m.media_type, accept) {
            return Err(ApiError::new(
                ErrorCode::ManifestUnknown,
                format!("the manifest is a {}, which the Accept header does not allow", m.media_type),
            ));
        }
    }
    if !head {
        app.index.record_pull(berth_meta::Pull {
            repository: name.clone(),
            tag: match reference {
                Reference::Tag(t) => Some(t.as_str().to_owned()),
                Reference::Digest(_) => None,
            },
            digest: m.digest.to_string(),
            media_type: m.media_type.clone(),
            actor: berth_registry::index::actor(who).map(str::to_owned),
            at: berth_meta::now(),
        });
    }
    let len = m.content.len();
    let body = if head { Body::empty() } else { Body::from(m.content) };
    let mut r = (StatusCode::OK, body).into_response();
    set(&mut r, "content-type", &m.media_type);
    set(&mut r, "content-length", &len.to_string());
    set(&mut r, CONTENT_DIGEST, &m.digest.to_string());
    set(&mut r, "etag", &format!("\"{}\"", m.digest));
    Ok(r)
}

async fn put_manifest(
    reg: &berth_registry::Registry,
    who: &berth_auth::Subject,
    name: &RepoName,
    reference: &Reference,
    query: &Query,
    req: Request,
) -> Result<Response> {
    let tags = query
        .all("tag")
        .map(|t| t.parse::<Tag>().map_err(|e| ApiError::new(ErrorCode::ManifestInvalid, e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let content_type = header_str(req.headers(), header::CONTENT_TYPE).map(str::to_owned);
    let limit = berth_oci::manifest::MAX_MANIFEST_SIZE;
    let too_large = declared_length(req.headers()).is_some_and(|n| n > limit as u64);
    let mut body = Vec::new();
    let mut received = 0usize;
    let mut stream = req.into_body().into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(ErrorCode::ManifestInvalid, format!("reading the body failed: {e}")))?;
        received += chunk.len();
        if too_large || received > limit {
            // Drain a bounded amount so the client reads the 413 instead of a reset connection.
            if received > DRAIN_LIMIT {
                break;
            }
            continue;
        }
        body.extend_from_slice(&chunk);
    }
    if too_large || received > limit {
        return Err(berth_registry::RegistryError::ManifestTooLarge.into());
    }
    let pushed = reg
        .put_manifest(name, reference, content_type.as_deref(), body, tags, berth_registry::index::actor(who))
        .await?;
    let mut r = empty(StatusCode::CREATED);
    set(&mut r, "location", &format!("/v2/{name}/manifests/{}", pushed.digest));
    set(&mut r, CONTENT_DIGEST, &pushed.digest.to_string());
    if let Some(s) = &pushed.subject {
        set(&mut r, "oci-subject", &s.to_string());
    }
    for t in &pushed.tags {
        if let Ok(v) = HeaderValue::from_str(t.as_str()) {
            r.headers_mut().append(HeaderName::from_static("oci-tag"), v);
        }
    }
    Ok(r)
}

// ---- blobs ----

async fn get_blob(
    reg: &berth_registry::Registry,
    name: &RepoName,
    digest: &Digest,
    head: bool,
    headers: &HeaderMap,
    segments: Option<crate::sendfile::Segments>,
) -> Result<Response> {
    let size = reg.stat_blob(name, digest).await?;
    let etag = format!("\"{digest}\"");
    let range = match berth_oci::range::parse_range(header_str(headers, header::RANGE), size) {
        Ok(r) => r,
        Err(_) => {
            return Err(ApiError::new(ErrorCode::RangeInvalid, format!("the blob has {size} bytes"))
                .header("content-range", format!("bytes */{size}")))
        }
    };
    let mut r = if head {
        let mut r = (StatusCode::OK, Body::empty()).into_response();
        set(&mut r, "content-length", &size.to_string());
        r
    } else if header_str(headers, header::IF_NONE_MATCH).is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        empty(StatusCode::NOT_MODIFIED)
    } else {
        let read = reg.read_blob(digest, range).await?;
        let len = range.map_or(read.size, |r| r.len());
        let status = if range.is_some() { StatusCode::PARTIAL_CONTENT } else { StatusCode::OK };
        let body = match (read.body, segments) {
            (berth_storage::BlobBody::File(span), Some(segments)) => {
                Body::new(crate::sendfile::FileBody::new(span, segments))
            }
            (body, _) => Body::from_stream(body.into_stream()),
        };
        let mut r = (status, body).into_response();
        set(&mut r, "content-length", &len.to_string());
        if let Some(rg) = range {
            set(&mut r, "content-range", &format!("bytes {}-{}/{}", rg.start, rg.end, size));
        }
        r
    };
    set(&mut r, "content-type", "application/octet-stream");
    set(&mut r, CONTENT_DIGEST, &digest.to_string());
    set(&mut r, "etag", &etag);
    set(&mut r, "accept-ranges", "bytes");
    set(&mut r, "cache-control", "max-age=31536000, immutable");
    Ok(r)
}

// ---- uploads ----

async fn start_upload(app: &AppState, who: &Caller, name: &RepoName, query: &Query, req: Request) -> Result<Response> {
    let reg = &app.registry;
    if let Some(mount) = query.get("mount") {
        let digest = parse_digest(mount)?;
        // Without `from`, mounting would let anyone claim a blob by guessing its digest: start an upload instead.
        if let Some(from) = query.get("from") {
            let from: RepoName =
                from.parse().map_err(|e: berth_oci::NameError| ApiError::new(ErrorCode::NameInvalid, e.to_string()))?;
            let readable = access::repository_actions(app, who, &from).await?.contains(berth_auth::Action::Pull);
            if readable && reg.mount_blob(name, &from, &digest).await?.is_some() {
                return Ok(blob_created(name, &digest));
            }
        }
    } else if let Some(d) = query.get("digest") {
        let digest = parse_digest(d)?;
        let len = declared_length(req.headers());
        reg.put_blob(name, &digest, len, body_stream(req.into_body())).await?;
        return Ok(blob_created(name, &digest));
    }
    let id = reg.start_upload(name).await?;
    Ok(upload_progress(StatusCode::ACCEPTED, name, &id, 0))
}

/// The bounds a request declares for the chunk it carries.
fn chunk_bounds(h: &HeaderMap) -> Result<ChunkBounds> {
    match header_str(h, header::CONTENT_RANGE) {
        Some(v) => {
            let cr = ContentRange::parse(v).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::BlobUploadInvalid,
                    format!("invalid Content-Range {v:?}; expected <start>-<end>"),
                )
            })?;
            if declared_length(h).is_some_and(|n| n != cr.len()) {
                return Err(ApiError::new(
                    ErrorCode::SizeInvalid,
                    format!(
                        "Content-Range covers {} bytes but Content-Length is {}",
                        cr.len(),
                        declared_length(h).unwrap_or(0)
                    ),
                ));
            }
            Ok(ChunkBounds { start: Some(cr.start), len: Some(cr.len()) })
        }
        None => Ok(ChunkBounds { start: None, len: declared_length(h) }),
    }
}

async fn patch_upload(reg: &berth_registry::Registry, name: &RepoName, id: &str, req: Request) -> Result<Response> {
    let bounds = chunk_bounds(req.headers())?;
    match reg.patch_upload(name, id, bounds, body_stream(req.into_body())).await {
        Ok(size) => Ok(upload_progress(StatusCode::ACCEPTED, name, id, size)),
        Err(e @ berth_registry::RegistryError::OutOfOrder { .. }) => {
            Err(ApiError::from(e).header("location", format!("/v2/{name}/blobs/uploads/{id}")).header(UPLOAD_UUID, id))
        }
        Err(e) => Err(e.into()),
    }
}

async fn finish_upload(
    reg: &berth_registry::Registry,
    name: &RepoName,
    id: &str,
    query: &Query,
    req: Request,
) -> Result<Response> {
    let digest = match query.get("digest") {
        Some(d) => parse_digest(d)?,
        None => return Err(ApiError::new(ErrorCode::DigestInvalid, "the digest query parameter is required")),
    };
    let last = if has_body(req.headers()) {
        let bounds = chunk_bounds(req.headers())?;
        Some((bounds, body_stream(req.into_body())))
    } else {
        None
    };
    reg.finish_upload(name, id, &digest, last).await?;
    Ok(blob_created(name, &digest))
}
