//! The suite every [`MetaStore`] implementation runs: `run_all(&store).await` in its tests.

#![allow(clippy::unwrap_used, clippy::panic)]

use crate::{MetaError, MetaStore, NewManifest};
use berth_oci::{Digest, Reference, RepoName, Tag};

fn n(s: &str) -> RepoName {
    s.parse().unwrap()
}

fn t(s: &str) -> Tag {
    s.parse().unwrap()
}

fn manifest(content: &str, blobs: Vec<Digest>, children: Vec<Digest>, tags: &[&str]) -> NewManifest {
    NewManifest {
        digest: Digest::sha256_of(content.as_bytes()),
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        content: content.as_bytes().to_vec(),
        blobs,
        children,
        subject: None,
        artifact_type: None,
        annotations: None,
        tags: tags.iter().map(|s| t(s)).collect(),
    }
}

/// Runs every check of the suite.
pub async fn run_all(m: &dyn MetaStore) {
    blobs_per_repository(m).await;
    manifests_tags_and_deletes(m).await;
    pagination(m).await;
    referrers(m).await;
    uploads(m).await;
    m.health().await.unwrap();
}

async fn blobs_per_repository(m: &dyn MetaStore) {
    let (a, b) = (n("suite/a"), n("suite/b"));
    let d = Digest::sha256_of(b"blob");
    assert!(!m.repository_exists(&a).await.unwrap());
    m.add_blob(&a, &d, 4).await.unwrap();
    m.add_blob(&a, &d, 4).await.unwrap();
    assert!(m.repository_exists(&a).await.unwrap());
    assert_eq!(m.repository_blob(&a, &d).await.unwrap(), Some(4));
    // Another repository cannot read it until it is mounted.
    assert_eq!(m.repository_blob(&b, &d).await.unwrap(), None);
    assert_eq!(m.mount_blob(&n("suite/none"), &b, &d).await.unwrap(), None);
    assert!(!m.repository_exists(&b).await.unwrap());
    assert_eq!(m.mount_blob(&a, &b, &d).await.unwrap(), Some(4));
    assert_eq!(m.repository_blob(&b, &d).await.unwrap(), Some(4));
    assert!(m.remove_blob(&b, &d).await.unwrap());
    assert!(!m.remove_blob(&b, &d).await.unwrap());
    assert_eq!(m.repository_blob(&b, &d).await.unwrap(), None);
    assert_eq!(m.repository_blob(&a, &d).await.unwrap(), Some(4));
}

async fn manifests_tags_and_deletes(m: &dyn MetaStore) {
    let r = n("suite/m");
    let (c, l) = (Digest::sha256_of(b"config"), Digest::sha256_of(b"layer"));
    let img = manifest("image-1", vec![c.clone(), l.clone()], vec![], &["v1", "latest"]);
    // Refused while the repository lacks its blobs, and nothing is left behind.
    match m.put_manifest(&r, img.clone()).await {
        Err(MetaError::MissingReferences(d)) => assert_eq!(d, vec![c.clone(), l.clone()]),
        other => panic!("{other:?}"),
    }
    assert!(!m.repository_exists(&r).await.unwrap());
    m.add_blob(&r, &c, 6).await.unwrap();
    m.add_blob(&r, &l, 5).await.unwrap();
    m.put_manifest(&r, img.clone()).await.unwrap();
    m.put_manifest(&r, img.clone()).await.unwrap();
    let by_tag = m.get_manifest(&r, &Reference::Tag(t("v1"))).await.unwrap().unwrap();
    assert_eq!(by_tag.content, b"image-1");
    assert_eq!(by_tag.digest, img.digest);
    let by_digest = m.get_manifest(&r, &Reference::Digest(img.digest.clone())).await.unwrap().unwrap();
    assert_eq!(by_digest, by_tag);
    assert_eq!(m.get_manifest(&n("suite/a"), &Reference::Tag(t("v1"))).await.unwrap(), None);

    // An index needs its children in the repository.
    let idx = manifest("index-1", vec![], vec![img.digest.clone()], &["multi"]);
    m.put_manifest(&r, idx.clone()).await.unwrap();
    let orphan = manifest("index-2", vec![], vec![Digest::sha256_of(b"nope")], &[]);
    assert!(matches!(m.put_manifest(&r, orphan).await, Err(MetaError::MissingReferences(_))));

    // Moving a tag.
    let img2 = manifest("image-2", vec![c.clone()], vec![], &["latest"]);
    m.put_manifest(&r, img2.clone()).await.unwrap();
    assert_eq!(m.get_manifest(&r, &Reference::Tag(t("latest"))).await.unwrap().unwrap().digest, img2.digest);

    // Deleting a tag leaves the manifest; deleting a manifest takes its tags.
    assert!(m.delete_tag(&r, &t("v1")).await.unwrap());
    assert!(!m.delete_tag(&r, &t("v1")).await.unwrap());
    assert!(m.get_manifest(&r, &Reference::Digest(img.digest.clone())).await.unwrap().is_some());
    assert!(m.delete_manifest(&r, &img2.digest).await.unwrap());
    assert!(!m.delete_manifest(&r, &img2.digest).await.unwrap());
    assert_eq!(m.get_manifest(&r, &Reference::Tag(t("latest"))).await.unwrap(), None);
    assert_eq!(m.list_tags(&r, None, 100).await.unwrap().unwrap(), vec!["multi".to_owned()]);
}

