//! Image metadata on DynamoDB, against moto: the table `pier migrate` creates, the
//! conditional writes, and newest-first paging through the index.

use aws_sdk_dynamodb::types::{BillingMode, KeyType};
use pier::{
    config::{AwsSettings, Secret, Settings, StorageUrl},
    domain::ImageId,
    store::{ImageMetaStore, ImageRecord, dynamo::DynamoMeta},
};
use time::OffsetDateTime;

use crate::moto::Moto;

fn aws(moto: &Moto) -> AwsSettings {
    let mut settings = Settings::for_tests("unused.db".into(), StorageUrl::Memory);
    settings.aws.endpoint_url = Some(moto.endpoint());
    settings.aws.access_key_id = Some("testing".into());
    settings.aws.secret_access_key = Some(Secret("testing".into()));
    settings.aws
}

async fn raw_client(moto: &Moto) -> aws_sdk_dynamodb::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(moto.endpoint())
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_dynamodb::Client::new(&config)
}

fn record(n: u32) -> ImageRecord {
    ImageRecord {
        id: ImageId::generate(),
        filename: format!("f{n}.png"),
        content_type: "image/png".into(),
        size: 100 + u64::from(n),
        width: n + 1,
        height: 2,
        sha256: format!("{n:064x}"),
        location: "s3".into(),
        created_at: OffsetDateTime::now_utc(),
        placeholder: None,
    }
}

#[tokio::test]
async fn pier_migrate_creates_the_documented_table_and_is_repeatable() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_pier"))
            .arg("migrate")
            .current_dir(dir.path())
            .env("PIER_METADATA", "dynamodb://gallery-meta")
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pier migrate: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let table = raw_client(&moto)
        .await
        .describe_table()
        .table_name("gallery-meta")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(keys, [("id", &KeyType::Hash)]);
    let index = &table.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some("by_time"));
    let index_keys: Vec<(&str, &KeyType)> = index
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    assert_eq!(
        index_keys,
        [("feed", &KeyType::Hash), ("id", &KeyType::Range)]
    );
    assert_eq!(
        table.billing_mode_summary().and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
}

#[tokio::test]
async fn a_table_with_another_schema_is_refused() {
    let moto = Moto::start();
    use aws_sdk_dynamodb::types::{AttributeDefinition, KeySchemaElement, ScalarAttributeType};
    raw_client(&moto)
        .await
        .create_table()
        .table_name("other")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let error = DynamoMeta::connect("other", &aws(&moto))
        .await
        .migrate()
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not pier's schema"), "{error}");
}

#[tokio::test]
async fn writes_are_conditional_and_all_or_nothing() {
    let moto = Moto::start();
    let meta = DynamoMeta::connect("conditional", &aws(&moto)).await;
    meta.migrate().await.unwrap();
    let original = record(1);
    meta.insert_all(std::slice::from_ref(&original))
        .await
        .unwrap();
    let mut impostor = original.clone();
    impostor.filename = "overwritten.png".into();
    assert!(meta.insert_all(&[impostor.clone()]).await.is_err());
    let fresh = record(2);
    assert!(
        meta.insert_all(&[fresh.clone(), impostor]).await.is_err(),
        "a batch with one existing id fails whole"
    );
    assert_eq!(meta.get(original.id).await.unwrap(), Some(original.clone()));
    assert_eq!(
        meta.get(fresh.id).await.unwrap(),
        None,
        "nothing of the failed batch"
    );
    assert!(
        meta.set_placeholder(original.id, "1QcSHQRnh493V4dIh4eXh1h4kJUI")
            .await
            .unwrap()
    );
    assert_eq!(
        meta.get(original.id)
            .await
            .unwrap()
            .unwrap()
            .placeholder
            .as_deref(),
        Some("1QcSHQRnh493V4dIh4eXh1h4kJUI")
    );
    assert!(meta.delete(original.id).await.unwrap().existed);
    assert!(!meta.delete(original.id).await.unwrap().existed);
    assert_eq!(meta.get(original.id).await.unwrap(), None);
    // A placeholder made for an image deleted meanwhile does not bring its item back.
    assert!(!meta.set_placeholder(original.id, "late").await.unwrap());
    assert_eq!(meta.get(original.id).await.unwrap(), None);
}

#[tokio::test]
async fn listing_is_newest_first_in_exact_pages() {
    let moto = Moto::start();
    let meta = DynamoMeta::connect("paging", &aws(&moto)).await;
    meta.migrate().await.unwrap();
    let mut records: Vec<ImageRecord> = (0..25).map(record).collect();
    for chunk in records.chunks(7) {
        meta.insert_all(chunk).await.unwrap();
    }
    records.sort_unstable_by_key(|r| std::cmp::Reverse(r.id));
    let mut listed = Vec::new();
    let mut before = None;
    for _ in 0..10 {
        let page = meta.list(before, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|r| r.id);
        listed.extend(page);
    }
    assert_eq!(
        listed, records,
        "every record once, newest first, timestamps exact"
    );
}