async fn pagination(m: &dyn MetaStore) {
    let r = n("suite/p");
    let c = Digest::sha256_of(b"pc");
    m.add_blob(&r, &c, 2).await.unwrap();
    m.put_manifest(&r, manifest("p", vec![c], vec![], &["b", "a", "c", "B", "a1"])).await.unwrap();
    assert_eq!(m.list_tags(&r, None, 100).await.unwrap().unwrap(), ["B", "a", "a1", "b", "c"]);
    assert_eq!(m.list_tags(&r, None, 2).await.unwrap().unwrap(), ["B", "a"]);
    assert_eq!(m.list_tags(&r, Some("a"), 2).await.unwrap().unwrap(), ["a1", "b"]);
    assert_eq!(m.list_tags(&r, Some("c"), 2).await.unwrap().unwrap(), Vec::<String>::new());
    assert_eq!(m.list_tags(&n("suite/unknown"), None, 2).await.unwrap(), None);
    let all = m.list_repositories(None, 1000).await.unwrap();
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);
    assert!(all.contains(&"suite/p".to_owned()));
    let after = m.list_repositories(Some("suite/m"), 1).await.unwrap();
    assert_eq!(after, ["suite/p"]);
}

async fn referrers(m: &dyn MetaStore) {
    let r = n("suite/r");
    let c = Digest::sha256_of(b"rc");
    m.add_blob(&r, &c, 2).await.unwrap();
    let subject = Digest::sha256_of(b"subject");
    assert_eq!(m.referrers(&n("suite/unknown"), &subject, None).await.unwrap(), None);
    let mut sig = manifest("sig", vec![c.clone()], vec![], &[]);
    sig.subject = Some(subject.clone());
    sig.artifact_type = Some("application/x.sig".into());
    sig.annotations = Some(r#"{"k":"v"}"#.into());
    let mut sbom = manifest("sbom", vec![c.clone()], vec![], &[]);
    sbom.subject = Some(subject.clone());
    sbom.artifact_type = Some("application/x.sbom".into());
    m.put_manifest(&r, sig.clone()).await.unwrap();
    m.put_manifest(&r, sbom.clone()).await.unwrap();
    let all = m.referrers(&r, &subject, None).await.unwrap().unwrap();
    assert_eq!(all.len(), 2);
    let sigs = m.referrers(&r, &subject, Some("application/x.sig")).await.unwrap().unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].digest, sig.digest);
    assert_eq!(sigs[0].size, 3);
    assert_eq!(sigs[0].annotations.as_deref(), Some(r#"{"k":"v"}"#));
    m.delete_manifest(&r, &sig.digest).await.unwrap();
    assert_eq!(m.referrers(&r, &subject, None).await.unwrap().unwrap().len(), 1);
}

async fn uploads(m: &dyn MetaStore) {
    let r = n("suite/u");
    m.create_upload("up-1", &r).await.unwrap();
    let s = m.get_upload("up-1").await.unwrap().unwrap();
    assert_eq!(s.repository, r);
    m.touch_upload("up-1").await.unwrap();
    assert!(m.list_uploads().await.unwrap().iter().any(|(id, _)| id == "up-1"));
    m.delete_upload("up-1").await.unwrap();
    assert_eq!(m.get_upload("up-1").await.unwrap(), None);
}
